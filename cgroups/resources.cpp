// Limits -> the cgroup files to write, for v1 and v2. The conversions are the ones runc
// and crun apply, so a config means the same under husk; where the two differ the choice
// is noted. No file access: the manager probes the host (HostFacts) and does the writes.
#include "cgroups/resources.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace husk::cgroups {

namespace {

std::string num(int64_t v) { return std::to_string(v); }
std::string num(uint64_t v) { return std::to_string(v); }

// v2 spells "no limit" as "max"; v1 files take -1 as they are given.
std::string v2_num(int64_t v) { return v < 0 ? "max" : std::to_string(v); }

std::string device(int64_t major, int64_t minor) { return std::to_string(major) + ":" + std::to_string(minor); }

class Plan {
public:
    void add(std::string controller, std::string file, std::string value)
    {
        m_plan.writes.push_back(Write { std::move(controller), std::move(file), std::move(value) });
    }
    Write& last() { return m_plan.writes.back(); }
    void ignore(std::string what) { m_plan.ignored.push_back(std::move(what)); }
    WritePlan done() { return std::move(m_plan); }

private:
    WritePlan m_plan;
};

// A size the kernel names hugetlb files by ("2MB", "1GB", "64KB"). Checked here too, not only
// in the config parser: it becomes part of a file name under the cgroup directory.
bool valid_page_size(std::string_view s)
{
    if (s.size() < 3)
        return false;
    auto unit = s.substr(s.size() - 2);
    if (unit != "KB" && unit != "MB" && unit != "GB")
        return false;
    auto digits = s.substr(0, s.size() - 2);
    return digits.front() != '0' && std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<> check_hugepages(const Limits& l)
{
    for (const auto& h : l.hugepages)
        if (!valid_page_size(h.page_size))
            return fail("linux.resources.hugepageLimits: invalid page size \"" + h.page_size +
                        "\" (expected a size such as \"2MB\" or \"1GB\")");
    return {};
}

// Names the kernel parses as one whitespace-separated token on a line.
Result<> check_token(std::string_view what, const std::string& name)
{
    if (name.empty() || name.find_first_of(" \t\n") != std::string::npos)
        return fail(std::string(what) + ": invalid name \"" + name + "\"");
    return {};
}

Result<std::string> rdma_line(const std::string& dev, const RdmaLimit& r)
{
    TRY(check_token("linux.resources.rdma", dev));
    std::string line = dev;
    if (r.hca_handles)
        line += " hca_handle=" + num(uint64_t { *r.hca_handles });
    if (r.hca_objects)
        line += " hca_object=" + num(uint64_t { *r.hca_objects });
    return line;
}

// ---- v1 ----------------------------------------------------------------------------------

Result<> v1_memory(const MemoryLimits& m, Plan& plan)
{
    std::optional<int64_t> limit = m.limit;
    std::optional<int64_t> swap = m.swap;
    if (limit == 0)
        limit.reset(); // runc: 0 is "not set"
    if (swap == 0)
        swap.reset();
    if (limit && swap && *limit > 0 && *swap >= 0 && *swap < *limit)
        return fail("linux.resources.memory.swap (" + num(*swap) + ") must not be less than "
                    "linux.resources.memory.limit (" + num(*limit) + "): it counts memory and swap together");
    // Lifting the memory limit lifts memory+swap with it, unless swap says otherwise (runc
    // does the same); without swap accounting there is nothing to lift.
    bool implied_swap = false;
    if (limit == -1 && !swap) {
        swap = -1;
        implied_swap = true;
    }
    // The kernel keeps limit <= memsw at every step: memsw goes first when it rises and
    // second when it falls. Which one it is depends on the current limit, so memsw is tried
    // first and, if refused, again after the limit.
    if (swap) {
        plan.add("memory", "memory.memsw.limit_in_bytes", num(*swap));
        plan.last().skip_if_missing = implied_swap;
        plan.last().retry_after_rest = limit.has_value();
    }
    if (limit)
        plan.add("memory", "memory.limit_in_bytes", num(*limit));
    if (m.reservation && *m.reservation != 0)
        plan.add("memory", "memory.soft_limit_in_bytes", num(*m.reservation));
    if (m.kernel)
        plan.ignore("linux.resources.memory.kernel (kernel memory limits are deprecated and ignored)");
    if (m.kernel_tcp)
        plan.ignore("linux.resources.memory.kernelTCP (kernel memory limits are deprecated and ignored)");
    if (m.disable_oom_killer)
        plan.add("memory", "memory.oom_control", "1");
    if (m.swappiness && *m.swappiness != std::numeric_limits<uint64_t>::max()) {
        if (*m.swappiness > 100)
            return fail("linux.resources.memory.swappiness: " + num(*m.swappiness) + " is out of range (0-100)");
        plan.add("memory", "memory.swappiness", num(*m.swappiness));
    }
    if (m.use_hierarchy)
        plan.add("memory", "memory.use_hierarchy", *m.use_hierarchy ? "1" : "0");
    return {};
}

void v1_cpu(const CpuLimits& c, Plan& plan)
{
    if (c.shares && *c.shares != 0) {
        plan.add("cpu", "cpu.shares", num(*c.shares));
        plan.last().verify = true;
    }
    bool quota = c.quota && *c.quota != 0;
    // A new period or burst can be refused against the old quota (EINVAL) and accepted
    // once the new quota is in.
    if (c.period && *c.period != 0) {
        plan.add("cpu", "cpu.cfs_period_us", num(*c.period));
        plan.last().retry_after_rest = quota;
    }
    if (c.burst) {
        plan.add("cpu", "cpu.cfs_burst_us", num(*c.burst));
        plan.last().retry_after_rest = quota;
    }
    if (quota)
        plan.add("cpu", "cpu.cfs_quota_us", num(*c.quota));
    // runtime <= period at every step, as for memory and memsw.
    bool runtime = c.realtime_runtime && *c.realtime_runtime != 0;
    if (c.realtime_period && *c.realtime_period != 0) {
        plan.add("cpu", "cpu.rt_period_us", num(*c.realtime_period));
        plan.last().retry_after_rest = runtime;
    }
    if (runtime)
        plan.add("cpu", "cpu.rt_runtime_us", num(*c.realtime_runtime));
    if (c.idle)
        plan.add("cpu", "cpu.idle", num(*c.idle));
}

void v1_blkio(const BlockIoLimits& b, const HostFacts& facts, Plan& plan)
{
    // CFQ's files are gone from current kernels; BFQ's take the same 1-1000 weights.
    const char* weight = facts.bfq_weight ? "blkio.bfq.weight" : "blkio.weight";
    const char* weight_device = facts.bfq_weight ? "blkio.bfq.weight_device" : "blkio.weight_device";
    if (b.weight && *b.weight != 0)
        plan.add("blkio", weight, num(uint64_t { *b.weight }));
    if (b.leaf_weight && *b.leaf_weight != 0)
        plan.add("blkio", "blkio.leaf_weight", num(uint64_t { *b.leaf_weight }));
    for (const auto& d : b.weight_device) {
        if (d.weight)
            plan.add("blkio", weight_device, device(d.major, d.minor) + " " + num(uint64_t { *d.weight }));
        if (d.leaf_weight)
            plan.add("blkio", "blkio.leaf_weight_device", device(d.major, d.minor) + " " + num(uint64_t { *d.leaf_weight }));
    }
    auto throttle = [&](const std::vector<ThrottleDevice>& list, const char* file) {
        for (const auto& t : list)
            plan.add("blkio", file, device(t.major, t.minor) + " " + num(t.rate));
    };
    throttle(b.throttle_read_bps, "blkio.throttle.read_bps_device");
    throttle(b.throttle_write_bps, "blkio.throttle.write_bps_device");
    throttle(b.throttle_read_iops, "blkio.throttle.read_iops_device");
    throttle(b.throttle_write_iops, "blkio.throttle.write_iops_device");
}

// ---- v2 ----------------------------------------------------------------------------------

Result<> v2_memory(const MemoryLimits& m, Plan& plan)
{
    int64_t limit = m.limit.value_or(0);
    int64_t swap = m.swap.value_or(0);
    int64_t swap_max = TRY(swap_to_v2(swap, limit));
    // Equal memory and memory+swap mean "no swap": 0, which must not be mistaken for unset.
    if (swap_max != 0 || swap > 0) {
        plan.add("memory", "memory.swap.max", v2_num(swap_max));
        // Without swap accounting there is no swap to allow or forbid.
        plan.last().skip_if_missing = swap_max <= 0;
    }
    if (limit != 0)
        plan.add("memory", "memory.max", v2_num(limit));
    if (m.reservation && *m.reservation != 0)
        plan.add("memory", "memory.low", v2_num(*m.reservation));
    if (m.kernel)
        plan.ignore("linux.resources.memory.kernel (kernel memory limits are deprecated and ignored)");
    if (m.kernel_tcp)
        plan.ignore("linux.resources.memory.kernelTCP (cgroup v2 has no separate TCP memory limit)");
    if (m.disable_oom_killer)
        plan.ignore("linux.resources.memory.disableOOMKiller (cgroup v2 cannot disable the OOM killer)");
    if (m.swappiness && *m.swappiness != std::numeric_limits<uint64_t>::max())
        plan.ignore("linux.resources.memory.swappiness (cgroup v2 has no per-cgroup swappiness)");
    if (m.use_hierarchy)
        plan.ignore("linux.resources.memory.useHierarchy (cgroup v2 is always hierarchical)");
    return {};
}

Result<> v2_cpu(const CpuLimits& c, Plan& plan)
{
    // runc skips these silently; crun refuses. A real-time budget that is silently not
    // there shows up only as failing sched_setscheduler calls, so husk refuses.
    if ((c.realtime_runtime && *c.realtime_runtime != 0) || (c.realtime_period && *c.realtime_period != 0))
        return fail("linux.resources.cpu.realtimeRuntime/realtimePeriod: realtime scheduling cannot be limited "
                    "on cgroup v2");
    if (c.shares && *c.shares != 0)
        plan.add("cpu", "cpu.weight", num(shares_to_weight(*c.shares)));
    if (c.idle)
        plan.add("cpu", "cpu.idle", num(*c.idle));
    bool max = (c.quota && *c.quota != 0) || (c.period && *c.period != 0);
    if (c.burst) {
        plan.add("cpu", "cpu.max.burst", num(*c.burst));
        plan.last().retry_after_rest = max;
    }
    if (max) {
        // runc's rule: an unset period is the kernel's default, an unset or negative quota
        // is "max".
        std::string quota = (c.quota && *c.quota > 0) ? num(*c.quota) : "max";
        uint64_t period = (c.period && *c.period != 0) ? *c.period : 100000;
        plan.add("cpu", "cpu.max", quota + " " + num(period));
    }
    return {};
}

void v2_io(const BlockIoLimits& b, const HostFacts& facts, Plan& plan)
{
    // BFQ keeps v1's 10-1000 scale in io.bfq.weight; io.weight is 1-10000.
    auto weight = [&](uint16_t w) { return facts.bfq_weight ? num(uint64_t { w }) : num(blkio_weight_to_io_weight(w)); };
    const char* file = facts.bfq_weight ? "io.bfq.weight" : "io.weight";
    if (b.weight && *b.weight != 0)
        plan.add("io", file, weight(*b.weight));
    if (b.leaf_weight && *b.leaf_weight != 0)
        plan.ignore("linux.resources.blockIO.leafWeight (cgroup v2 has no leaf weights)");
    for (const auto& d : b.weight_device) {
        if (d.weight)
            plan.add("io", file, device(d.major, d.minor) + " " + weight(*d.weight));
        if (d.leaf_weight)
            plan.ignore("linux.resources.blockIO.weightDevice[].leafWeight (cgroup v2 has no leaf weights)");
    }
    // One io.max line per device with every limit the spec gives for it.
    std::vector<std::pair<std::string, std::string>> lines;
    auto throttle = [&](const std::vector<ThrottleDevice>& list, const char* key) {
        for (const auto& t : list) {
            std::string dev = device(t.major, t.minor);
            auto it = std::find_if(lines.begin(), lines.end(), [&](const auto& l) { return l.first == dev; });
            if (it == lines.end())
                it = lines.insert(lines.end(), { dev, dev });
            it->second += std::string(" ") + key + "=" + num(t.rate);
        }
    };
    throttle(b.throttle_read_bps, "rbps");
    throttle(b.throttle_write_bps, "wbps");
    throttle(b.throttle_read_iops, "riops");
    throttle(b.throttle_write_iops, "wiops");
    for (auto& [dev, line] : lines)
        plan.add("io", "io.max", std::move(line));
}

} // namespace

uint64_t shares_to_weight(uint64_t shares)
{
    // v1 clamps shares to 2-262144; clamping first keeps the result in 1-10000.
    shares = std::clamp<uint64_t>(shares, 2, 262144);
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t blkio_weight_to_io_weight(uint64_t weight)
{
    weight = std::clamp<uint64_t>(weight, 10, 1000);
    return 1 + ((weight - 10) * 9999) / 990;
}

Result<int64_t> swap_to_v2(int64_t swap, int64_t limit)
{
    // Unlimited memory with swap unset: unlimited both, as on v1.
    if (limit == -1 && swap == 0)
        return -1;
    if (swap == -1 || swap == 0)
        return swap;
    if (limit == 0 || limit == -1)
        return fail("linux.resources.memory.swap: a swap limit needs a memory limit on cgroup v2 "
                    "(it is converted to memory.swap.max = swap - limit)");
    if (limit < 0)
        return fail("linux.resources.memory.limit: invalid value " + num(limit));
    if (swap < limit)
        return fail("linux.resources.memory.swap (" + num(swap) + ") must not be less than "
                    "linux.resources.memory.limit (" + num(limit) + "): it counts memory and swap together");
    return swap - limit;
}

std::string v2_controller_of(std::string_view file)
{
    auto dot = file.find('.');
    if (dot == std::string_view::npos || dot == 0)
        return "";
    auto ctrl = file.substr(0, dot);
    if (ctrl == "cgroup")
        return "";
    return std::string(ctrl);
}

Result<WritePlan> v1_writes(const Limits& l, const HostFacts& facts)
{
    if (!l.unified.empty())
        return fail("linux.resources.unified requires cgroup v2 (this host has cgroup v1 controllers)");
    TRY(check_hugepages(l));
    Plan plan;
    // cpuset first: its cpus and mems must be in place before anything runs there.
    if (!l.cpu.cpus.empty())
        plan.add("cpuset", "cpuset.cpus", l.cpu.cpus);
    if (!l.cpu.mems.empty())
        plan.add("cpuset", "cpuset.mems", l.cpu.mems);
    TRY(v1_memory(l.memory, plan));
    v1_cpu(l.cpu, plan);
    if (l.pids_limit && *l.pids_limit != 0)
        plan.add("pids", "pids.max", *l.pids_limit < 0 ? "max" : num(*l.pids_limit));
    v1_blkio(l.block_io, facts, plan);
    for (const auto& h : l.hugepages)
        plan.add("hugetlb", "hugetlb." + h.page_size + ".limit_in_bytes", num(h.limit));
    if (l.net_class_id)
        plan.add("net_cls", "net_cls.classid", num(uint64_t { *l.net_class_id }));
    for (const auto& p : l.net_priorities) {
        TRY(check_token("linux.resources.network.priorities", p.name));
        plan.add("net_prio", "net_prio.ifpriomap", p.name + " " + num(uint64_t { p.priority }));
    }
    for (const auto& [dev, r] : l.rdma) {
        if (!r.hca_handles && !r.hca_objects)
            continue;
        plan.add("rdma", "rdma.max", TRY(rdma_line(dev, r)));
    }
    return plan.done();
}

Result<WritePlan> v2_writes(const Limits& l, const HostFacts& facts)
{
    TRY(check_hugepages(l));
    if (l.net_class_id || !l.net_priorities.empty())
        return fail("linux.resources.network: net_cls and net_prio are cgroup v1 controllers; "
                    "cgroup v2 has no equivalent");
    Plan plan;
    if (!l.cpu.cpus.empty())
        plan.add("cpuset", "cpuset.cpus", l.cpu.cpus);
    if (!l.cpu.mems.empty())
        plan.add("cpuset", "cpuset.mems", l.cpu.mems);
    TRY(v2_memory(l.memory, plan));
    TRY(v2_cpu(l.cpu, plan));
    if (l.pids_limit && *l.pids_limit != 0)
        plan.add("pids", "pids.max", v2_num(*l.pids_limit));
    v2_io(l.block_io, facts, plan);
    for (const auto& h : l.hugepages) {
        plan.add("hugetlb", "hugetlb." + h.page_size + ".max", num(h.limit));
        // Reservations are limited alike where the kernel accounts them (5.7+), so that
        // a mapping cannot reserve pages that faulting in would then fail on.
        plan.add("hugetlb", "hugetlb." + h.page_size + ".rsvd.max", num(h.limit));
        plan.last().skip_if_missing = true;
    }
    for (const auto& [dev, r] : l.rdma) {
        if (!r.hca_handles && !r.hca_objects)
            continue;
        plan.add("rdma", "rdma.max", TRY(rdma_line(dev, r)));
    }
    // Last, so that a key naming a file set above wins, as the spec's "unified" intends.
    for (const auto& [file, value] : l.unified) {
        if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos)
            return fail("linux.resources.unified[\"" + file + "\"]: must be a file name in the cgroup directory");
        plan.add(v2_controller_of(file), file, value);
    }
    return plan.done();
}

std::string device_rule_line(const DeviceRule& rule)
{
    auto num = [](int64_t v) { return v < 0 ? std::string("*") : std::to_string(v); };
    if (rule.type == 'a')
        return "a *:* " + rule.access;
    return std::string(1, rule.type) + " " + num(rule.major) + ":" + num(rule.minor) + " " + rule.access;
}

} // namespace husk::cgroups
