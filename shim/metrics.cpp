// See metrics.hpp for what maps to what.
#include "shim/metrics.hpp"

#include "common/json_error.hpp"

#include "github.com/containerd/cgroups/stats/v1/metrics.pb.h"
#include "github.com/containerd/cgroups/v2/stats/metrics.pb.h"

#include <cctype>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace husk::shim {

namespace {

using json = nlohmann::json;
namespace pb1 = ::io::containerd::cgroups::v1;
namespace pb2 = ::io::containerd::cgroups::v2;

std::string describe(const json& v)
{
    if (v.is_number_integer() && !v.is_number_unsigned())
        return "negative number " + v.dump();
    if (v.is_number_float())
        return "number " + v.dump();
    return v.type_name();
}

// A value inside the stats document and where it is ("data.memory.usage"), so that every
// error names the field it is about.
class Node {
public:
    Node(const json& value, std::string path) : m_value(&value), m_path(std::move(path)) {}

    const json& value() const { return *m_value; }
    const std::string& path() const { return m_path; }

    Result<uint64_t> as_number() const
    {
        // nlohmann keeps every non-negative integer that fits in 64 bits as unsigned.
        if (!m_value->is_number_unsigned())
            return fail(m_path + ": expected a non-negative integer, got " + describe(*m_value));
        return m_value->get<uint64_t>();
    }

    // The member `key`, or nullopt when it is absent or null (Go prints nil as null).
    std::optional<Node> member(std::string_view key) const
    {
        auto it = m_value->find(key);
        if (it == m_value->end() || it->is_null())
            return std::nullopt;
        return Node(*it, m_path.empty() ? std::string(key) : m_path + "." + std::string(key));
    }

    Result<std::optional<Node>> object(std::string_view key) const
    {
        auto m = member(key);
        if (m && !m->value().is_object())
            return fail(m->path() + ": expected an object, got " + describe(m->value()));
        return m;
    }

    Result<std::optional<uint64_t>> number(std::string_view key) const
    {
        auto m = member(key);
        if (!m)
            return std::optional<uint64_t>();
        return TRY(m->as_number());
    }

    // Calls set(value) when `key` is there.
    template <typename Set>
    Result<> number(std::string_view key, Set&& set) const
    {
        if (auto v = TRY(number(key)))
            set(*v);
        return {};
    }

    Result<std::optional<std::string>> string(std::string_view key) const
    {
        auto m = member(key);
        if (!m)
            return std::optional<std::string>();
        if (!m->value().is_string())
            return fail(m->path() + ": expected a string, got " + describe(m->value()));
        return m->value().get<std::string>();
    }

    // The elements of the array at `key`; none when it is absent or null.
    Result<std::vector<Node>> array(std::string_view key) const
    {
        std::vector<Node> out;
        auto m = member(key);
        if (!m)
            return out;
        if (!m->value().is_array())
            return fail(m->path() + ": expected an array, got " + describe(m->value()));
        for (std::size_t i = 0; i < m->value().size(); ++i)
            out.emplace_back(m->value()[i], m->path() + "[" + std::to_string(i) + "]");
        return out;
    }

    // The members of this object, each of which must be an object (hugetlb's page sizes).
    Result<std::vector<std::pair<std::string, Node>>> object_members() const
    {
        std::vector<std::pair<std::string, Node>> out;
        for (auto it = m_value->begin(); it != m_value->end(); ++it) {
            if (it->is_null())
                continue;
            Node n(*it, m_path + "." + it.key());
            if (!it->is_object())
                return fail(n.path() + ": expected an object, got " + describe(*it));
            out.emplace_back(it.key(), std::move(n));
        }
        return out;
    }

private:
    const json* m_value;
    std::string m_path;
};

Result<json> parse_document(std::string_view text)
{
    json doc = json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded()) {
        return fail("invalid JSON: " + json_error_detail(text));
    }
    if (!doc.is_object())
        return fail("expected a JSON object, got " + describe(doc));
    return doc;
}

// The event's "data", after checking that it is a stats event.
Result<Node> stats_data(const json& doc)
{
    Node root(doc, "");
    auto type = TRY(root.string("type"));
    if (!type)
        return fail("no \"type\": not an `events` object");
    if (*type != "stats")
        return fail("a \"" + *type + "\" event, not \"stats\"");
    auto it = doc.find("data");
    if (it == doc.end() || it->is_null())
        return fail("the stats event has no \"data\"");
    if (!it->is_object())
        return fail("data: expected an object, got " + describe(*it));
    return Node(*it, "data");
}

// ---- cgroup v1 ------------------------------------------------------------------------------

Result<> pids_v1(const Node& data, pb1::Metrics& m)
{
    auto pids = TRY(data.object("pids"));
    if (!pids)
        return {};
    auto* out = m.mutable_pids();
    TRY(pids->number("current", [&](uint64_t v) { out->set_current(v); }));
    TRY(pids->number("limit", [&](uint64_t v) { out->set_limit(v); }));
    return {};
}

Result<> cpu_v1(const Node& data, pb1::Metrics& m)
{
    auto cpu = TRY(data.object("cpu"));
    if (!cpu)
        return {};
    auto* usage = m.mutable_cpu()->mutable_usage();
    auto* throttling = m.mutable_cpu()->mutable_throttling();
    if (auto u = TRY(cpu->object("usage"))) {
        TRY(u->number("total", [&](uint64_t v) { usage->set_total(v); }));
        TRY(u->number("kernel", [&](uint64_t v) { usage->set_kernel(v); }));
        TRY(u->number("user", [&](uint64_t v) { usage->set_user(v); }));
        for (const Node& n : TRY(u->array("percpu")))
            usage->add_per_cpu(TRY(n.as_number()));
    }
    if (auto t = TRY(cpu->object("throttling"))) {
        TRY(t->number("periods", [&](uint64_t v) { throttling->set_periods(v); }));
        TRY(t->number("throttledPeriods", [&](uint64_t v) { throttling->set_throttled_periods(v); }));
        TRY(t->number("throttledTime", [&](uint64_t v) { throttling->set_throttled_time(v); }));
    }
    return {};
}

// memory.stat (v1) keys and the MemoryStat fields they fill.
using V1MemorySetter = void (pb1::MemoryStat::*)(uint64_t);
const std::pair<const char*, V1MemorySetter> v1_memory_stat[] = {
    { "cache", &pb1::MemoryStat::set_cache },
    { "rss", &pb1::MemoryStat::set_rss },
    { "rss_huge", &pb1::MemoryStat::set_rss_huge },
    { "mapped_file", &pb1::MemoryStat::set_mapped_file },
    { "dirty", &pb1::MemoryStat::set_dirty },
    { "writeback", &pb1::MemoryStat::set_writeback },
    { "pgpgin", &pb1::MemoryStat::set_pg_pg_in },
    { "pgpgout", &pb1::MemoryStat::set_pg_pg_out },
    { "pgfault", &pb1::MemoryStat::set_pg_fault },
    { "pgmajfault", &pb1::MemoryStat::set_pg_maj_fault },
    { "inactive_anon", &pb1::MemoryStat::set_inactive_anon },
    { "active_anon", &pb1::MemoryStat::set_active_anon },
    { "inactive_file", &pb1::MemoryStat::set_inactive_file },
    { "active_file", &pb1::MemoryStat::set_active_file },
    { "unevictable", &pb1::MemoryStat::set_unevictable },
    { "hierarchical_memory_limit", &pb1::MemoryStat::set_hierarchical_memory_limit },
    { "hierarchical_memsw_limit", &pb1::MemoryStat::set_hierarchical_swap_limit },
    { "total_cache", &pb1::MemoryStat::set_total_cache },
    { "total_rss", &pb1::MemoryStat::set_total_rss },
    { "total_rss_huge", &pb1::MemoryStat::set_total_rss_huge },
    { "total_mapped_file", &pb1::MemoryStat::set_total_mapped_file },
    { "total_dirty", &pb1::MemoryStat::set_total_dirty },
    { "total_writeback", &pb1::MemoryStat::set_total_writeback },
    { "total_pgpgin", &pb1::MemoryStat::set_total_pg_pg_in },
    { "total_pgpgout", &pb1::MemoryStat::set_total_pg_pg_out },
    { "total_pgfault", &pb1::MemoryStat::set_total_pg_fault },
    { "total_pgmajfault", &pb1::MemoryStat::set_total_pg_maj_fault },
    { "total_inactive_anon", &pb1::MemoryStat::set_total_inactive_anon },
    { "total_active_anon", &pb1::MemoryStat::set_total_active_anon },
    { "total_inactive_file", &pb1::MemoryStat::set_total_inactive_file },
    { "total_active_file", &pb1::MemoryStat::set_total_active_file },
    { "total_unevictable", &pb1::MemoryStat::set_total_unevictable },
};

Result<> memory_entry_v1(const Node& memory, std::string_view key, pb1::MemoryEntry* out)
{
    auto e = TRY(memory.object(key));
    if (!e)
        return {};
    TRY(e->number("limit", [&](uint64_t v) { out->set_limit(v); }));
    TRY(e->number("usage", [&](uint64_t v) { out->set_usage(v); }));
    TRY(e->number("max", [&](uint64_t v) { out->set_max(v); }));
    TRY(e->number("failcnt", [&](uint64_t v) { out->set_failcnt(v); }));
    return {};
}

Result<> memory_v1(const Node& data, pb1::Metrics& m)
{
    auto memory = TRY(data.object("memory"));
    if (!memory)
        return {};
    auto* out = m.mutable_memory();
    TRY(memory_entry_v1(*memory, "usage", out->mutable_usage()));
    TRY(memory_entry_v1(*memory, "swap", out->mutable_swap()));
    TRY(memory_entry_v1(*memory, "kernel", out->mutable_kernel()));
    TRY(memory_entry_v1(*memory, "kernelTCP", out->mutable_kernel_tcp()));
    TRY(memory->number("cache", [&](uint64_t v) { out->set_cache(v); }));
    if (auto raw = TRY(memory->object("raw")))
        for (const auto& [key, set] : v1_memory_stat)
            TRY(raw->number(key, [&, set = set](uint64_t v) { (out->*set)(v); }));
    return {};
}

using V1BlkioList = pb1::BlkIOEntry* (pb1::BlkIOStat::*)();
const std::pair<const char*, V1BlkioList> v1_blkio_lists[] = {
    { "ioServiceBytesRecursive", &pb1::BlkIOStat::add_io_service_bytes_recursive },
    { "ioServicedRecursive", &pb1::BlkIOStat::add_io_serviced_recursive },
    { "ioQueueRecursive", &pb1::BlkIOStat::add_io_queued_recursive },
    { "ioServiceTimeRecursive", &pb1::BlkIOStat::add_io_service_time_recursive },
    { "ioWaitTimeRecursive", &pb1::BlkIOStat::add_io_wait_time_recursive },
    { "ioMergedRecursive", &pb1::BlkIOStat::add_io_merged_recursive },
    { "ioTimeRecursive", &pb1::BlkIOStat::add_io_time_recursive },
    { "sectorsRecursive", &pb1::BlkIOStat::add_sectors_recursive },
};

Result<> blkio_v1(const Node& data, pb1::Metrics& m)
{
    auto blkio = TRY(data.object("blkio"));
    if (!blkio)
        return {};
    auto* out = m.mutable_blkio();
    for (const auto& [key, add] : v1_blkio_lists) {
        for (const Node& n : TRY(blkio->array(key))) {
            if (!n.value().is_object())
                return fail(n.path() + ": expected an object, got " + describe(n.value()));
            pb1::BlkIOEntry* e = (out->*add)();
            TRY(n.number("major", [&](uint64_t v) { e->set_major(v); }));
            TRY(n.number("minor", [&](uint64_t v) { e->set_minor(v); }));
            if (auto op = TRY(n.string("op")))
                e->set_op(*op);
            TRY(n.number("value", [&](uint64_t v) { e->set_value(v); }));
        }
    }
    return {};
}

Result<> hugetlb_v1(const Node& data, pb1::Metrics& m)
{
    auto hugetlb = TRY(data.object("hugetlb"));
    if (!hugetlb)
        return {};
    for (const auto& [size, n] : TRY(hugetlb->object_members())) {
        auto* e = m.add_hugetlb();
        e->set_pagesize(size);
        TRY(n.number("usage", [&](uint64_t v) { e->set_usage(v); }));
        TRY(n.number("max", [&](uint64_t v) { e->set_max(v); }));
        TRY(n.number("failcnt", [&](uint64_t v) { e->set_failcnt(v); }));
    }
    return {};
}

Result<std::string> convert_v1(const Node& data)
{
    pb1::Metrics m;
    TRY(pids_v1(data, m));
    TRY(cpu_v1(data, m));
    TRY(memory_v1(data, m));
    TRY(blkio_v1(data, m));
    TRY(hugetlb_v1(data, m));
    std::string out;
    if (!m.SerializeToString(&out))
        return fail("could not serialize " + std::string(metrics_v1_type_url));
    return out;
}

// ---- cgroup v2 ------------------------------------------------------------------------------

constexpr uint64_t unlimited = UINT64_MAX;

uint64_t minus(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

Result<> pids_v2(const Node& data, pb2::Metrics& m)
{
    auto pids = TRY(data.object("pids"));
    if (!pids)
        return {};
    auto* out = m.mutable_pids();
    TRY(pids->number("current", [&](uint64_t v) { out->set_current(v); }));
    TRY(pids->number("limit", [&](uint64_t v) { out->set_limit(v); }));
    return {};
}

Result<> cpu_v2(const Node& data, pb2::Metrics& m)
{
    auto cpu = TRY(data.object("cpu"));
    if (!cpu)
        return {};
    auto* out = m.mutable_cpu();
    // The JSON has nanoseconds (cpu.stat's microseconds times 1000); the message, microseconds.
    if (auto u = TRY(cpu->object("usage"))) {
        TRY(u->number("total", [&](uint64_t v) { out->set_usage_usec(v / 1000); }));
        TRY(u->number("user", [&](uint64_t v) { out->set_user_usec(v / 1000); }));
        TRY(u->number("kernel", [&](uint64_t v) { out->set_system_usec(v / 1000); }));
    }
    if (auto t = TRY(cpu->object("throttling"))) {
        TRY(t->number("periods", [&](uint64_t v) { out->set_nr_periods(v); }));
        TRY(t->number("throttledPeriods", [&](uint64_t v) { out->set_nr_throttled(v); }));
        TRY(t->number("throttledTime", [&](uint64_t v) { out->set_throttled_usec(v / 1000); }));
    }
    return {};
}

// memory.stat (v2) keys and the MemoryStat fields they fill: the message uses the kernel's names.
using V2MemorySetter = void (pb2::MemoryStat::*)(uint64_t);
const std::pair<const char*, V2MemorySetter> v2_memory_stat[] = {
    { "anon", &pb2::MemoryStat::set_anon },
    { "file", &pb2::MemoryStat::set_file },
    { "kernel_stack", &pb2::MemoryStat::set_kernel_stack },
    { "slab", &pb2::MemoryStat::set_slab },
    { "sock", &pb2::MemoryStat::set_sock },
    { "shmem", &pb2::MemoryStat::set_shmem },
    { "file_mapped", &pb2::MemoryStat::set_file_mapped },
    { "file_dirty", &pb2::MemoryStat::set_file_dirty },
    { "file_writeback", &pb2::MemoryStat::set_file_writeback },
    { "anon_thp", &pb2::MemoryStat::set_anon_thp },
    { "inactive_anon", &pb2::MemoryStat::set_inactive_anon },
    { "active_anon", &pb2::MemoryStat::set_active_anon },
    { "inactive_file", &pb2::MemoryStat::set_inactive_file },
    { "active_file", &pb2::MemoryStat::set_active_file },
    { "unevictable", &pb2::MemoryStat::set_unevictable },
    { "slab_reclaimable", &pb2::MemoryStat::set_slab_reclaimable },
    { "slab_unreclaimable", &pb2::MemoryStat::set_slab_unreclaimable },
    { "pgfault", &pb2::MemoryStat::set_pgfault },
    { "pgmajfault", &pb2::MemoryStat::set_pgmajfault },
    { "workingset_refault", &pb2::MemoryStat::set_workingset_refault },
    { "workingset_activate", &pb2::MemoryStat::set_workingset_activate },
    { "workingset_nodereclaim", &pb2::MemoryStat::set_workingset_nodereclaim },
    { "pgrefill", &pb2::MemoryStat::set_pgrefill },
    { "pgscan", &pb2::MemoryStat::set_pgscan },
    { "pgsteal", &pb2::MemoryStat::set_pgsteal },
    { "pgactivate", &pb2::MemoryStat::set_pgactivate },
    { "pgdeactivate", &pb2::MemoryStat::set_pgdeactivate },
    { "pglazyfree", &pb2::MemoryStat::set_pglazyfree },
    { "pglazyfreed", &pb2::MemoryStat::set_pglazyfreed },
    { "thp_fault_alloc", &pb2::MemoryStat::set_thp_fault_alloc },
    { "thp_collapse_alloc", &pb2::MemoryStat::set_thp_collapse_alloc },
};

Result<> memory_v2(const Node& data, pb2::Metrics& m)
{
    auto memory = TRY(data.object("memory"));
    if (!memory)
        return {};
    auto* out = m.mutable_memory();
    // memory.cache is memory.stat's "file"; raw, when there, says the same.
    TRY(memory->number("cache", [&](uint64_t v) { out->set_file(v); }));
    if (auto raw = TRY(memory->object("raw"))) {
        for (const auto& [key, set] : v2_memory_stat)
            TRY(raw->number(key, [&, set = set](uint64_t v) { (out->*set)(v); }));
        // Since Linux 5.9 memory.stat splits these two into _anon and _file; the message has
        // only the total, which is their sum.
        for (const auto& [key, set] : { std::pair{ "workingset_refault", &pb2::MemoryStat::set_workingset_refault },
                                        std::pair{ "workingset_activate", &pb2::MemoryStat::set_workingset_activate } }) {
            if (raw->member(key))
                continue;
            auto anon = TRY(raw->number(std::string(key) + "_anon"));
            auto file = TRY(raw->number(std::string(key) + "_file"));
            if (anon || file)
                (out->*set)(anon.value_or(0) + file.value_or(0));
        }
    }

    uint64_t usage = 0, limit = 0;
    if (auto u = TRY(memory->object("usage"))) {
        usage = TRY(u->number("usage")).value_or(0);
        limit = TRY(u->number("limit")).value_or(0);
    }
    out->set_usage(usage);
    out->set_usage_limit(limit);
    // memory.swap counts memory and swap together (as v1's memsw does); the message wants
    // swap alone. A cgroup without swap files has {"limit":0} here, which gives 0 and 0, what
    // containerd reports when memory.swap.* are missing.
    if (auto s = TRY(memory->object("swap"))) {
        uint64_t swap_usage = TRY(s->number("usage")).value_or(0);
        uint64_t swap_limit = TRY(s->number("limit")).value_or(0);
        out->set_swap_usage(minus(swap_usage, usage));
        out->set_swap_limit(swap_limit == unlimited ? unlimited : minus(swap_limit, limit));
    }
    return {};
}

bool op_is(const std::string& op, std::string_view name)
{
    if (op.size() != name.size())
        return false;
    for (std::size_t i = 0; i < op.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(op[i])) != std::tolower(static_cast<unsigned char>(name[i])))
            return false;
    return true;
}

Result<> io_v2(const Node& data, pb2::Metrics& m)
{
    auto blkio = TRY(data.object("blkio"));
    if (!blkio)
        return {};
    auto* out = m.mutable_io();
    std::map<std::pair<uint64_t, uint64_t>, pb2::IOEntry*> by_device;
    auto entry = [&](uint64_t major, uint64_t minor) {
        auto& e = by_device[{ major, minor }];
        if (!e) {
            e = out->add_usage();
            e->set_major(major);
            e->set_minor(minor);
        }
        return e;
    };
    using Set = void (pb2::IOEntry::*)(uint64_t);
    const struct {
        const char* list;
        Set read, write;
    } lists[] = {
        { "ioServiceBytesRecursive", &pb2::IOEntry::set_rbytes, &pb2::IOEntry::set_wbytes },
        { "ioServicedRecursive", &pb2::IOEntry::set_rios, &pb2::IOEntry::set_wios },
    };
    for (const auto& l : lists) {
        for (const Node& n : TRY(blkio->array(l.list))) {
            if (!n.value().is_object())
                return fail(n.path() + ": expected an object, got " + describe(n.value()));
            uint64_t major = TRY(n.number("major")).value_or(0);
            uint64_t minor = TRY(n.number("minor")).value_or(0);
            std::string op = TRY(n.string("op")).value_or("");
            uint64_t value = TRY(n.number("value")).value_or(0);
            // io.stat has read and write counters only; other ops (none from v2) are dropped.
            if (op_is(op, "Read"))
                (entry(major, minor)->*l.read)(value);
            else if (op_is(op, "Write"))
                (entry(major, minor)->*l.write)(value);
        }
    }
    return {};
}

Result<> hugetlb_v2(const Node& data, pb2::Metrics& m)
{
    auto hugetlb = TRY(data.object("hugetlb"));
    if (!hugetlb)
        return {};
    for (const auto& [size, n] : TRY(hugetlb->object_members())) {
        auto* e = m.add_hugetlb();
        e->set_pagesize(size);
        TRY(n.number("usage", [&](uint64_t v) { e->set_current(v); }));
        TRY(n.number("max", [&](uint64_t v) { e->set_max(v); }));
    }
    return {};
}

Result<std::string> convert_v2(const Node& data)
{
    pb2::Metrics m;
    TRY(pids_v2(data, m));
    TRY(cpu_v2(data, m));
    TRY(memory_v2(data, m));
    TRY(io_v2(data, m));
    TRY(hugetlb_v2(data, m));
    std::string out;
    if (!m.SerializeToString(&out))
        return fail("could not serialize " + std::string(metrics_v2_type_url));
    return out;
}

Result<ttrpc::AnyMessage> convert(std::string_view events_json, CgroupMode mode)
{
    json doc = TRY(parse_document(events_json));
    Node data = TRY(stats_data(doc));
    if (mode == CgroupMode::v1)
        return ttrpc::AnyMessage{ std::string(metrics_v1_type_url), TRY(convert_v1(data)) };
    return ttrpc::AnyMessage{ std::string(metrics_v2_type_url), TRY(convert_v2(data)) };
}

} // namespace

Result<ttrpc::AnyMessage> metrics_from_stats(std::string_view events_json, CgroupMode mode)
{
    auto r = convert(events_json, mode);
    if (!r)
        r.error().prefix(mode == CgroupMode::v1 ? "stats to cgroup v1 metrics" : "stats to cgroup v2 metrics");
    return r;
}

} // namespace husk::shim
