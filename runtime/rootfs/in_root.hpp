// Resolving paths inside the container root without ever leaving it: every lookup is an
// openat2(RESOLVE_IN_ROOT) from an fd of the root, so a symlink in the rootfs (absolute or
// "../..") resolves as it would inside the container, never onto the host. Mounts then
// target the resolved fd through /proc/self/fd/N, closing the CVE-2021-30465 race class.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <string>

namespace husk::rootfs {

enum class Create { No, Directory, File };

// Opens `path` (absolute, as the container sees it) inside `root` as an O_PATH fd.
// With Create::Directory/File, missing components are made as directories (0755) and the
// last one as the kind asked for.
Result<Fd> open_in_root(BorrowedFd root, const std::string& path, Create create);

// "/proc/self/fd/N" for an fd, for mount(2) and friends.
std::string fd_path(BorrowedFd fd);

} // namespace husk::rootfs
