// How big a sandbox VM is made, from the container's linux.resources: vCPUs from the CPU
// quota (ceil(quota / period), at least 1, at most the host's CPUs; the default without a
// quota), memory from the memory limit plus the guest's own overhead (the default without a
// limit), rounded up to whole MiB. A pod's VM is sized for the whole pod where CRI says what
// its containers' limits add up to.
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

// A pod's resources as CRI annotates its sandbox container (io.kubernetes.cri.sandbox-memory,
// -cpu-quota and -cpu-period: the sums of its containers' limits, decimal strings), as a
// linux.resources object for size_vm; what is absent or not a positive number is left out.
nlohmann::json pod_resources(const nlohmann::json& annotations);

// The larger of A and B in each dimension.
VmSize larger(VmSize a, VmSize b);

} // namespace husk::sandbox
