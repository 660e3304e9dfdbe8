// Unit tests for linux.resources: parsing every field into spec::Resources (with the JSON
// path in every error) and the copy into cgroups::Limits (runtime/cgroup_limits).
#include "runtime/cgroup_limits.hpp"
#include "runtime/spec/config.hpp"

#include <doctest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>

using namespace husk;
using namespace husk::spec;
using json = nlohmann::json;

namespace {

// A minimal config with `resources` as linux.resources.
std::string with_resources(std::string_view resources)
{
    json doc = json::parse(R"({"ociVersion": "1.1.0", "root": {"path": "rootfs"},
                               "process": {"args": ["sh"], "cwd": "/"}, "linux": {}})");
    doc["linux"]["resources"] = json::parse(resources);
    return doc.dump();
}

Resources parse_ok(std::string_view resources)
{
    auto c = parse_config(with_resources(resources), "/bundle");
    if (!c)
        FAIL_CHECK("unexpected error: " << c.error().message());
    REQUIRE(c.has_value());
    return c->linux.resources;
}

void check_bad(std::string_view resources, std::string_view expected)
{
    CAPTURE(resources);
    auto c = parse_config(with_resources(resources), "/bundle");
    REQUIRE_FALSE(c.has_value());
    CAPTURE(c.error().message());
    CHECK(c.error().message().find(expected) != std::string::npos);
}

constexpr std::string_view everything = R"({
    "memory": {"limit": 536870912, "reservation": 268435456, "swap": 1073741824, "kernel": -1,
               "kernelTCP": 1048576, "swappiness": 60, "disableOOMKiller": true,
               "useHierarchy": true, "checkBeforeUpdate": true},
    "cpu": {"shares": 1024, "quota": 50000, "burst": 10000, "period": 100000,
            "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "0-1", "mems": "0", "idle": 1},
    "pids": {"limit": 32},
    "blockIO": {"weight": 500, "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 200},
                                 {"major": 8, "minor": 16, "weight": 700}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 200}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}, {"pageSize": "1GB", "limit": 0}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}, {"name": "lo", "priority": 1}]},
    "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx5_2": {"hcaObjects": 5}},
    "unified": {"memory.high": "1073741824", "io.weight": "default 100"}
})";

} // namespace

TEST_CASE("resources: every field of linux.resources")
{
    Resources r = parse_ok(everything);
    CHECK(r.memory_limit == 536870912);
    CHECK(r.memory_reservation == 268435456);
    CHECK(r.memory_swap == 1073741824);
    CHECK(r.memory_kernel == -1);
    CHECK(r.memory_kernel_tcp == 1048576);
    CHECK(r.memory_swappiness == 60u);
    CHECK(r.memory_disable_oom_killer == true);
    CHECK(r.memory_use_hierarchy == true);
    CHECK(r.memory_check_before_update == true);

    CHECK(r.cpu_shares == 1024u);
    CHECK(r.cpu_quota == 50000);
    CHECK(r.cpu_burst == 10000u);
    CHECK(r.cpu_period == 100000u);
    CHECK(r.cpu_realtime_runtime == 950000);
    CHECK(r.cpu_realtime_period == 1000000u);
    CHECK(r.cpu_cpus == "0-1");
    CHECK(r.cpu_mems == "0");
    CHECK(r.cpu_idle == 1);

    CHECK(r.pids_limit == 32);

    CHECK(r.blkio_weight == 500);
    CHECK(r.blkio_leaf_weight == 300);
    REQUIRE(r.blkio_weight_device.size() == 2);
    CHECK(r.blkio_weight_device[0].major == 8);
    CHECK(r.blkio_weight_device[0].minor == 0);
    CHECK(r.blkio_weight_device[0].weight == 600);
    CHECK(r.blkio_weight_device[0].leaf_weight == 200);
    CHECK(r.blkio_weight_device[1].minor == 16);
    CHECK_FALSE(r.blkio_weight_device[1].leaf_weight.has_value());
    REQUIRE(r.blkio_throttle_read_bps_device.size() == 1);
    CHECK(r.blkio_throttle_read_bps_device[0].rate == 1048576u);
    REQUIRE(r.blkio_throttle_write_bps_device.size() == 1);
    CHECK(r.blkio_throttle_write_bps_device[0].rate == 2097152u);
    REQUIRE(r.blkio_throttle_read_iops_device.size() == 1);
    CHECK(r.blkio_throttle_read_iops_device[0].rate == 100u);
    REQUIRE(r.blkio_throttle_write_iops_device.size() == 1);
    CHECK(r.blkio_throttle_write_iops_device[0].minor == 16);

    REQUIRE(r.hugepage_limits.size() == 2);
    CHECK(r.hugepage_limits[0].page_size == "2MB");
    CHECK(r.hugepage_limits[0].limit == 209715200u);
    CHECK(r.hugepage_limits[1].page_size == "1GB");

    CHECK(r.network_class_id == 1048577u);
    REQUIRE(r.network_priorities.size() == 2);
    CHECK(r.network_priorities[0].name == "eth0");
    CHECK(r.network_priorities[0].priority == 500u);

    REQUIRE(r.rdma.size() == 2);
    CHECK(r.rdma.at("mlx5_1").hca_handles == 3u);
    CHECK(r.rdma.at("mlx5_1").hca_objects == 10000u);
    CHECK_FALSE(r.rdma.at("mlx5_2").hca_handles.has_value());

    CHECK(r.unified.at("memory.high") == "1073741824");
    CHECK(r.unified.at("io.weight") == "default 100");
}

TEST_CASE("resources: absent and null fields stay unset")
{
    Resources r = parse_ok(R"({"memory": {"limit": null}, "cpu": {}, "blockIO": {"weightDevice": null},
                               "network": {}, "rdma": {}})");
    CHECK_FALSE(r.memory_limit.has_value());
    CHECK_FALSE(r.memory_swappiness.has_value());
    CHECK_FALSE(r.memory_disable_oom_killer.has_value());
    CHECK_FALSE(r.cpu_shares.has_value());
    CHECK(r.cpu_cpus.empty());
    CHECK_FALSE(r.cpu_idle.has_value());
    CHECK_FALSE(r.pids_limit.has_value());
    CHECK_FALSE(r.blkio_weight.has_value());
    CHECK(r.blkio_weight_device.empty());
    CHECK(r.hugepage_limits.empty());
    CHECK_FALSE(r.network_class_id.has_value());
    CHECK(r.rdma.empty());

    Resources none = parse_ok("{}");
    CHECK_FALSE(none.memory_limit.has_value());
    CHECK(none.unified.empty());
}

TEST_CASE("resources: runc's values for 'unlimited' parse")
{
    Resources r = parse_ok(R"({"memory": {"limit": -1, "swap": -1, "swappiness": 18446744073709551615},
                               "cpu": {"quota": -1}, "pids": {"limit": -1}})");
    CHECK(r.memory_limit == -1);
    CHECK(r.memory_swap == -1);
    CHECK(r.memory_swappiness == std::numeric_limits<uint64_t>::max());
    CHECK(r.cpu_quota == -1);
    CHECK(r.pids_limit == -1);
}

TEST_CASE("resources: bad values name their JSON path")
{
    struct Case {
        const char* resources;
        const char* expected;
    };
    const Case cases[] = {
        {R"({"memory": {"kernel": "1G"}})", "linux.resources.memory.kernel: expected an integer"},
        {R"({"memory": {"kernelTCP": 1.5}})", "linux.resources.memory.kernelTCP: expected an integer"},
        {R"({"memory": {"swappiness": -1}})", "linux.resources.memory.swappiness: expected an integer between 0"},
        {R"({"memory": {"disableOOMKiller": 1}})", "linux.resources.memory.disableOOMKiller: expected a boolean"},
        {R"({"memory": {"useHierarchy": "yes"}})", "linux.resources.memory.useHierarchy: expected a boolean"},
        {R"({"memory": {"checkBeforeUpdate": 0}})", "linux.resources.memory.checkBeforeUpdate: expected a boolean"},
        {R"({"cpu": {"burst": -1}})", "linux.resources.cpu.burst: expected an integer between 0"},
        {R"({"cpu": {"period": -5}})", "linux.resources.cpu.period: expected an integer between 0"},
        {R"({"cpu": {"realtimeRuntime": "x"}})", "linux.resources.cpu.realtimeRuntime: expected an integer"},
        {R"({"cpu": {"realtimePeriod": -1}})", "linux.resources.cpu.realtimePeriod: expected an integer between 0"},
        {R"({"cpu": {"mems": 0}})", "linux.resources.cpu.mems: expected a string"},
        {R"({"cpu": {"idle": true}})", "linux.resources.cpu.idle: expected an integer"},
        {R"({"pids": []})", "linux.resources.pids: expected an object"},
        {R"({"blockIO": 5})", "linux.resources.blockIO: expected an object"},
        {R"({"blockIO": {"weight": 70000}})", "linux.resources.blockIO.weight: expected an integer between 0 and 65535"},
        {R"({"blockIO": {"leafWeight": -1}})", "linux.resources.blockIO.leafWeight: expected an integer between 0"},
        {R"({"blockIO": {"weightDevice": {}}})", "linux.resources.blockIO.weightDevice: expected an array"},
        {R"({"blockIO": {"weightDevice": [5]}})", "linux.resources.blockIO.weightDevice[0]: expected an object"},
        {R"({"blockIO": {"weightDevice": [{"minor": 0, "weight": 10}]}})",
         "linux.resources.blockIO.weightDevice[0].major: missing"},
        {R"({"blockIO": {"weightDevice": [{"major": 8, "weight": 10}]}})",
         "linux.resources.blockIO.weightDevice[0].minor: missing"},
        {R"({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": -10}]}})",
         "linux.resources.blockIO.weightDevice[0].weight: expected an integer between 0"},
        {R"({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "leafWeight": "1"}]}})",
         "linux.resources.blockIO.weightDevice[0].leafWeight: expected an integer"},
        {R"({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}})",
         "linux.resources.blockIO.throttleReadBpsDevice[0].rate: missing"},
        {R"({"blockIO": {"throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": -1}]}})",
         "linux.resources.blockIO.throttleWriteBpsDevice[0].rate: expected an integer between 0"},
        {R"({"blockIO": {"throttleReadIOPSDevice": [{}, {"major": 1}]}})",
         "linux.resources.blockIO.throttleReadIOPSDevice[0].major: missing"},
        {R"({"blockIO": {"throttleWriteIOPSDevice": "8:0 100"}})",
         "linux.resources.blockIO.throttleWriteIOPSDevice: expected an array"},
        {R"({"hugepageLimits": {}})", "linux.resources.hugepageLimits: expected an array"},
        {R"({"hugepageLimits": [{"limit": 1}]})", "linux.resources.hugepageLimits[0].pageSize: missing"},
        {R"({"hugepageLimits": [{"pageSize": "2MB"}]})", "linux.resources.hugepageLimits[0].limit: missing"},
        {R"({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]})",
         "linux.resources.hugepageLimits[0].pageSize: invalid page size \"2M\""},
        {R"({"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]})",
         "linux.resources.hugepageLimits[0].pageSize: invalid page size"},
        {R"({"hugepageLimits": [{"pageSize": "02MB", "limit": 1}]})",
         "linux.resources.hugepageLimits[0].pageSize: invalid page size"},
        {R"({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}, {"pageSize": "2MB", "limit": 2}]})",
         "linux.resources.hugepageLimits[1].pageSize: duplicate page size \"2MB\""},
        {R"({"hugepageLimits": [{"pageSize": "2MB", "limit": -1}]})",
         "linux.resources.hugepageLimits[0].limit: expected an integer between 0"},
        {R"({"network": []})", "linux.resources.network: expected an object"},
        {R"({"network": {"classID": -1}})", "linux.resources.network.classID: expected an integer between 0 and 4294967295"},
        {R"({"network": {"priorities": [{"priority": 1}]}})", "linux.resources.network.priorities[0].name: missing"},
        {R"({"network": {"priorities": [{"name": "eth0"}]}})", "linux.resources.network.priorities[0].priority: missing"},
        {R"({"network": {"priorities": [{"name": "eth0 5\nlo", "priority": 1}]}})",
         "linux.resources.network.priorities[0].name: invalid interface name"},
        {R"({"network": {"priorities": [{"name": "", "priority": 1}]}})",
         "linux.resources.network.priorities[0].name: invalid interface name"},
        {R"({"rdma": []})", "linux.resources.rdma: expected an object"},
        {R"({"rdma": {"mlx5_1": 5}})", "linux.resources.rdma[\"mlx5_1\"]: expected an object"},
        {R"({"rdma": {"mlx5_1": {"hcaHandles": -1}}})",
         "linux.resources.rdma[\"mlx5_1\"].hcaHandles: expected an integer between 0"},
        {R"({"rdma": {"mlx5 1": {"hcaHandles": 1}}})", "linux.resources.rdma[\"mlx5 1\"]: invalid device name"},
        {R"({"unified": {"../memory.max": "1"}})",
         "linux.resources.unified[\"../memory.max\"]: must be a file name in the cgroup directory"},
        {R"({"unified": {"": "1"}})", "linux.resources.unified[\"\"]: must be a file name"},
        {R"({"unified": {"..": "1"}})", "linux.resources.unified[\"..\"]: must be a file name"},
        {R"({"unified": []})", "linux.resources.unified: expected an object"},
    };
    for (const auto& c : cases)
        check_bad(c.resources, c.expected);
}

TEST_CASE("resources: to_limits copies every field")
{
    Resources r = parse_ok(everything);
    cgroups::Limits l = to_limits(r);
    CHECK(l.memory.limit == 536870912);
    CHECK(l.memory.reservation == 268435456);
    CHECK(l.memory.swap == 1073741824);
    CHECK(l.memory.kernel == -1);
    CHECK(l.memory.kernel_tcp == 1048576);
    CHECK(l.memory.swappiness == 60u);
    CHECK(l.memory.disable_oom_killer);
    CHECK(l.memory.use_hierarchy == true);
    CHECK(l.memory.check_before_update);
    CHECK(l.cpu.shares == 1024u);
    CHECK(l.cpu.quota == 50000);
    CHECK(l.cpu.burst == 10000u);
    CHECK(l.cpu.period == 100000u);
    CHECK(l.cpu.realtime_runtime == 950000);
    CHECK(l.cpu.realtime_period == 1000000u);
    CHECK(l.cpu.cpus == "0-1");
    CHECK(l.cpu.mems == "0");
    CHECK(l.cpu.idle == 1);
    CHECK(l.pids_limit == 32);
    CHECK(l.block_io.weight == 500);
    CHECK(l.block_io.leaf_weight == 300);
    REQUIRE(l.block_io.weight_device.size() == 2);
    CHECK(l.block_io.weight_device[0].major == 8);
    CHECK(l.block_io.weight_device[0].weight == 600);
    CHECK(l.block_io.weight_device[0].leaf_weight == 200);
    REQUIRE(l.block_io.throttle_read_bps.size() == 1);
    CHECK(l.block_io.throttle_read_bps[0].rate == 1048576u);
    REQUIRE(l.block_io.throttle_write_bps.size() == 1);
    CHECK(l.block_io.throttle_write_bps[0].rate == 2097152u);
    REQUIRE(l.block_io.throttle_read_iops.size() == 1);
    CHECK(l.block_io.throttle_read_iops[0].rate == 100u);
    REQUIRE(l.block_io.throttle_write_iops.size() == 1);
    CHECK(l.block_io.throttle_write_iops[0].minor == 16);
    REQUIRE(l.hugepages.size() == 2);
    CHECK(l.hugepages[0].page_size == "2MB");
    CHECK(l.hugepages[0].limit == 209715200u);
    CHECK(l.net_class_id == 1048577u);
    REQUIRE(l.net_priorities.size() == 2);
    CHECK(l.net_priorities[1].name == "lo");
    CHECK(l.net_priorities[1].priority == 1u);
    CHECK(l.rdma.at("mlx5_1").hca_handles == 3u);
    CHECK(l.rdma.at("mlx5_2").hca_objects == 5u);
    CHECK(l.unified.at("io.weight") == "default 100");
}

TEST_CASE("resources: to_limits of an empty config sets nothing")
{
    cgroups::Limits l = to_limits(Resources {});
    CHECK_FALSE(l.memory.limit.has_value());
    CHECK_FALSE(l.memory.disable_oom_killer);
    CHECK_FALSE(l.memory.check_before_update);
    CHECK_FALSE(l.cpu.shares.has_value());
    CHECK_FALSE(l.pids_limit.has_value());
    CHECK(l.hugepages.empty());
    auto v1 = cgroups::v1_writes(l);
    REQUIRE(v1.has_value());
    CHECK(v1->writes.empty());
}

TEST_CASE("resources: a parsed config converts end to end")
{
    Resources r = parse_ok(R"({"memory": {"limit": 1048576, "swap": 2097152}, "cpu": {"shares": 512,
                               "quota": 20000, "period": 100000, "cpus": "0"}, "pids": {"limit": 10}})");
    auto v1 = cgroups::v1_writes(to_limits(r));
    REQUIRE(v1.has_value());
    std::vector<std::string> files;
    for (const auto& w : v1->writes)
        files.push_back(w.file + "=" + w.value);
    CHECK(files == std::vector<std::string> {"cpuset.cpus=0", "memory.memsw.limit_in_bytes=2097152",
                                             "memory.limit_in_bytes=1048576", "cpu.shares=512",
                                             "cpu.cfs_period_us=100000", "cpu.cfs_quota_us=20000", "pids.max=10"});
    auto v2 = cgroups::v2_writes(to_limits(r));
    REQUIRE(v2.has_value());
    files.clear();
    for (const auto& w : v2->writes)
        files.push_back(w.file + "=" + w.value);
    CHECK(files == std::vector<std::string> {"cpuset.cpus=0", "memory.swap.max=1048576", "memory.max=1048576",
                                             "cpu.weight=20", "cpu.max=20000 100000", "pids.max=10"});
}
