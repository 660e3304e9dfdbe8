// How big a sandbox VM is made, from the container's linux.resources: vCPUs from the CPU
// quota (ceil(quota / period), at least 1, at most the host's CPUs; the default without a
// quota), memory from the memory limit plus the guest's own overhead (the default without a
// limit), rounded up to whole MiB.
#pragma once

#include "sandbox/host/config.hpp"

#include <nlohmann/json_fwd.hpp>

namespace husk::sandbox {

struct VmSize {
    unsigned vcpus = 1;
    unsigned memory_mib = 256;
};

// RESOURCES is the config's linux.resources object (null or absent members allowed).
VmSize size_vm(const nlohmann::json& resources, const SandboxConfig& config, unsigned host_cpus);

} // namespace husk::sandbox
