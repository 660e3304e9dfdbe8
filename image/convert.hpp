// Image config -> runtime config: the OCI image-spec conversion rules (conversion.md) applied
// over husk's default spec. Pure: the image's /etc/passwd and /etc/group come in as text, so
// this module touches no file system and is tested on its own.
#pragma once

#include "common/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace husk::image {

// The image's /etc/passwd and /etc/group, read (safely) from the unpacked rootfs; nullopt
// when the file does not exist.
struct UserFiles {
    std::optional<std::string> passwd;
    std::optional<std::string> group;
};

struct ResolvedUser {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> additional_gids;
};

// Config.User: "", "user", "uid", "user:group", "uid:gid", "user:gid", "uid:group".
// Names are looked up in files.passwd / files.group (the first entry of a name wins); a user
// given by name and without a group also gets the gids of the groups listing it as a member.
// "" is root. Unknown names, a missing file that a name needs, and ids that are not a
// uint32 other than (uint32_t)-1 are errors naming the user string.
Result<ResolvedUser> resolve_user(std::string_view user, const UserFiles& files);

struct ConvertOptions {
    bool rootless = false;
    uint32_t host_uid = 0; // for the rootless id mappings
    uint32_t host_gid = 0;
    // The manifest descriptor's org.opencontainers.image.ref.name, if any (an annotation).
    std::string ref_name;
};

// Returns the config.json text (pretty-printed, final newline). `image_config` is the
// application/vnd.oci.image.config.v1+json document. A malformed document is an error that
// names the field ("image config: config.Cmd: must be an array of strings, got string"); so
// is, with options.rootless, an image user other than root (the rootless bundle maps only
// root).
Result<std::string> runtime_config_from_image(std::string_view image_config, const UserFiles& files,
                                              const ConvertOptions& options);

} // namespace husk::image
