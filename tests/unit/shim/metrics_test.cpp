#include "shim/metrics.hpp"

#include "github.com/containerd/cgroups/stats/v1/metrics.pb.h"
#include "github.com/containerd/cgroups/v2/stats/metrics.pb.h"

#include <cstdint>
#include <doctest.h>
#include <string>

using namespace husk;
using namespace husk::shim;
namespace pb1 = ::io::containerd::cgroups::v1;
namespace pb2 = ::io::containerd::cgroups::v2;

namespace {

// `husk events --stats` of a busybox container on a host with cgroup v1 controllers (hybrid
// layout), limited to 256 MiB, 64 pids and half a cpu, after it wrote 8 MiB with fsync and read
// them back with O_DIRECT. Captured as printed, one line.
constexpr std::string_view v1_fixture =
    R"({"type":"stats","id":"metrics-fixture-c2","data":{"cpu":{"usage":{"total":11052589,"percpu":[0,11052589],)"
    R"("percpu_kernel":[0,7896959],"percpu_user":[0,0],"kernel":10000000,"user":0},"throttling":{"periods":3}},)"
    R"("cpuset":{"cpus":[0,1],"mems":[0]},"memory":{"cache":8388608,"usage":{"limit":268435456,"usage":8790016,)"
    R"("max":10186752,"failcnt":0},"swap":{"limit":9223372036854771712,"usage":8790016,"max":10186752,"failcnt":0},)"
    R"("kernel":{"limit":9223372036854771712,"usage":344064,"max":471040,"failcnt":0},)"
    R"("kernelTCP":{"limit":9223372036854771712,"failcnt":0},"raw":{"active_anon":4096,"active_file":0,)"
    R"("cache":8388608,"dirty":0,"hierarchical_memory_limit":268435456,)"
    R"("hierarchical_memsw_limit":9223372036854771712,"inactive_anon":53248,"inactive_file":8388608,)"
    R"("mapped_file":0,"pgfault":694,"pgmajfault":0,"pgpgin":584,"pgpgout":562,"rss":57344,"rss_huge":0,)"
    R"("shmem":0,"swap":0,"swapcached":0,"total_active_anon":4096,"total_active_file":0,)"
    R"("total_cache":8388608,"total_dirty":0,"total_inactive_anon":53248,"total_inactive_file":8388608,)"
    R"("total_mapped_file":0,"total_pgfault":694,"total_pgmajfault":0,"total_pgpgin":584,)"
    R"("total_pgpgout":562,"total_rss":57344,"total_rss_huge":0,"total_shmem":0,"total_swap":0,)"
    R"("total_swapcached":0,"total_unevictable":0,"total_workingset_refault_anon":0,)"
    R"("total_workingset_refault_file":0,"total_writeback":0,"unevictable":0,"workingset_refault_anon":0,)"
    R"("workingset_refault_file":0,"writeback":0}},"pids":{"current":1,"limit":64},)"
    R"("blkio":{"ioServiceBytesRecursive":[{"major":254,"op":"Read","value":8388608},)"
    R"({"major":254,"op":"Write","value":8409088},{"major":254,"op":"Sync","value":16797696},)"
    R"({"major":254,"op":"Async"},{"major":254,"op":"Discard"},{"major":254,"op":"Total","value":16797696}],)"
    R"("ioServicedRecursive":[{"major":254,"op":"Read","value":16},{"major":254,"op":"Write","value":8},)"
    R"({"major":254,"op":"Sync","value":24},{"major":254,"op":"Async"},{"major":254,"op":"Discard"},)"
    R"({"major":254,"op":"Total","value":24}]},"hugetlb":{},"intel_rdt":{},"network_interfaces":null}})"
    "\n";

// What `events --stats` prints for a cgroup v2 container, written out from how husk reads v2
// files: cpu.stat's microseconds times 1000; memory.cache = memory.stat file; usage.max =
// memory.peak; swap = memory.swap.current + memory.current (limits likewise, max if either is);
// io.stat as Read/Write bytes and ios (a zero minor or value is left out); hugetlb max = the
// limit. Values: cpu.stat usage_usec 123456, user_usec 100000, system_usec 23456, nr_periods
// 50, nr_throttled 7, throttled_usec 8900; memory.current 10 MiB, memory.max 256 MiB,
// memory.swap.current 4096, memory.swap.max 512 MiB; pids.current 3, pids.max 100.
constexpr std::string_view v2_fixture = R"({"type":"stats","id":"c2","data":{
  "cpu":{"usage":{"total":123456000,"kernel":23456000,"user":100000000},
         "throttling":{"periods":50,"throttledPeriods":7,"throttledTime":8900000}},
  "cpuset":{"cpus":[0,1],"mems":[0]},
  "memory":{"cache":4194304,
            "usage":{"limit":268435456,"usage":10485760,"max":12582912,"failcnt":3},
            "swap":{"limit":805306368,"usage":10489856,"failcnt":1},
            "kernel":{"limit":0,"failcnt":0},
            "kernelTCP":{"limit":0,"failcnt":0},
            "raw":{"active_anon":2000,"active_file":4000,"anon":6291456,"anon_thp":2097152,"file":4194304,
                   "file_dirty":4096,"file_mapped":1048576,"file_writeback":0,"inactive_anon":1000,
                   "inactive_file":3000,"kernel_stack":65536,"percpu":1024,"pgactivate":11,"pgdeactivate":12,
                   "pgfault":5000,"pglazyfree":13,"pglazyfreed":14,"pgmajfault":15,"pgrefill":16,"pgscan":17,
                   "pgsteal":18,"shmem":8192,"slab":131072,"slab_reclaimable":65536,"slab_unreclaimable":65536,
                   "sock":512,"thp_collapse_alloc":19,"thp_fault_alloc":20,"unevictable":21,
                   "workingset_activate_anon":22,"workingset_activate_file":23,"workingset_nodereclaim":24,
                   "workingset_refault_anon":25,"workingset_refault_file":26,"zswap":0}},
  "pids":{"current":3,"limit":100},
  "blkio":{"ioServiceBytesRecursive":[{"major":8,"op":"Read","value":1048576},{"major":8,"op":"Write","value":4096},
                                      {"major":253,"minor":1,"op":"Read","value":512},{"major":253,"minor":1,"op":"Write"}],
           "ioServicedRecursive":[{"major":8,"op":"Read","value":64},{"major":8,"op":"Write","value":1},
                                  {"major":253,"minor":1,"op":"Read","value":2},{"major":253,"minor":1,"op":"Write"}]},
  "hugetlb":{"1GB":{"failcnt":0},"2MB":{"usage":2097152,"max":18446744073709551615,"failcnt":4}},
  "intel_rdt":{},
  "network_interfaces":null}})";

pb1::Metrics decode_v1(const ttrpc::AnyMessage& any)
{
    CHECK(any.type_url == "io.containerd.cgroups.v1.Metrics");
    pb1::Metrics m;
    REQUIRE(m.ParseFromString(any.value));
    return m;
}

pb2::Metrics decode_v2(const ttrpc::AnyMessage& any)
{
    CHECK(any.type_url == "io.containerd.cgroups.v2.Metrics");
    pb2::Metrics m;
    REQUIRE(m.ParseFromString(any.value));
    return m;
}

pb1::Metrics v1_of(std::string_view json)
{
    auto any = metrics_from_stats(json, CgroupMode::v1);
    REQUIRE_MESSAGE(any.has_value(), any.error().message());
    return decode_v1(*any);
}

pb2::Metrics v2_of(std::string_view json)
{
    auto any = metrics_from_stats(json, CgroupMode::v2);
    REQUIRE_MESSAGE(any.has_value(), any.error().message());
    return decode_v2(*any);
}

// The error for `json`, which must fail in both modes with the same text apart from the prefix.
std::string error_of(std::string_view json)
{
    auto r1 = metrics_from_stats(json, CgroupMode::v1);
    auto r2 = metrics_from_stats(json, CgroupMode::v2);
    REQUIRE_FALSE(r1.has_value());
    REQUIRE_FALSE(r2.has_value());
    CHECK(r1.error().code() == 0);
    std::string m1 = r1.error().message();
    std::string m2 = r2.error().message();
    CHECK(m1.starts_with("stats to cgroup v1 metrics: "));
    CHECK(m2.starts_with("stats to cgroup v2 metrics: "));
    CHECK(m1.substr(m1.find(": ")) == m2.substr(m2.find(": ")));
    return m1;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

} // namespace

TEST_SUITE("shim metrics") {

TEST_CASE("v1: a real `events --stats` document maps field by field")
{
    pb1::Metrics m = v1_of(v1_fixture);

    REQUIRE(m.has_pids());
    CHECK(m.pids().current() == 1);
    CHECK(m.pids().limit() == 64);

    REQUIRE(m.has_cpu());
    REQUIRE(m.cpu().has_usage());
    CHECK(m.cpu().usage().total() == 11052589);
    CHECK(m.cpu().usage().kernel() == 10000000);
    CHECK(m.cpu().usage().user() == 0);
    REQUIRE(m.cpu().usage().per_cpu_size() == 2);
    CHECK(m.cpu().usage().per_cpu(0) == 0);
    CHECK(m.cpu().usage().per_cpu(1) == 11052589);
    REQUIRE(m.cpu().has_throttling());
    CHECK(m.cpu().throttling().periods() == 3);
    CHECK(m.cpu().throttling().throttled_periods() == 0);
    CHECK(m.cpu().throttling().throttled_time() == 0);

    REQUIRE(m.has_memory());
    const auto& mem = m.memory();
    CHECK(mem.cache() == 8388608);
    CHECK(mem.rss() == 57344);
    CHECK(mem.rss_huge() == 0);
    CHECK(mem.pg_pg_in() == 584);
    CHECK(mem.pg_pg_out() == 562);
    CHECK(mem.pg_fault() == 694);
    CHECK(mem.inactive_anon() == 53248);
    CHECK(mem.active_anon() == 4096);
    CHECK(mem.inactive_file() == 8388608);
    CHECK(mem.hierarchical_memory_limit() == 268435456);
    CHECK(mem.hierarchical_swap_limit() == 9223372036854771712ULL);
    CHECK(mem.total_cache() == 8388608);
    CHECK(mem.total_rss() == 57344);
    CHECK(mem.total_pg_fault() == 694);
    CHECK(mem.total_pg_pg_in() == 584);
    CHECK(mem.total_pg_pg_out() == 562);
    CHECK(mem.total_inactive_anon() == 53248);
    CHECK(mem.total_active_anon() == 4096);
    CHECK(mem.total_inactive_file() == 8388608);
    REQUIRE(mem.has_usage());
    CHECK(mem.usage().limit() == 268435456);
    CHECK(mem.usage().usage() == 8790016);
    CHECK(mem.usage().max() == 10186752);
    CHECK(mem.usage().failcnt() == 0);
    REQUIRE(mem.has_swap());
    CHECK(mem.swap().limit() == 9223372036854771712ULL);
    CHECK(mem.swap().usage() == 8790016);
    CHECK(mem.swap().max() == 10186752);
    REQUIRE(mem.has_kernel());
    CHECK(mem.kernel().usage() == 344064);
    CHECK(mem.kernel().max() == 471040);
    REQUIRE(mem.has_kernel_tcp());
    CHECK(mem.kernel_tcp().limit() == 9223372036854771712ULL);
    CHECK(mem.kernel_tcp().usage() == 0);

    REQUIRE(m.has_blkio());
    const auto& b = m.blkio();
    REQUIRE(b.io_service_bytes_recursive_size() == 6);
    CHECK(b.io_service_bytes_recursive(0).major() == 254);
    CHECK(b.io_service_bytes_recursive(0).minor() == 0);
    CHECK(b.io_service_bytes_recursive(0).op() == "Read");
    CHECK(b.io_service_bytes_recursive(0).value() == 8388608);
    CHECK(b.io_service_bytes_recursive(0).device().empty());
    CHECK(b.io_service_bytes_recursive(1).op() == "Write");
    CHECK(b.io_service_bytes_recursive(1).value() == 8409088);
    CHECK(b.io_service_bytes_recursive(3).op() == "Async");
    CHECK(b.io_service_bytes_recursive(3).value() == 0);
    CHECK(b.io_service_bytes_recursive(5).op() == "Total");
    CHECK(b.io_service_bytes_recursive(5).value() == 16797696);
    REQUIRE(b.io_serviced_recursive_size() == 6);
    CHECK(b.io_serviced_recursive(0).value() == 16);
    CHECK(b.io_serviced_recursive(1).value() == 8);
    CHECK(b.io_queued_recursive_size() == 0);
    CHECK(b.sectors_recursive_size() == 0);

    CHECK(m.hugetlb_size() == 0);
    // Nothing in the JSON for these.
    CHECK_FALSE(m.has_rdma());
    CHECK(m.network_size() == 0);
    CHECK_FALSE(m.has_cgroup_stats());
    CHECK_FALSE(m.has_memory_oom_control());
}

TEST_CASE("v1: every blkio list, hugetlb per page size")
{
    pb1::Metrics m = v1_of(R"({"type":"stats","data":{"blkio":{
        "ioServiceBytesRecursive":[{"major":8,"minor":16,"op":"Read","value":1}],
        "ioServicedRecursive":[{"major":8,"minor":16,"op":"Read","value":2}],
        "ioQueueRecursive":[{"major":8,"minor":16,"op":"Read","value":3}],
        "ioServiceTimeRecursive":[{"major":8,"minor":16,"op":"Read","value":4}],
        "ioWaitTimeRecursive":[{"major":8,"minor":16,"op":"Read","value":5}],
        "ioMergedRecursive":[{"major":8,"minor":16,"op":"Read","value":6}],
        "ioTimeRecursive":[{"major":8,"minor":16,"value":7}],
        "sectorsRecursive":[{"major":8,"minor":16,"value":8}]},
      "hugetlb":{"1GB":{"failcnt":0},"2MB":{"usage":4194304,"max":6291456,"failcnt":2}}}})");
    const auto& b = m.blkio();
    REQUIRE(b.io_service_bytes_recursive_size() == 1);
    REQUIRE(b.io_serviced_recursive_size() == 1);
    REQUIRE(b.io_queued_recursive_size() == 1);
    REQUIRE(b.io_service_time_recursive_size() == 1);
    REQUIRE(b.io_wait_time_recursive_size() == 1);
    REQUIRE(b.io_merged_recursive_size() == 1);
    REQUIRE(b.io_time_recursive_size() == 1);
    REQUIRE(b.sectors_recursive_size() == 1);
    CHECK(b.io_service_bytes_recursive(0).minor() == 16);
    CHECK(b.io_service_bytes_recursive(0).value() == 1);
    CHECK(b.io_serviced_recursive(0).value() == 2);
    CHECK(b.io_queued_recursive(0).value() == 3);
    CHECK(b.io_service_time_recursive(0).value() == 4);
    CHECK(b.io_wait_time_recursive(0).value() == 5);
    CHECK(b.io_merged_recursive(0).value() == 6);
    CHECK(b.io_time_recursive(0).value() == 7);
    CHECK(b.io_time_recursive(0).op().empty());
    CHECK(b.sectors_recursive(0).value() == 8);

    REQUIRE(m.hugetlb_size() == 2);
    CHECK(m.hugetlb(0).pagesize() == "1GB");
    CHECK(m.hugetlb(0).usage() == 0);
    CHECK(m.hugetlb(1).pagesize() == "2MB");
    CHECK(m.hugetlb(1).usage() == 4194304);
    CHECK(m.hugetlb(1).max() == 6291456);
    CHECK(m.hugetlb(1).failcnt() == 2);

    CHECK_FALSE(m.has_cpu());
    CHECK_FALSE(m.has_memory());
    CHECK_FALSE(m.has_pids());
}

TEST_CASE("v1: a present cpu or memory section gets all its sub-messages")
{
    pb1::Metrics m = v1_of(R"({"type":"stats","data":{"cpu":{},"memory":{"usage":{"usage":5}}}})");
    REQUIRE(m.has_cpu());
    CHECK(m.cpu().has_usage());
    CHECK(m.cpu().has_throttling());
    REQUIRE(m.has_memory());
    CHECK(m.memory().usage().usage() == 5);
    CHECK(m.memory().has_swap());
    CHECK(m.memory().has_kernel());
    CHECK(m.memory().has_kernel_tcp());
}

TEST_CASE("v2: a document as husk prints it on cgroup v2 maps field by field")
{
    pb2::Metrics m = v2_of(v2_fixture);

    REQUIRE(m.has_pids());
    CHECK(m.pids().current() == 3);
    CHECK(m.pids().limit() == 100);

    REQUIRE(m.has_cpu());
    CHECK(m.cpu().usage_usec() == 123456);
    CHECK(m.cpu().user_usec() == 100000);
    CHECK(m.cpu().system_usec() == 23456);
    CHECK(m.cpu().nr_periods() == 50);
    CHECK(m.cpu().nr_throttled() == 7);
    CHECK(m.cpu().throttled_usec() == 8900);

    REQUIRE(m.has_memory());
    const auto& mem = m.memory();
    CHECK(mem.anon() == 6291456);
    CHECK(mem.file() == 4194304);
    CHECK(mem.kernel_stack() == 65536);
    CHECK(mem.slab() == 131072);
    CHECK(mem.sock() == 512);
    CHECK(mem.shmem() == 8192);
    CHECK(mem.file_mapped() == 1048576);
    CHECK(mem.file_dirty() == 4096);
    CHECK(mem.file_writeback() == 0);
    CHECK(mem.anon_thp() == 2097152);
    CHECK(mem.inactive_anon() == 1000);
    CHECK(mem.active_anon() == 2000);
    CHECK(mem.inactive_file() == 3000);
    CHECK(mem.active_file() == 4000);
    CHECK(mem.unevictable() == 21);
    CHECK(mem.slab_reclaimable() == 65536);
    CHECK(mem.slab_unreclaimable() == 65536);
    CHECK(mem.pgfault() == 5000);
    CHECK(mem.pgmajfault() == 15);
    CHECK(mem.workingset_refault() == 25 + 26);
    CHECK(mem.workingset_activate() == 22 + 23);
    CHECK(mem.workingset_nodereclaim() == 24);
    CHECK(mem.pgrefill() == 16);
    CHECK(mem.pgscan() == 17);
    CHECK(mem.pgsteal() == 18);
    CHECK(mem.pgactivate() == 11);
    CHECK(mem.pgdeactivate() == 12);
    CHECK(mem.pglazyfree() == 13);
    CHECK(mem.pglazyfreed() == 14);
    CHECK(mem.thp_fault_alloc() == 20);
    CHECK(mem.thp_collapse_alloc() == 19);
    CHECK(mem.usage() == 10485760);
    CHECK(mem.usage_limit() == 268435456);
    CHECK(mem.swap_usage() == 4096);
    CHECK(mem.swap_limit() == 536870912);
    // memory.events is not in the JSON: left unset rather than reported as zeros.
    CHECK_FALSE(m.has_memory_events());

    REQUIRE(m.has_io());
    REQUIRE(m.io().usage_size() == 2);
    const auto& sda = m.io().usage(0);
    CHECK(sda.major() == 8);
    CHECK(sda.minor() == 0);
    CHECK(sda.rbytes() == 1048576);
    CHECK(sda.wbytes() == 4096);
    CHECK(sda.rios() == 64);
    CHECK(sda.wios() == 1);
    const auto& dm = m.io().usage(1);
    CHECK(dm.major() == 253);
    CHECK(dm.minor() == 1);
    CHECK(dm.rbytes() == 512);
    CHECK(dm.wbytes() == 0);
    CHECK(dm.rios() == 2);
    CHECK(dm.wios() == 0);

    REQUIRE(m.hugetlb_size() == 2);
    CHECK(m.hugetlb(0).pagesize() == "1GB");
    CHECK(m.hugetlb(0).current() == 0);
    CHECK(m.hugetlb(1).pagesize() == "2MB");
    CHECK(m.hugetlb(1).current() == 2097152);
    CHECK(m.hugetlb(1).max() == UINT64_MAX);

    CHECK_FALSE(m.has_rdma());
}

TEST_CASE("v2: swap without swap files, unlimited swap, and the older workingset keys")
{
    SUBCASE("no memory.swap.* files: husk prints a zero swap entry")
    {
        pb2::Metrics m = v2_of(R"({"type":"stats","data":{"memory":{
            "usage":{"limit":18446744073709551615,"usage":4096},"swap":{"limit":0,"failcnt":0}}}})");
        CHECK(m.memory().usage() == 4096);
        CHECK(m.memory().usage_limit() == UINT64_MAX);
        CHECK(m.memory().swap_usage() == 0);
        CHECK(m.memory().swap_limit() == 0);
    }
    SUBCASE("swap.max is max: memory + swap is max, and so is the swap limit")
    {
        pb2::Metrics m = v2_of(R"({"type":"stats","data":{"memory":{
            "usage":{"limit":1048576,"usage":4096},"swap":{"limit":18446744073709551615,"usage":12288}}}})");
        CHECK(m.memory().usage_limit() == 1048576);
        CHECK(m.memory().swap_usage() == 8192);
        CHECK(m.memory().swap_limit() == UINT64_MAX);
    }
    SUBCASE("memory.stat from before Linux 5.9, and file from memory.cache")
    {
        pb2::Metrics m = v2_of(R"({"type":"stats","data":{"memory":{"cache":777,
            "raw":{"workingset_refault":5,"workingset_refault_anon":100,"workingset_activate":6}}}})");
        CHECK(m.memory().workingset_refault() == 5);
        CHECK(m.memory().workingset_activate() == 6);
        CHECK(m.memory().file() == 777);
        CHECK(m.memory().usage() == 0);
    }
}

TEST_CASE("sections absent or null are left unset")
{
    SUBCASE("v1")
    {
        auto any = metrics_from_stats(R"({"type":"stats","id":"c","data":{"memory":null,"cpu":null}})", CgroupMode::v1);
        REQUIRE(any.has_value());
        CHECK(any->value.empty()); // an all-default message serializes to nothing
        pb1::Metrics m = decode_v1(*any);
        CHECK_FALSE(m.has_pids());
        CHECK_FALSE(m.has_cpu());
        CHECK_FALSE(m.has_memory());
        CHECK_FALSE(m.has_blkio());
        CHECK(m.hugetlb_size() == 0);
    }
    SUBCASE("v2")
    {
        pb2::Metrics m = v2_of(R"({"type":"stats","data":{}})");
        CHECK_FALSE(m.has_pids());
        CHECK_FALSE(m.has_cpu());
        CHECK_FALSE(m.has_memory());
        CHECK_FALSE(m.has_io());
        CHECK(m.hugetlb_size() == 0);
    }
    SUBCASE("an empty section is set, with zeros")
    {
        pb2::Metrics m = v2_of(R"({"type":"stats","data":{"pids":{},"blkio":{}}})");
        CHECK(m.has_pids());
        CHECK(m.pids().current() == 0);
        CHECK(m.has_io());
        CHECK(m.io().usage_size() == 0);
    }
}

TEST_CASE("documents that are not a stats event are refused")
{
    CHECK(contains(error_of(""), "invalid JSON"));
    CHECK(contains(error_of(R"({"type":"stats","data":{})"), "invalid JSON"));
    CHECK(contains(error_of("not json"), "invalid JSON"));
    CHECK(contains(error_of(R"([{"type":"stats"}])"), "expected a JSON object, got array"));
    CHECK(contains(error_of(R"({"type":"oom","id":"c1"})"), "a \"oom\" event, not \"stats\""));
    CHECK(contains(error_of(R"({"id":"c1","data":{}})"), "no \"type\""));
    CHECK(contains(error_of(R"({"type":7,"data":{}})"), "type: expected a string, got number"));
    CHECK(contains(error_of(R"({"type":"stats","id":"c1"})"), "has no \"data\""));
    CHECK(contains(error_of(R"({"type":"stats","data":null})"), "has no \"data\""));
    CHECK(contains(error_of(R"({"type":"stats","data":[1]})"), "data: expected an object, got array"));
}

TEST_CASE("a field of the wrong type is refused, by its path")
{
    CHECK(contains(error_of(R"({"type":"stats","data":{"memory":{"usage":{"limit":"big"}}}})"),
                   "data.memory.usage.limit: expected a non-negative integer, got string"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"cpu":{"usage":{"total":-1}}}})"),
                   "data.cpu.usage.total: expected a non-negative integer, got negative number -1"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"pids":{"current":1.5}}})"),
                   "data.pids.current: expected a non-negative integer, got number 1.5"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"pids":{"current":18446744073709551616}}})"),
                   "data.pids.current: expected a non-negative integer"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"cpu":[]}})"), "data.cpu: expected an object, got array"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"memory":{"raw":{"inactive_anon":true}}}})"),
                   "data.memory.raw.inactive_anon: expected a non-negative integer, got boolean"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"cpu":{"throttling":{"throttledTime":"1"}}}})"),
                   "data.cpu.throttling.throttledTime: expected a non-negative integer, got string"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"blkio":{"ioServiceBytesRecursive":{}}}})"),
                   "data.blkio.ioServiceBytesRecursive: expected an array, got object"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"blkio":{"ioServicedRecursive":[{"op":"Read"},7]}}})"),
                   "data.blkio.ioServicedRecursive[1]: expected an object, got number"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"blkio":{"ioServicedRecursive":[{"op":1}]}}})"),
                   "data.blkio.ioServicedRecursive[0].op: expected a string, got number"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"hugetlb":{"2MB":5}}})"),
                   "data.hugetlb.2MB: expected an object, got number"));
    CHECK(contains(error_of(R"({"type":"stats","data":{"hugetlb":{"2MB":{"usage":"x"}}}})"),
                   "data.hugetlb.2MB.usage: expected a non-negative integer, got string"));
}

TEST_CASE("v1 only: per-cpu usage must be a list of numbers")
{
    auto r = metrics_from_stats(R"({"type":"stats","data":{"cpu":{"usage":{"percpu":[1,"2"]}}}})", CgroupMode::v1);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message() == "stats to cgroup v1 metrics: data.cpu.usage.percpu[1]: expected a non-negative integer, got string");
    // v2 has no per-cpu field and does not look at it.
    CHECK(metrics_from_stats(R"({"type":"stats","data":{"cpu":{"usage":{"percpu":[1,"2"]}}}})", CgroupMode::v2).has_value());
}

} // TEST_SUITE
