// See events.hpp. ordered_json keeps runc's key order, so the output reads the same.
#include "runtime/events/events.hpp"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace husk::events {

namespace {

using json = nlohmann::ordered_json;

// Go's encoding/json with omitempty: a zero number or empty list is left out.
void put_nonzero(json& obj, const char* key, uint64_t v)
{
    if (v != 0)
        obj[key] = v;
}

void put_list(json& obj, const char* key, const std::vector<uint64_t>& v)
{
    if (!v.empty())
        obj[key] = v;
}

json memory_entry(const cgroups::MemoryEntry& e)
{
    json o = json::object();
    o["limit"] = e.limit;
    put_nonzero(o, "usage", e.usage);
    put_nonzero(o, "max", e.max);
    o["failcnt"] = e.failcnt;
    return o;
}

void put_blkio(json& obj, const char* key, const std::vector<cgroups::BlkioEntry>& list)
{
    if (list.empty())
        return;
    json arr = json::array();
    for (const auto& e : list) {
        json o = json::object();
        put_nonzero(o, "major", e.major);
        put_nonzero(o, "minor", e.minor);
        if (!e.op.empty())
            o["op"] = e.op;
        put_nonzero(o, "value", e.value);
        arr.push_back(std::move(o));
    }
    obj[key] = std::move(arr);
}

} // namespace

std::string stats_event(const std::string& id, const cgroups::Stats& s)
{
    json usage = json::object();
    put_nonzero(usage, "total", s.cpu.total);
    put_list(usage, "percpu", s.cpu.percpu);
    put_list(usage, "percpu_kernel", s.cpu.percpu_kernel);
    put_list(usage, "percpu_user", s.cpu.percpu_user);
    usage["kernel"] = s.cpu.kernel;
    usage["user"] = s.cpu.user;
    json throttling = json::object();
    put_nonzero(throttling, "periods", s.cpu.periods);
    put_nonzero(throttling, "throttledPeriods", s.cpu.throttled_periods);
    put_nonzero(throttling, "throttledTime", s.cpu.throttled_time);

    json cpuset = json::object();
    put_list(cpuset, "cpus", s.cpuset.cpus);
    put_list(cpuset, "mems", s.cpuset.mems);

    json memory = json::object();
    put_nonzero(memory, "cache", s.memory.cache);
    memory["usage"] = memory_entry(s.memory.usage);
    memory["swap"] = memory_entry(s.memory.swap);
    memory["kernel"] = memory_entry(s.memory.kernel);
    memory["kernelTCP"] = memory_entry(s.memory.kernel_tcp);
    if (!s.memory.raw.empty()) {
        json raw = json::object();
        for (const auto& [k, v] : s.memory.raw)
            raw[k] = v;
        memory["raw"] = std::move(raw);
    }

    json pids = json::object();
    put_nonzero(pids, "current", s.pids.current);
    put_nonzero(pids, "limit", s.pids.limit);

    json blkio = json::object();
    put_blkio(blkio, "ioServiceBytesRecursive", s.blkio.service_bytes);
    put_blkio(blkio, "ioServicedRecursive", s.blkio.serviced);
    put_blkio(blkio, "ioQueueRecursive", s.blkio.queued);
    put_blkio(blkio, "ioServiceTimeRecursive", s.blkio.service_time);
    put_blkio(blkio, "ioWaitTimeRecursive", s.blkio.wait_time);
    put_blkio(blkio, "ioMergedRecursive", s.blkio.merged);
    put_blkio(blkio, "ioTimeRecursive", s.blkio.time);
    put_blkio(blkio, "sectorsRecursive", s.blkio.sectors);

    json hugetlb = json::object();
    for (const auto& [size, h] : s.hugetlb) {
        json o = json::object();
        put_nonzero(o, "usage", h.usage);
        put_nonzero(o, "max", h.max);
        o["failcnt"] = h.failcnt;
        hugetlb[size] = std::move(o);
    }

    json data = json::object();
    data["cpu"] = { { "usage", std::move(usage) }, { "throttling", std::move(throttling) } };
    data["cpuset"] = std::move(cpuset);
    data["memory"] = std::move(memory);
    data["pids"] = std::move(pids);
    data["blkio"] = std::move(blkio);
    data["hugetlb"] = std::move(hugetlb);
    data["intel_rdt"] = json::object();
    data["network_interfaces"] = nullptr;

    json ev = json::object();
    ev["type"] = "stats";
    ev["id"] = id;
    ev["data"] = std::move(data);
    return ev.dump();
}

std::string oom_event(const std::string& id)
{
    json ev = json::object();
    ev["type"] = "oom";
    ev["id"] = id;
    return ev.dump();
}

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text)
{
    if (text.empty())
        return std::nullopt;
    if (text == "0")
        return std::chrono::nanoseconds(0);
    static const std::pair<std::string_view, double> units[] = {
        { "ns", 1 }, { "us", 1e3 }, { "µs", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
    };
    double total = 0;
    while (!text.empty()) {
        size_t i = 0;
        while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.'))
            ++i;
        if (i == 0)
            return std::nullopt;
        double v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + i, v);
        if (ec != std::errc() || end != text.data() + i)
            return std::nullopt;
        text.remove_prefix(i);
        // The longest unit that matches ("ms" before "m").
        const std::pair<std::string_view, double>* unit = nullptr;
        for (const auto& u : units)
            if (text.starts_with(u.first) && (!unit || u.first.size() > unit->first.size()))
                unit = &u;
        if (!unit)
            return std::nullopt;
        text.remove_prefix(unit->first.size());
        total += v * unit->second;
    }
    if (!std::isfinite(total) || total > 9.2e18)
        return std::nullopt;
    return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

} // namespace husk::events
