// Unit tests for cgroups/resources: every conversion of Limits into v1 and v2 cgroup files
// (names, values, order and the retry/skip/verify marks the manager acts on), and the
// settings each version refuses or ignores.
#include "cgroups/resources.hpp"

#include <doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace husk;
using namespace husk::cgroups;

namespace {

struct Flat {
    std::string controller;
    std::string file;
    std::string value;
    bool operator==(const Flat&) const = default;
};

std::vector<Flat> flat(const WritePlan& p)
{
    std::vector<Flat> out;
    for (const auto& w : p.writes)
        out.push_back(Flat { w.controller, w.file, w.value });
    return out;
}

WritePlan v1(const Limits& l, HostFacts f = {})
{
    auto r = v1_writes(l, f);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message()));
    return *r;
}

WritePlan v2(const Limits& l, HostFacts f = {})
{
    auto r = v2_writes(l, f);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message()));
    return *r;
}

const Write* find(const WritePlan& p, const std::string& file)
{
    for (const auto& w : p.writes)
        if (w.file == file)
            return &w;
    return nullptr;
}

std::string v1_error(const Limits& l)
{
    auto r = v1_writes(l);
    REQUIRE_FALSE(r.has_value());
    return r.error().message();
}

std::string v2_error(const Limits& l)
{
    auto r = v2_writes(l);
    REQUIRE_FALSE(r.has_value());
    return r.error().message();
}

bool mentions(const std::vector<std::string>& list, const std::string& text)
{
    return std::any_of(list.begin(), list.end(), [&](const std::string& s) { return s.find(text) != std::string::npos; });
}

} // namespace

TEST_CASE("cgroups: nothing set writes nothing")
{
    CHECK(v1(Limits {}).writes.empty());
    CHECK(v2(Limits {}).writes.empty());
    CHECK(v1(Limits {}).ignored.empty());
}

TEST_CASE("cgroups: shares_to_weight is crun's and runc's mapping")
{
    CHECK(shares_to_weight(2) == 1);
    CHECK(shares_to_weight(1024) == 39); // 1 + 1022*9999/262142
    CHECK(shares_to_weight(512) == 20);
    CHECK(shares_to_weight(262144) == 10000);
    // Out of v1's range: clamped as v1 would, so the result stays in 1-10000.
    CHECK(shares_to_weight(1) == 1);
    CHECK(shares_to_weight(1'000'000) == 10000);
}

TEST_CASE("cgroups: blkio_weight_to_io_weight")
{
    CHECK(blkio_weight_to_io_weight(10) == 1);
    CHECK(blkio_weight_to_io_weight(500) == 1 + 490 * 9999 / 990);
    CHECK(blkio_weight_to_io_weight(1000) == 10000);
    CHECK(blkio_weight_to_io_weight(1) == 1);
}

TEST_CASE("cgroups: swap_to_v2 subtracts the memory limit")
{
    CHECK(swap_to_v2(0, 0).value() == 0);
    CHECK(swap_to_v2(-1, 1000).value() == -1);
    CHECK(swap_to_v2(0, -1).value() == -1);
    CHECK(swap_to_v2(0, 1000).value() == 0);
    CHECK(swap_to_v2(3000, 1000).value() == 2000);
    CHECK(swap_to_v2(1000, 1000).value() == 0);
    CHECK_FALSE(swap_to_v2(500, 1000).has_value());
    CHECK_FALSE(swap_to_v2(1000, 0).has_value());
    CHECK_FALSE(swap_to_v2(1000, -1).has_value());
    CHECK(swap_to_v2(500, 1000).error().message().find("must not be less than") != std::string::npos);
}

TEST_CASE("cgroups: v2_controller_of")
{
    CHECK(v2_controller_of("memory.max") == "memory");
    CHECK(v2_controller_of("io.bfq.weight") == "io");
    CHECK(v2_controller_of("hugetlb.2MB.max") == "hugetlb");
    CHECK(v2_controller_of("cgroup.max.depth") == "");
    CHECK(v2_controller_of("nodot") == "");
}

TEST_CASE("cgroups v1: memory limit, reservation and swap")
{
    Limits l;
    l.memory.limit = 1048576;
    l.memory.reservation = 524288;
    l.memory.swap = 2097152;
    auto p = v1(l);
    CHECK(flat(p) == std::vector<Flat> {
                         { "memory", "memory.memsw.limit_in_bytes", "2097152" },
                         { "memory", "memory.limit_in_bytes", "1048576" },
                         { "memory", "memory.soft_limit_in_bytes", "524288" },
                     });
    // memsw goes first; when it is lowered below the current limit the kernel refuses it
    // until the limit is in.
    CHECK(p.writes[0].retry_after_rest);
    CHECK_FALSE(p.writes[0].skip_if_missing);
    CHECK_FALSE(p.writes[1].retry_after_rest);
}

TEST_CASE("cgroups v1: memory limit alone, and swap alone")
{
    Limits l;
    l.memory.limit = 4096;
    CHECK(flat(v1(l)) == std::vector<Flat> { { "memory", "memory.limit_in_bytes", "4096" } });

    Limits s;
    s.memory.swap = 8192;
    auto p = v1(s);
    CHECK(flat(p) == std::vector<Flat> { { "memory", "memory.memsw.limit_in_bytes", "8192" } });
    CHECK_FALSE(p.writes[0].retry_after_rest);
}

TEST_CASE("cgroups v1: unlimited memory lifts memsw too, when the kernel has it")
{
    Limits l;
    l.memory.limit = -1;
    auto p = v1(l);
    CHECK(flat(p) == std::vector<Flat> {
                         { "memory", "memory.memsw.limit_in_bytes", "-1" },
                         { "memory", "memory.limit_in_bytes", "-1" },
                     });
    CHECK(p.writes[0].skip_if_missing);
    CHECK(p.writes[0].retry_after_rest);

    l.memory.swap = -1;
    CHECK_FALSE(v1(l).writes[0].skip_if_missing);
}

TEST_CASE("cgroups v1: zero memory values are unset, as in runc")
{
    Limits l;
    l.memory.limit = 0;
    l.memory.swap = 0;
    l.memory.reservation = 0;
    CHECK(v1(l).writes.empty());
}

TEST_CASE("cgroups v1: swap below the memory limit is refused")
{
    Limits l;
    l.memory.limit = 2000;
    l.memory.swap = 1000;
    auto msg = v1_error(l);
    CHECK(msg.find("linux.resources.memory.swap (1000) must not be less than") != std::string::npos);
}

TEST_CASE("cgroups v1: OOM killer, swappiness, hierarchy; kernel memory ignored")
{
    Limits l;
    l.memory.disable_oom_killer = true;
    l.memory.swappiness = 30;
    l.memory.use_hierarchy = true;
    l.memory.kernel = 1 << 20;
    l.memory.kernel_tcp = 1 << 20;
    auto p = v1(l);
    CHECK(flat(p) == std::vector<Flat> {
                         { "memory", "memory.oom_control", "1" },
                         { "memory", "memory.swappiness", "30" },
                         { "memory", "memory.use_hierarchy", "1" },
                     });
    CHECK(mentions(p.ignored, "memory.kernel "));
    CHECK(mentions(p.ignored, "memory.kernelTCP"));
}

TEST_CASE("cgroups v1: swappiness range; runc's -1 (UINT64_MAX) is unset")
{
    Limits l;
    l.memory.swappiness = 101;
    CHECK(v1_error(l).find("linux.resources.memory.swappiness: 101 is out of range (0-100)") != std::string::npos);
    l.memory.swappiness = std::numeric_limits<uint64_t>::max();
    CHECK(v1(l).writes.empty());
    l.memory.swappiness = 0;
    CHECK(flat(v1(l)) == std::vector<Flat> { { "memory", "memory.swappiness", "0" } });
}

TEST_CASE("cgroups v1: cpu shares, period, burst, quota, realtime, idle in order")
{
    Limits l;
    l.cpu.shares = 512;
    l.cpu.quota = 50000;
    l.cpu.period = 100000;
    l.cpu.burst = 1000;
    l.cpu.realtime_runtime = 5000;
    l.cpu.realtime_period = 1000000;
    l.cpu.idle = 1;
    auto p = v1(l);
    CHECK(flat(p) == std::vector<Flat> {
                         { "cpu", "cpu.shares", "512" },
                         { "cpu", "cpu.cfs_period_us", "100000" },
                         { "cpu", "cpu.cfs_burst_us", "1000" },
                         { "cpu", "cpu.cfs_quota_us", "50000" },
                         { "cpu", "cpu.rt_period_us", "1000000" },
                         { "cpu", "cpu.rt_runtime_us", "5000" },
                         { "cpu", "cpu.idle", "1" },
                     });
    CHECK(find(p, "cpu.shares")->verify);
    CHECK(find(p, "cpu.cfs_period_us")->retry_after_rest);
    CHECK(find(p, "cpu.cfs_burst_us")->retry_after_rest);
    CHECK_FALSE(find(p, "cpu.cfs_quota_us")->retry_after_rest);
    CHECK(find(p, "cpu.rt_period_us")->retry_after_rest);
}

TEST_CASE("cgroups v1: unlimited quota, lone period, zeros unset")
{
    Limits l;
    l.cpu.quota = -1;
    CHECK(flat(v1(l)) == std::vector<Flat> { { "cpu", "cpu.cfs_quota_us", "-1" } });

    Limits p;
    p.cpu.period = 50000;
    auto plan = v1(p);
    CHECK(flat(plan) == std::vector<Flat> { { "cpu", "cpu.cfs_period_us", "50000" } });
    CHECK_FALSE(plan.writes[0].retry_after_rest); // nothing comes after it to make it fit

    Limits z;
    z.cpu.shares = 0;
    z.cpu.quota = 0;
    z.cpu.period = 0;
    z.cpu.realtime_runtime = 0;
    z.cpu.realtime_period = 0;
    CHECK(v1(z).writes.empty());
}

TEST_CASE("cgroups v1: cpuset comes first")
{
    Limits l;
    l.memory.limit = 1 << 20;
    l.cpu.cpus = "0-1";
    l.cpu.mems = "0";
    auto p = v1(l);
    REQUIRE(p.writes.size() == 3);
    CHECK(flat(p)[0] == Flat { "cpuset", "cpuset.cpus", "0-1" });
    CHECK(flat(p)[1] == Flat { "cpuset", "cpuset.mems", "0" });
}

TEST_CASE("cgroups v1 and v2: pids")
{
    Limits l;
    l.pids_limit = 10;
    CHECK(flat(v1(l)) == std::vector<Flat> { { "pids", "pids.max", "10" } });
    CHECK(flat(v2(l)) == std::vector<Flat> { { "pids", "pids.max", "10" } });
    l.pids_limit = -1;
    CHECK(flat(v1(l)) == std::vector<Flat> { { "pids", "pids.max", "max" } });
    CHECK(flat(v2(l)) == std::vector<Flat> { { "pids", "pids.max", "max" } });
    l.pids_limit = 0; // runc: unset
    CHECK(v1(l).writes.empty());
    CHECK(v2(l).writes.empty());
}

TEST_CASE("cgroups v1: blkio weights and throttles, CFQ and BFQ names")
{
    Limits l;
    l.block_io.weight = 500;
    l.block_io.leaf_weight = 300;
    l.block_io.weight_device = { WeightDevice { 8, 0, 600, 200 }, WeightDevice { 8, 16, std::nullopt, 100 } };
    l.block_io.throttle_read_bps = { ThrottleDevice { 8, 0, 1048576 } };
    l.block_io.throttle_write_bps = { ThrottleDevice { 8, 0, 2097152 } };
    l.block_io.throttle_read_iops = { ThrottleDevice { 8, 0, 100 } };
    l.block_io.throttle_write_iops = { ThrottleDevice { 8, 16, 200 } };
    CHECK(flat(v1(l)) == std::vector<Flat> {
                             { "blkio", "blkio.weight", "500" },
                             { "blkio", "blkio.leaf_weight", "300" },
                             { "blkio", "blkio.weight_device", "8:0 600" },
                             { "blkio", "blkio.leaf_weight_device", "8:0 200" },
                             { "blkio", "blkio.leaf_weight_device", "8:16 100" },
                             { "blkio", "blkio.throttle.read_bps_device", "8:0 1048576" },
                             { "blkio", "blkio.throttle.write_bps_device", "8:0 2097152" },
                             { "blkio", "blkio.throttle.read_iops_device", "8:0 100" },
                             { "blkio", "blkio.throttle.write_iops_device", "8:16 200" },
                         });
    auto bfq = v1(l, HostFacts { .bfq_weight = true });
    CHECK(flat(bfq)[0] == Flat { "blkio", "blkio.bfq.weight", "500" });
    CHECK(flat(bfq)[2] == Flat { "blkio", "blkio.bfq.weight_device", "8:0 600" });

    Limits zero;
    zero.block_io.weight = 0;
    CHECK(v1(zero).writes.empty());
}

TEST_CASE("cgroups v1: hugetlb, net_cls, net_prio, rdma")
{
    Limits l;
    l.hugepages = { HugepageLimit { "2MB", 4194304 }, HugepageLimit { "1GB", 0 } };
    l.net_class_id = 0x100001;
    l.net_priorities = { InterfacePriority { "eth0", 5 }, InterfacePriority { "lo", 1 } };
    l.rdma["mlx5_0"] = RdmaLimit { 3, 1000 };
    l.rdma["mlx5_1"] = RdmaLimit { std::nullopt, 10 };
    l.rdma["mlx5_2"] = RdmaLimit {};
    CHECK(flat(v1(l)) == std::vector<Flat> {
                             { "hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304" },
                             { "hugetlb", "hugetlb.1GB.limit_in_bytes", "0" },
                             { "net_cls", "net_cls.classid", "1048577" },
                             { "net_prio", "net_prio.ifpriomap", "eth0 5" },
                             { "net_prio", "net_prio.ifpriomap", "lo 1" },
                             { "rdma", "rdma.max", "mlx5_0 hca_handle=3 hca_object=1000" },
                             { "rdma", "rdma.max", "mlx5_1 hca_object=10" },
                         });
}

TEST_CASE("cgroups: bad names never reach a file name or a line")
{
    Limits l;
    l.hugepages = { HugepageLimit { "../../2MB", 1 } };
    CHECK(v1_error(l).find("invalid page size \"../../2MB\"") != std::string::npos);
    CHECK(v2_error(l).find("invalid page size") != std::string::npos);
    for (const char* bad : { "2M", "02MB", "MB", "2mb", "" }) {
        l.hugepages = { HugepageLimit { bad, 1 } };
        CHECK_FALSE(v1_writes(l).has_value());
    }

    Limits n;
    n.net_priorities = { InterfacePriority { "eth0 1\nlo", 5 } };
    CHECK(v1_error(n).find("invalid name") != std::string::npos);

    Limits r;
    r.rdma["mlx5 0"] = RdmaLimit { 1, 1 };
    CHECK(v1_error(r).find("linux.resources.rdma: invalid name") != std::string::npos);

    Limits u;
    u.unified["../memory.max"] = "1";
    CHECK(v2_error(u).find("must be a file name") != std::string::npos);
    u.unified = { { "..", "1" } };
    CHECK_FALSE(v2_writes(u).has_value());
}

TEST_CASE("cgroups v1: the unified map needs cgroup v2")
{
    Limits l;
    l.unified["memory.max"] = "1048576";
    CHECK(v1_error(l).find("linux.resources.unified requires cgroup v2") != std::string::npos);
}

TEST_CASE("cgroups v2: memory.max, memory.low, memory.swap.max = swap - limit")
{
    Limits l;
    l.memory.limit = 1048576;
    l.memory.reservation = 524288;
    l.memory.swap = 3145728;
    auto p = v2(l);
    CHECK(flat(p) == std::vector<Flat> {
                         { "memory", "memory.swap.max", "2097152" },
                         { "memory", "memory.max", "1048576" },
                         { "memory", "memory.low", "524288" },
                     });
    CHECK_FALSE(p.writes[0].skip_if_missing);
}

TEST_CASE("cgroups v2: swap equal to the limit means no swap")
{
    Limits l;
    l.memory.limit = 1048576;
    l.memory.swap = 1048576;
    auto p = v2(l);
    CHECK(flat(p)[0] == Flat { "memory", "memory.swap.max", "0" });
    CHECK(p.writes[0].skip_if_missing); // nothing to forbid without swap accounting
}

TEST_CASE("cgroups v2: unlimited values are max")
{
    Limits l;
    l.memory.limit = -1;
    l.memory.reservation = -1;
    auto p = v2(l);
    CHECK(flat(p) == std::vector<Flat> {
                         { "memory", "memory.swap.max", "max" },
                         { "memory", "memory.max", "max" },
                         { "memory", "memory.low", "max" },
                     });
    CHECK(p.writes[0].skip_if_missing);

    Limits s;
    s.memory.limit = 1000;
    s.memory.swap = -1;
    CHECK(flat(v2(s))[0] == Flat { "memory", "memory.swap.max", "max" });

    Limits only;
    only.memory.limit = 1000;
    CHECK(flat(v2(only)) == std::vector<Flat> { { "memory", "memory.max", "1000" } });
}

TEST_CASE("cgroups v2: inconsistent swap is refused")
{
    Limits l;
    l.memory.swap = 1000;
    CHECK(v2_error(l).find("a swap limit needs a memory limit on cgroup v2") != std::string::npos);
    l.memory.limit = 2000;
    CHECK(v2_error(l).find("must not be less than") != std::string::npos);
}

TEST_CASE("cgroups v2: what v2 cannot honour is ignored, as runc ignores it")
{
    Limits l;
    l.memory.disable_oom_killer = true;
    l.memory.swappiness = 10;
    l.memory.kernel = 1;
    l.memory.kernel_tcp = 1;
    l.memory.use_hierarchy = true;
    l.block_io.leaf_weight = 100;
    auto p = v2(l);
    CHECK(p.writes.empty());
    CHECK(mentions(p.ignored, "disableOOMKiller"));
    CHECK(mentions(p.ignored, "swappiness"));
    CHECK(mentions(p.ignored, "memory.kernel "));
    CHECK(mentions(p.ignored, "kernelTCP"));
    CHECK(mentions(p.ignored, "useHierarchy"));
    CHECK(mentions(p.ignored, "leafWeight"));
}

TEST_CASE("cgroups v2: cpu.weight, cpu.idle, cpu.max.burst, cpu.max")
{
    Limits l;
    l.cpu.shares = 1024;
    l.cpu.idle = 0;
    l.cpu.burst = 20000;
    l.cpu.quota = 50000;
    l.cpu.period = 200000;
    auto p = v2(l);
    CHECK(flat(p) == std::vector<Flat> {
                         { "cpu", "cpu.weight", "39" },
                         { "cpu", "cpu.idle", "0" },
                         { "cpu", "cpu.max.burst", "20000" },
                         { "cpu", "cpu.max", "50000 200000" },
                     });
    CHECK(find(p, "cpu.max.burst")->retry_after_rest);
}

TEST_CASE("cgroups v2: cpu.max defaults")
{
    Limits q;
    q.cpu.quota = 25000;
    CHECK(flat(v2(q)) == std::vector<Flat> { { "cpu", "cpu.max", "25000 100000" } });
    q.cpu.quota = -1;
    CHECK(flat(v2(q)) == std::vector<Flat> { { "cpu", "cpu.max", "max 100000" } });
    Limits p;
    p.cpu.period = 50000;
    CHECK(flat(v2(p)) == std::vector<Flat> { { "cpu", "cpu.max", "max 50000" } });
    Limits b;
    b.cpu.burst = 0;
    auto plan = v2(b);
    CHECK(flat(plan) == std::vector<Flat> { { "cpu", "cpu.max.burst", "0" } });
    CHECK_FALSE(plan.writes[0].retry_after_rest);
}

TEST_CASE("cgroups v2: realtime and network settings are refused")
{
    Limits rt;
    rt.cpu.realtime_runtime = 1000;
    CHECK(v2_error(rt).find("realtime scheduling cannot be limited on cgroup v2") != std::string::npos);
    Limits rtp;
    rtp.cpu.realtime_period = 1000;
    CHECK_FALSE(v2_writes(rtp).has_value());
    Limits net;
    net.net_class_id = 1;
    CHECK(v2_error(net).find("linux.resources.network") != std::string::npos);
    Limits prio;
    prio.net_priorities = { InterfacePriority { "eth0", 1 } };
    CHECK_FALSE(v2_writes(prio).has_value());
}

TEST_CASE("cgroups v2: io weights, BFQ and io.weight")
{
    Limits l;
    l.block_io.weight = 500;
    l.block_io.weight_device = { WeightDevice { 8, 0, 1000, std::nullopt } };
    CHECK(flat(v2(l)) == std::vector<Flat> {
                             { "io", "io.weight", std::to_string(blkio_weight_to_io_weight(500)) },
                             { "io", "io.weight", "8:0 10000" },
                         });
    CHECK(flat(v2(l, HostFacts { .bfq_weight = true })) == std::vector<Flat> {
                                                               { "io", "io.bfq.weight", "500" },
                                                               { "io", "io.bfq.weight", "8:0 1000" },
                                                           });
}

TEST_CASE("cgroups v2: one io.max line per device")
{
    Limits l;
    l.block_io.throttle_read_bps = { ThrottleDevice { 8, 0, 1000 }, ThrottleDevice { 8, 16, 3000 } };
    l.block_io.throttle_write_bps = { ThrottleDevice { 8, 0, 2000 } };
    l.block_io.throttle_read_iops = { ThrottleDevice { 8, 16, 10 } };
    l.block_io.throttle_write_iops = { ThrottleDevice { 8, 0, 20 } };
    CHECK(flat(v2(l)) == std::vector<Flat> {
                             { "io", "io.max", "8:0 rbps=1000 wbps=2000 wiops=20" },
                             { "io", "io.max", "8:16 rbps=3000 riops=10" },
                         });
}

TEST_CASE("cgroups v2: cpuset, hugetlb, rdma")
{
    Limits l;
    l.cpu.cpus = "0";
    l.cpu.mems = "0";
    l.hugepages = { HugepageLimit { "2MB", 2097152 } };
    l.rdma["mlx4_0"] = RdmaLimit { 2, std::nullopt };
    CHECK(flat(v2(l)) == std::vector<Flat> {
                             { "cpuset", "cpuset.cpus", "0" },
                             { "cpuset", "cpuset.mems", "0" },
                             { "hugetlb", "hugetlb.2MB.max", "2097152" },
                             { "hugetlb", "hugetlb.2MB.rsvd.max", "2097152" },
                             { "rdma", "rdma.max", "mlx4_0 hca_handle=2" },
                         });
    // Kernels before 5.7 have no reservation files: that write may be skipped.
    auto plan = v2(l);
    auto rsvd = std::find_if(plan.writes.begin(), plan.writes.end(),
                             [](const Write& w) { return w.file == "hugetlb.2MB.rsvd.max"; });
    REQUIRE(rsvd != plan.writes.end());
    CHECK(rsvd->skip_if_missing);
    CHECK_FALSE(plan.writes.front().skip_if_missing);
}

TEST_CASE("cgroups v2: unified keys are written verbatim, last, with their controller")
{
    Limits l;
    l.memory.limit = 1000;
    l.unified["memory.max"] = "2000";
    l.unified["cgroup.max.descendants"] = "5";
    l.unified["memory.high"] = "max";
    CHECK(flat(v2(l)) == std::vector<Flat> {
                             { "memory", "memory.max", "1000" },
                             { "", "cgroup.max.descendants", "5" },
                             { "memory", "memory.high", "max" },
                             { "memory", "memory.max", "2000" },
                         });
}

TEST_CASE("device rules as v1 devices.allow/deny lines")
{
    using husk::cgroups::DeviceRule;
    using husk::cgroups::device_rule_line;
    CHECK(device_rule_line(DeviceRule { false, 'a', -1, -1, "rwm" }) == "a *:* rwm");
    CHECK(device_rule_line(DeviceRule { true, 'c', 1, 3, "rwm" }) == "c 1:3 rwm");
    CHECK(device_rule_line(DeviceRule { true, 'c', 136, -1, "rwm" }) == "c 136:* rwm");
    CHECK(device_rule_line(DeviceRule { true, 'b', -1, -1, "m" }) == "b *:* m");
    CHECK(device_rule_line(DeviceRule { true, 'b', 8, 0, "r" }) == "b 8:0 r");
}
