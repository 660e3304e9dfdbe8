// Device access rules on cgroup v2: the kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE program
// about every mknod and open of a device node. This file holds the pure half of that: the
// meaning of a rule list (allowed()) and the program that implements it (device_program()),
// both unit-tested without a kernel. Loading and attaching live in bpf_devices.cpp.
//
// Meaning, the same as the v1 devices controller given "deny a" followed by the rules: each
// access bit (mknod, read, write) of a request is decided by the last rule that matches the
// device and names that bit; a bit no rule names is denied; a request is allowed only when
// every bit it asks for is.
#pragma once

#include "cgroups/resources.hpp"
#include "common/error.hpp"

#include <cstdint>
#include <linux/bpf.h>
#include <string>
#include <vector>

namespace husk::cgroups {

// The kernel's encoding (struct bpf_cgroup_dev_ctx): access_type = type | access << 16.
enum DevType : uint32_t { DevBlock = BPF_DEVCG_DEV_BLOCK, DevChar = BPF_DEVCG_DEV_CHAR };
enum DevAccess : uint32_t { AccMknod = BPF_DEVCG_ACC_MKNOD, AccRead = BPF_DEVCG_ACC_READ, AccWrite = BPF_DEVCG_ACC_WRITE };

// Whether `rules` let a process do `access` (DevAccess bits) on device type:major:minor.
bool allowed(const std::vector<DeviceRule>& rules, DevType type, uint32_t major, uint32_t minor, uint32_t access);

// The program deciding as allowed() does: returns 1 (allow) or 0 (deny) for the
// bpf_cgroup_dev_ctx in r1. Fails on rules no program can express (a bad type, access
// letter or a number beyond 32 bits).
Result<std::vector<bpf_insn>> device_program(const std::vector<DeviceRule>& rules);

// Loads device_program(rules) and attaches it to the v2 cgroup directory `dir`, replacing
// the program attached before (atomically when there is exactly one, as after create).
// (bpf_devices.cpp, with libbpf.)
Result<> attach_device_program(const std::string& dir, const std::vector<DeviceRule>& rules);

} // namespace husk::cgroups
