// /dev inside the container: the default device nodes every container gets (null, zero,
// full, random, urandom, tty), the spec's linux.devices, and the standard symlinks
// (fd, stdin/stdout/stderr, ptmx, core). Nodes are made with mknod, or, where that is not
// allowed (a user namespace), bind-mounted from the host's node.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/spec/config.hpp"

#include <vector>

namespace husk::rootfs {

struct DevicePlan {
    const std::vector<spec::Device>& devices;
    bool bind_instead_of_mknod;
    bool dev_is_own_mount; // /dev is a fresh mount (tmpfs): the symlinks go in too
};

Result<> create_devices(BorrowedFd root, const DevicePlan& plan);

// The devices every container gets, as spec devices.
const std::vector<spec::Device>& default_devices();

} // namespace husk::rootfs
