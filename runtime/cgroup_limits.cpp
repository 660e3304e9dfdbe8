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
