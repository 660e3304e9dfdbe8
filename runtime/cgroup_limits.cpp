// spec::Resources -> cgroups::Limits: a field-by-field copy. Values are passed on as
// written; what they mean for v1 or v2 (zero as "unset", -1 as "max") is decided in
// cgroups/resources.cpp, in one place.
#include "runtime/cgroup_limits.hpp"

namespace husk {

namespace {

std::vector<cgroups::ThrottleDevice> throttles(const std::vector<spec::BlockIoThrottleDevice>& in)
{
    std::vector<cgroups::ThrottleDevice> out;
    out.reserve(in.size());
    for (const auto& d : in)
        out.push_back(cgroups::ThrottleDevice { d.major, d.minor, d.rate });
    return out;
}

} // namespace

std::vector<cgroups::DeviceRule> device_rules(const spec::Config& config)
{
    std::vector<cgroups::DeviceRule> out;
    for (const auto& d : config.linux.resources.devices)
        out.push_back({ d.allow, d.type, d.major.value_or(-1), d.minor.value_or(-1), d.access });
    static const cgroups::DeviceRule always[] = {
        { true, 'c', -1, -1, "m" }, { true, 'b', -1, -1, "m" },   // mknod of anything
        { true, 'c', 1, 3, "rwm" }, { true, 'c', 1, 5, "rwm" },   // null, zero
        { true, 'c', 1, 7, "rwm" }, { true, 'c', 1, 8, "rwm" },   // full, random
        { true, 'c', 1, 9, "rwm" }, { true, 'c', 5, 0, "rwm" },   // urandom, tty
        { true, 'c', 5, 1, "rwm" }, { true, 'c', 5, 2, "rwm" },   // console, ptmx
        { true, 'c', 136, -1, "rwm" }, { true, 'c', 10, 200, "rwm" }, // pts, tun
    };
    out.insert(out.end(), std::begin(always), std::end(always));
    for (const auto& d : config.linux.devices)
        if (d.type == 'c' || d.type == 'b' || d.type == 'u')
            out.push_back({ true, d.type == 'b' ? 'b' : 'c', d.major, d.minor, "rwm" });
    return out;
}

cgroups::Limits to_limits(const spec::Resources& r)
{
    cgroups::Limits l;
    auto& m = l.memory;
    m.limit = r.memory_limit;
    m.reservation = r.memory_reservation;
    m.swap = r.memory_swap;
    m.kernel = r.memory_kernel;
    m.kernel_tcp = r.memory_kernel_tcp;
    m.swappiness = r.memory_swappiness;
    m.disable_oom_killer = r.memory_disable_oom_killer.value_or(false);
    m.use_hierarchy = r.memory_use_hierarchy;
    m.check_before_update = r.memory_check_before_update.value_or(false);

    auto& c = l.cpu;
    c.shares = r.cpu_shares;
    c.quota = r.cpu_quota;
    c.burst = r.cpu_burst;
    c.period = r.cpu_period;
    c.realtime_runtime = r.cpu_realtime_runtime;
    c.realtime_period = r.cpu_realtime_period;
    c.cpus = r.cpu_cpus;
    c.mems = r.cpu_mems;
    c.idle = r.cpu_idle;

    l.pids_limit = r.pids_limit;

    auto& b = l.block_io;
    b.weight = r.blkio_weight;
    b.leaf_weight = r.blkio_leaf_weight;
    for (const auto& d : r.blkio_weight_device)
        b.weight_device.push_back(cgroups::WeightDevice { d.major, d.minor, d.weight, d.leaf_weight });
    b.throttle_read_bps = throttles(r.blkio_throttle_read_bps_device);
    b.throttle_write_bps = throttles(r.blkio_throttle_write_bps_device);
    b.throttle_read_iops = throttles(r.blkio_throttle_read_iops_device);
    b.throttle_write_iops = throttles(r.blkio_throttle_write_iops_device);

    for (const auto& h : r.hugepage_limits)
        l.hugepages.push_back(cgroups::HugepageLimit { h.page_size, h.limit });
    l.net_class_id = r.network_class_id;
    for (const auto& p : r.network_priorities)
        l.net_priorities.push_back(cgroups::InterfacePriority { p.name, p.priority });
    for (const auto& [dev, rd] : r.rdma)
        l.rdma[dev] = cgroups::RdmaLimit { rd.hca_handles, rd.hca_objects };
    l.unified = r.unified;
    return l;
}

} // namespace husk
