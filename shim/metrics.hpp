// Task.Stats for the shim: husk's `events --stats` output turned into the cgroup metrics
// message containerd expects (io.containerd.cgroups.v1.Metrics or .v2.Metrics, from Debian's
// golang-github-containerd-cgroups-dev), packed as a google.protobuf.Any. Protobuf stays
// inside metrics.cpp; callers see only the Any's type URL and bytes.
//
// The stats JSON carries no cgroup version, and its fields mean different things on each
// (on v2, memory.raw holds memory.stat's v2 keys and memory.swap counts memory + swap), so
// the caller says which one the container's cgroup is: v2 when /sys/fs/cgroup is itself a
// cgroup2 mount, v1 otherwise (hybrid hosts included), the same test husk uses.
//
// What is mapped, field by field ("x" is data.x of the JSON):
//   v1 Metrics (units as printed: nanoseconds, bytes)
//     pids          <- pids.{current,limit}                  (limit 0: unlimited)
//     cpu.usage     <- cpu.usage.{total,kernel,user}, per_cpu <- cpu.usage.percpu
//     cpu.throttling<- cpu.throttling.{periods,throttledPeriods,throttledTime}
//     memory        <- memory.cache and the memory.stat keys in memory.raw (cache, rss,
//                      pgpgin -> pg_pg_in, hierarchical_memsw_limit -> hierarchical_swap_limit,
//                      total_*, ...); usage/swap/kernel/kernel_tcp <- memory.{usage,swap,
//                      kernel,kernelTCP}.{limit,usage,max,failcnt}
//     blkio         <- blkio.io*Recursive and sectorsRecursive lists (major, minor, op,
//                      value; device names are not in the JSON and stay empty)
//     hugetlb       <- hugetlb.{SIZE}.{usage,max,failcnt}, pagesize SIZE ("2MB")
//   v2 Metrics
//     pids          <- pids.{current,limit}
//     cpu           <- usage_usec/user_usec/system_usec <- cpu.usage.{total,user,kernel} / 1000,
//                      nr_periods, nr_throttled <- cpu.throttling.{periods,throttledPeriods},
//                      throttled_usec <- cpu.throttling.throttledTime / 1000
//     memory        <- the memory.stat keys in memory.raw (anon, file, ..., same names;
//                      workingset_refault/_activate, which Linux 5.9+ splits into _anon and
//                      _file, as their sum); file also <- memory.cache;
//                      usage, usage_limit <- memory.usage.{usage,limit};
//                      swap_usage <- memory.swap.usage - memory.usage.usage,
//                      swap_limit <- memory.swap.limit - memory.usage.limit (max stays max:
//                      when memory is unlimited the swap limit alone cannot be recovered)
//     io            <- blkio.ioServiceBytesRecursive (Read -> rbytes, Write -> wbytes) and
//                      blkio.ioServicedRecursive (Read -> rios, Write -> wios), one entry
//                      per device
//     hugetlb       <- hugetlb.{SIZE}.{usage -> current, max}, pagesize SIZE
// A section absent from the JSON (or null) leaves its message unset; a section present sets
// it, and on v1 memory and cpu always get all their sub-messages (usage, swap, kernel,
// kernel_tcp; usage, throttling), since containerd's readers dereference them unchecked.
// Numbers absent from a present section are left 0. Fields with no counterpart (cpuset,
// percpu_kernel/_user, memory.usage.max and failcnt on v2, hugetlb failcnt on v2, intel_rdt)
// are dropped.
#pragma once

#include "common/error.hpp"
#include "shim/ttrpc.hpp"

#include <string_view>

namespace husk::shim {

enum class CgroupMode { v1, v2 };

// The Any type URLs, as containerd names these messages (no type.googleapis.com/ prefix).
inline constexpr std::string_view metrics_v1_type_url = "io.containerd.cgroups.v1.Metrics";
inline constexpr std::string_view metrics_v2_type_url = "io.containerd.cgroups.v2.Metrics";

// husk's (and runc's) `events --stats ID` prints one JSON object {"type":"stats","id":..,"data":{...}}.
// Converts its data into containerd's cgroup metrics message and packs it as the Any that
// Task.Stats returns: type_url "io.containerd.cgroups.v1.Metrics" (cgroup v1) or
// "io.containerd.cgroups.v2.Metrics" (v2), value = the serialized message.
// Fails, naming the offending field ("data.memory.usage.limit: expected a non-negative
// integer, got string"), on text that is not JSON, on an event other than "stats", on a
// missing or non-object "data", and on a field of the wrong type.
Result<ttrpc::AnyMessage> metrics_from_stats(std::string_view events_json, CgroupMode mode);

} // namespace husk::shim
