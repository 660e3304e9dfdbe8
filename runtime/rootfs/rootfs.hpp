// Building the container's file system view, run by the container init inside its new
// mount namespace: root propagation, the spec's mounts (each target resolved inside the
// root), /dev and its devices, pivot_root (or chroot with --no-pivot), sysctls, masked and
// read-only paths, a read-only root. It touches nothing outside the new mount namespace.
#pragma once

#include "cgroups/manager.hpp"
#include "common/error.hpp"
#include "runtime/spec/config.hpp"

#include <functional>
#include <vector>

namespace husk::rootfs {

enum class Pivot { PivotRoot, Chroot };

struct Plan {
    const spec::Config* config = nullptr;
    Pivot pivot = Pivot::PivotRoot;
    bool in_user_ns = false;    // mknod is not allowed: devices are bind-mounted from the host
    bool new_cgroup_ns = false; // cgroup mounts may mount the hierarchy itself
    cgroups::Mode cgroup_mode = cgroups::Mode::Legacy;
    std::vector<cgroups::Hierarchy> cgroups; // the container's cgroup in each hierarchy
};

// Everything up to and including pivot_root; afterwards "/" is the container root.
// `before_pivot` runs once the mounts are made, while the host's paths are still visible
// (the createRuntime/createContainer hook point).
Result<> setup(const Plan& plan, const std::function<Result<>()>& before_pivot);
// The steps that run on the final tree: sysctls, masked/read-only paths, read-only root.
Result<> finalize(const Plan& plan);

} // namespace husk::rootfs
