// Applying one layer (a tar stream, compressed or not) onto a root directory.
//
// Every name is taken apart and checked before anything is written: absolute names and ".."
// components are refused outright. The parent of each entry is opened from the root fd with
// openat2, never by a path string: RESOLVE_BENEATH first, and for a symlink that leaves
// (absolute, or "../.." past the root) RESOLVE_IN_ROOT, as the container will see it, which
// must find a directory the image already has. So Debian's var/run -> /run leads to the
// image's /run, while a layer that plants "link -> /etc/cron.d" (absent from the image) and
// writes "link/job" is refused, and nothing can ever reach the host. The last component is
// always created with *at() calls that do not follow it (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW),
// and a hard link's target is resolved the same way. The caller owns cleanup: on error the root holds
// whatever was written so far and must be removed.
//
// Whiteouts: in Apply mode ".wh.NAME" removes NAME and ".wh..wh..opq" empties its directory
// of what earlier layers put there. In Overlay mode (a layer unpacked on its own for an
// overlay lowerdir) they become overlayfs's own markers: a 0/0 character device and the
// trusted.overlay.opaque xattr.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace husk::image {

enum class WhiteoutMode { Apply, Overlay };
enum class Ownership { Keep, Ignore }; // Ignore: rootless, files stay the caller's

struct ApplyOptions {
    WhiteoutMode whiteouts = WhiteoutMode::Apply;
    Ownership ownership = Ownership::Keep;
};

struct ApplyStats {
    uint64_t entries = 0;
    uint64_t bytes = 0;
    std::vector<std::string> warnings; // what was skipped (devices when rootless, xattrs refused)
};

// A layer entry's name as the unpacker uses it: "./a//b/" -> "a/b", "./" -> "" (the root).
// Absolute names and ".." components are errors.
Result<std::string> clean_entry_name(std::string_view name);

// Reads the layer tar from `layer` (gzip and zstd detected from the stream) and applies it
// under `root`. `label` names the layer in errors.
Result<ApplyStats> apply_layer(BorrowedFd root, BorrowedFd layer, const std::string& label, const ApplyOptions& options);

} // namespace husk::image
