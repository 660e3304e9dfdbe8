// husk's default seccomp profile: an allow-list of system calls with rules that depend on the
// container's bounding capabilities, the machine and the kernel, resolved into one OCI
// linux.seccomp object, equal in effect to containerd's default profile. This module only
// produces JSON text; it compiles and loads nothing (runtime/seccomp/seccomp.hpp does) and
// reads no host state: the caller says which capabilities, machine and kernel the profile
// is for.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace husk::seccomp {

// The linux.seccomp object (JSON text, four-space indent, final newline) for a container
// whose bounding set is `bounding_caps` ("CAP_SYS_ADMIN", ...), on a machine named as
// uname(2) names it ("x86_64", "aarch64", "i686", ...). `kernel_release` is uname's release
// ("6.1.0-18-amd64"); empty means a current kernel. The output depends only on the
// arguments, not on their order or repetitions: the same inputs give the same bytes.
//
// Unlisted system calls fail with EPERM. A machine the profile has no rules for gets the
// rules that hold everywhere, and no architectures list (so the filter covers the native
// ABI only).
std::string default_profile_json(const std::vector<std::string>& bounding_caps, std::string_view machine,
                                 std::string_view kernel_release = {});

// The bounding set container engines give a container unless told otherwise; the shipped
// seccomp-profiles/default.json is the profile resolved for it on x86_64.
std::span<const std::string_view> engine_default_caps();

} // namespace husk::seccomp
