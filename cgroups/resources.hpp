// cgroups::Limits (a container's resource limits, mirroring linux.resources of the
// runtime-spec minus device rules) and their conversion into cgroup files: which file to
// write, with what, in which order, for v1 and for v2. Pure: nothing here touches the file
// system (FsManager::apply does the writing and enables v2 controllers), so every
// conversion is unit-tested. It knows nothing of config.json; the runtime fills Limits.
#pragma once

#include "common/error.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace husk::cgroups {

struct WeightDevice {
    int64_t major = 0;
    int64_t minor = 0;
    std::optional<uint16_t> weight;
    std::optional<uint16_t> leaf_weight;
};

struct ThrottleDevice {
    int64_t major = 0;
    int64_t minor = 0;
    uint64_t rate = 0; // bytes or operations per second
};

struct HugepageLimit {
    std::string page_size; // as the kernel names it: "2MB", "1GB", "64KB"
    uint64_t limit = 0;    // bytes
};

struct InterfacePriority {
    std::string name; // network interface
    uint32_t priority = 0;
};

struct RdmaLimit {
    std::optional<uint32_t> hca_handles;
    std::optional<uint32_t> hca_objects;
};

// Every field is optional: an unset one is left as the kernel (or an earlier apply) has it,
// which is also what an update relies on. Zero means "unset" where runc treats it so
// (memory limit, swap and reservation; cpu shares, quota, period and realtime values;
// blkio weights; the pids limit).
struct MemoryLimits {
    std::optional<int64_t> limit;       // bytes; -1: unlimited
    std::optional<int64_t> reservation; // bytes; -1: none
    std::optional<int64_t> swap;        // memory + swap, as v1 counts it; -1: unlimited
    std::optional<int64_t> kernel;      // deprecated: never written
    std::optional<int64_t> kernel_tcp;  // likewise
    std::optional<uint64_t> swappiness; // 0-100; UINT64_MAX (runc's -1): unset
    bool disable_oom_killer = false;
    std::optional<bool> use_hierarchy;
    bool check_before_update = false; // refuse a limit below the current usage
};

struct CpuLimits {
    std::optional<uint64_t> shares;
    std::optional<int64_t> quota; // microseconds per period; -1: unlimited
    std::optional<uint64_t> burst;
    std::optional<uint64_t> period; // microseconds
    std::optional<int64_t> realtime_runtime;
    std::optional<uint64_t> realtime_period;
    std::string cpus; // "" : unset
    std::string mems;
    std::optional<int64_t> idle;
};

struct BlockIoLimits {
    std::optional<uint16_t> weight;
    std::optional<uint16_t> leaf_weight;
    std::vector<WeightDevice> weight_device;
    std::vector<ThrottleDevice> throttle_read_bps;
    std::vector<ThrottleDevice> throttle_write_bps;
    std::vector<ThrottleDevice> throttle_read_iops;
    std::vector<ThrottleDevice> throttle_write_iops;
};

// One device access rule, as the devices controller takes them: in order, later rules
// override earlier ones for the devices they match.
struct DeviceRule {
    bool allow = false;
    char type = 'a';        // 'a', 'c', 'b'
    int64_t major = -1;     // -1: any
    int64_t minor = -1;     // -1: any
    std::string access = "rwm";
};

// "c 1:3 rwm", "a *:* rwm": the v1 devices.allow/deny line for a rule.
std::string device_rule_line(const DeviceRule& rule);

struct Limits {
    MemoryLimits memory;
    CpuLimits cpu;
    std::optional<int64_t> pids_limit; // <0: unlimited; 0: unset
    BlockIoLimits block_io;
    std::vector<HugepageLimit> hugepages;
    std::optional<uint32_t> net_class_id;
    std::vector<InterfacePriority> net_priorities;
    std::map<std::string, RdmaLimit> rdma; // device name -> limits
    std::map<std::string, std::string> unified; // v2 file -> value, written as given
};

// One write into the container's cgroup directory.
struct Write {
    // The controller owning the file: on v1 the hierarchy to write in ("memory", "cpu",
    // "net_cls", ...); on v2 the controller to enable in the ancestors' subtree_control
    // ("" for the core cgroup.* files).
    std::string controller;
    std::string file;
    std::string value;
    // The file may be absent (no swap accounting) and the value asks for nothing then.
    bool skip_if_missing = false;
    // The kernel may refuse this with EINVAL until later writes of the same plan are in
    // (memsw before limit when lowering, cfs period before quota): retry it after them.
    bool retry_after_rest = false;
    // The kernel clamps the value silently (cpu.shares): read it back and compare.
    bool verify = false;
};

struct WritePlan {
    std::vector<Write> writes;
    // Settings this cgroup version cannot honour and that are skipped as runc skips them,
    // named by their spec field; the manager logs them at debug level.
    std::vector<std::string> ignored;
};

// What the host offers that changes the file names; FsManager probes it.
struct HostFacts {
    // BFQ's blkio.bfq.weight (v1) / io.bfq.weight (v2) rather than CFQ's blkio.weight or
    // the io controller's io.weight.
    bool bfq_weight = false;
};

// The writes for a legacy (v1) host, in the order they must happen. Fails for settings v1
// cannot take (the unified map) and for values no kernel takes.
Result<WritePlan> v1_writes(const Limits& limits, const HostFacts& facts = {});

// The writes for a unified (v2) host, in order. Fails for settings v2 has no file for
// (realtime scheduling, net_cls/net_prio) and for inconsistent memory/swap values.
Result<WritePlan> v2_writes(const Limits& limits, const HostFacts& facts = {});

// v1 cpu.shares (2-262144) -> v2 cpu.weight (1-10000), the mapping crun and runc use.
uint64_t shares_to_weight(uint64_t shares);
// v1 blkio weight (10-1000) -> v2 io.weight (1-10000), runc's mapping.
uint64_t blkio_weight_to_io_weight(uint64_t weight);
// v1 memory.memsw (memory + swap) -> v2 memory.swap.max (swap alone), or an error for
// combinations v1 would refuse too. -1 is "max"; 0 is "unset".
Result<int64_t> swap_to_v2(int64_t swap, int64_t limit);
// The v2 controller a file belongs to: "memory.max" -> "memory"; "" for cgroup.* files.
std::string v2_controller_of(std::string_view file);

} // namespace husk::cgroups
