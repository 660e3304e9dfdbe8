// cgroups::Stats: what a container's cgroup has used, read from the cgroup files of either
// version into one shape (the one `husk events` prints, as runc does, and the shim turns
// into containerd's metrics). The parsers for the kernel's file formats are pure functions,
// unit-tested; Manager::stats() does the reading.
#pragma once

#include "common/error.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace husk::cgroups {

struct MemoryEntry {
    uint64_t limit = 0;
    uint64_t usage = 0;
    uint64_t max = 0;
    uint64_t failcnt = 0;
};

struct BlkioEntry {
    uint64_t major = 0;
    uint64_t minor = 0;
    std::string op; // "Read", "Write", "Sync", "Async", "Discard", "Total", "" for v1 sectors/time
    uint64_t value = 0;
};

struct HugetlbEntry {
    uint64_t usage = 0;
    uint64_t max = 0;
    uint64_t failcnt = 0;
};

struct Stats {
    int version = 1; // 1: v1 files; 2: v2 files
    struct {
        uint64_t total = 0;  // nanoseconds
        uint64_t kernel = 0; // nanoseconds
        uint64_t user = 0;   // nanoseconds
        std::vector<uint64_t> percpu, percpu_kernel, percpu_user; // v1 only
        uint64_t periods = 0, throttled_periods = 0, throttled_time = 0; // time in ns
    } cpu;
    struct {
        std::vector<uint64_t> cpus, mems;
    } cpuset;
    struct {
        uint64_t cache = 0;
        MemoryEntry usage, swap, kernel, kernel_tcp; // swap: memory + swap, as v1 counts it
        bool has_swap = false, has_kernel = false;
        std::map<std::string, uint64_t> raw;    // memory.stat
        std::map<std::string, uint64_t> events; // v2 memory.events
    } memory;
    struct {
        uint64_t current = 0;
        uint64_t limit = 0; // 0: unlimited
    } pids;
    struct {
        std::vector<BlkioEntry> service_bytes, serviced, queued, service_time, wait_time, merged, time, sectors;
    } blkio;
    std::map<std::string, HugetlbEntry> hugetlb; // page size ("2MB") -> usage
    // The OOM kills so far (v2 memory.events oom_kill; v1 memory.oom_control oom_kill).
    uint64_t oom_kills = 0;
};

// "key value" lines (memory.stat, cpu.stat, memory.events): the numeric ones.
std::map<std::string, uint64_t> parse_flat_keyed(std::string_view text);
// A number or "max" (UINT64_MAX); nullopt for anything else.
std::optional<uint64_t> parse_value(std::string_view text);
// Whitespace-separated numbers (cpuacct.usage_percpu).
std::vector<uint64_t> parse_numbers(std::string_view text);
// A cpu or node list, "0-3,5" -> {0,1,2,3,5}.
std::vector<uint64_t> parse_cpu_list(std::string_view text);
// v1 blkio files: "8:0 Read 4096" lines ("8:0 4096" for sectors and time); "Total N" skipped.
std::vector<BlkioEntry> parse_blkio_v1(std::string_view text);
// v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" lines -> service bytes
// (Read/Write) and serviced (Read/Write) entries, as runc reports them.
void parse_io_stat(std::string_view text, std::vector<BlkioEntry>& bytes, std::vector<BlkioEntry>& ios);

// The hugetlb page sizes this kernel has, as cgroup files name them ("2MB", "1GB").
std::vector<std::string> hugepage_sizes();

// Reads the stats of a v2 cgroup directory. Files a kernel lacks are left at zero.
Stats read_stats_v2(const std::string& dir);
// Reads the stats of a v1 cgroup from the directory of each controller ("memory" ->
// "/sys/fs/cgroup/memory/c1"); controllers not mounted are absent from the map.
Stats read_stats_v1(const std::map<std::string, std::string>& dirs);

} // namespace husk::cgroups
