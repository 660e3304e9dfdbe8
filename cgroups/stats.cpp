// Reading a cgroup's usage (see stats.hpp). Units follow runc's events output: cpu times in
// nanoseconds (v1 cpuacct.stat ticks and v2 microseconds converted), memory in bytes.
#include "cgroups/stats.hpp"

#include "common/fs.hpp"

#include <charconv>
#include <dirent.h>
#include <unistd.h>

namespace husk::cgroups {

namespace {

std::vector<std::string_view> lines_of(std::string_view text)
{
    std::vector<std::string_view> out;
    while (!text.empty()) {
        auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        if (!line.empty())
            out.push_back(line);
        if (nl == std::string_view::npos)
            break;
        text.remove_prefix(nl + 1);
    }
    return out;
}

std::vector<std::string_view> fields_of(std::string_view line)
{
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
            ++i;
        size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t')
            ++i;
        if (i > start)
            out.push_back(line.substr(start, i - start));
    }
    return out;
}

std::optional<uint64_t> number(std::string_view s)
{
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty())
        return std::nullopt;
    return v;
}

// "8:0" -> major, minor.
bool device_of(std::string_view s, uint64_t& major, uint64_t& minor)
{
    auto colon = s.find(':');
    if (colon == std::string_view::npos)
        return false;
    auto ma = number(s.substr(0, colon));
    auto mi = number(s.substr(colon + 1));
    if (!ma || !mi)
        return false;
    major = *ma;
    minor = *mi;
    return true;
}

// The value of one cgroup file, 0 when absent or not a number ("max" is UINT64_MAX).
uint64_t value_of(const std::string& path)
{
    auto text = fs::read_file(path);
    if (!text)
        return 0;
    std::string_view v = *text;
    while (!v.empty() && (v.back() == '\n' || v.back() == ' '))
        v.remove_suffix(1);
    return parse_value(v).value_or(0);
}

std::string text_of(const std::string& path)
{
    auto text = fs::read_file(path);
    return text ? *text : std::string();
}

uint64_t get(const std::map<std::string, uint64_t>& m, const char* key)
{
    auto it = m.find(key);
    return it == m.end() ? 0 : it->second;
}

// v1 memory.*, memory.memsw.*, memory.kmem.*: one entry.
MemoryEntry v1_memory_entry(const std::string& dir, const std::string& prefix)
{
    MemoryEntry e;
    e.usage = value_of(dir + "/" + prefix + "usage_in_bytes");
    e.max = value_of(dir + "/" + prefix + "max_usage_in_bytes");
    e.failcnt = value_of(dir + "/" + prefix + "failcnt");
    e.limit = value_of(dir + "/" + prefix + "limit_in_bytes");
    return e;
}

const std::string* dir_for(const std::map<std::string, std::string>& dirs, const char* controller)
{
    auto it = dirs.find(controller);
    return it == dirs.end() ? nullptr : &it->second;
}

} // namespace

std::optional<uint64_t> parse_value(std::string_view text)
{
    if (text == "max")
        return UINT64_MAX;
    return number(text);
}

std::map<std::string, uint64_t> parse_flat_keyed(std::string_view text)
{
    std::map<std::string, uint64_t> out;
    for (auto line : lines_of(text)) {
        auto f = fields_of(line);
        if (f.size() != 2)
            continue;
        if (auto v = parse_value(f[1]))
            out[std::string(f[0])] = *v;
    }
    return out;
}

std::vector<uint64_t> parse_numbers(std::string_view text)
{
    std::vector<uint64_t> out;
    for (auto line : lines_of(text))
        for (auto f : fields_of(line))
            if (auto v = number(f))
                out.push_back(*v);
    return out;
}

std::vector<uint64_t> parse_cpu_list(std::string_view text)
{
    std::vector<uint64_t> out;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.remove_suffix(1);
    while (!text.empty()) {
        auto comma = text.find(',');
        auto part = text.substr(0, comma);
        auto dash = part.find('-');
        auto lo = number(part.substr(0, dash));
        auto hi = dash == std::string_view::npos ? lo : number(part.substr(dash + 1));
        if (lo && hi && *lo <= *hi && *hi - *lo < 65536)
            for (uint64_t i = *lo; i <= *hi; ++i)
                out.push_back(i);
        if (comma == std::string_view::npos)
            break;
        text.remove_prefix(comma + 1);
    }
    return out;
}

std::vector<BlkioEntry> parse_blkio_v1(std::string_view text)
{
    std::vector<BlkioEntry> out;
    for (auto line : lines_of(text)) {
        auto f = fields_of(line);
        BlkioEntry e;
        if (f.size() < 2 || !device_of(f[0], e.major, e.minor))
            continue; // "Total N"
        auto v = number(f.back());
        if (!v)
            continue;
        if (f.size() == 3)
            e.op = std::string(f[1]);
        else if (f.size() != 2)
            continue;
        e.value = *v;
        out.push_back(std::move(e));
    }
    return out;
}

void parse_io_stat(std::string_view text, std::vector<BlkioEntry>& bytes, std::vector<BlkioEntry>& ios)
{
    for (auto line : lines_of(text)) {
        auto f = fields_of(line);
        uint64_t major = 0, minor = 0;
        if (f.empty() || !device_of(f[0], major, minor))
            continue;
        for (size_t i = 1; i < f.size(); ++i) {
            auto eq = f[i].find('=');
            if (eq == std::string_view::npos)
                continue;
            auto key = f[i].substr(0, eq);
            auto v = number(f[i].substr(eq + 1));
            if (!v)
                continue;
            if (key == "rbytes")
                bytes.push_back({ major, minor, "Read", *v });
            else if (key == "wbytes")
                bytes.push_back({ major, minor, "Write", *v });
            else if (key == "rios")
                ios.push_back({ major, minor, "Read", *v });
            else if (key == "wios")
                ios.push_back({ major, minor, "Write", *v });
        }
    }
}

std::vector<std::string> hugepage_sizes()
{
    std::vector<std::string> out;
    DIR* d = ::opendir("/sys/kernel/mm/hugepages");
    if (!d)
        return out;
    while (dirent* e = ::readdir(d)) {
        // hugepages-2048kB -> 2MB, as the cgroup files name it.
        std::string_view name = e->d_name;
        if (!name.starts_with("hugepages-") || !name.ends_with("kB"))
            continue;
        auto kb = number(name.substr(10, name.size() - 12));
        if (!kb)
            continue;
        uint64_t v = *kb;
        const char* unit = "KB";
        if (v >= 1024 * 1024 && v % (1024 * 1024) == 0) {
            v /= 1024 * 1024;
            unit = "GB";
        } else if (v >= 1024 && v % 1024 == 0) {
            v /= 1024;
            unit = "MB";
        }
        out.push_back(std::to_string(v) + unit);
    }
    ::closedir(d);
    return out;
}

Stats read_stats_v2(const std::string& dir)
{
    Stats s;
    s.version = 2;
    auto f = [&](const char* name) { return dir + "/" + name; };

    auto cpu = parse_flat_keyed(text_of(f("cpu.stat")));
    s.cpu.total = get(cpu, "usage_usec") * 1000;
    s.cpu.user = get(cpu, "user_usec") * 1000;
    s.cpu.kernel = get(cpu, "system_usec") * 1000;
    s.cpu.periods = get(cpu, "nr_periods");
    s.cpu.throttled_periods = get(cpu, "nr_throttled");
    s.cpu.throttled_time = get(cpu, "throttled_usec") * 1000;

    s.cpuset.cpus = parse_cpu_list(text_of(f("cpuset.cpus.effective")));
    s.cpuset.mems = parse_cpu_list(text_of(f("cpuset.mems.effective")));

    auto& m = s.memory;
    m.raw = parse_flat_keyed(text_of(f("memory.stat")));
    m.events = parse_flat_keyed(text_of(f("memory.events")));
    m.cache = get(m.raw, "file");
    m.usage.usage = value_of(f("memory.current"));
    m.usage.limit = value_of(f("memory.max"));
    m.usage.max = value_of(f("memory.peak"));
    m.usage.failcnt = get(m.events, "max");
    // v1's memsw counts memory and swap together; say the same here.
    if (fs::exists(f("memory.swap.current"))) {
        m.has_swap = true;
        uint64_t swap_limit = value_of(f("memory.swap.max"));
        m.swap.usage = value_of(f("memory.swap.current")) + m.usage.usage;
        m.swap.limit = (swap_limit == UINT64_MAX || m.usage.limit == UINT64_MAX) ? UINT64_MAX : swap_limit + m.usage.limit;
        m.swap.failcnt = get(parse_flat_keyed(text_of(f("memory.swap.events"))), "max");
    }
    s.oom_kills = get(m.events, "oom_kill");

    s.pids.current = value_of(f("pids.current"));
    uint64_t pids_max = value_of(f("pids.max"));
    s.pids.limit = pids_max == UINT64_MAX ? 0 : pids_max;

    parse_io_stat(text_of(f("io.stat")), s.blkio.service_bytes, s.blkio.serviced);

    for (const auto& size : hugepage_sizes()) {
        std::string base = dir + "/hugetlb." + size;
        if (!fs::exists(base + ".current"))
            continue;
        HugetlbEntry h;
        h.usage = value_of(base + ".current");
        h.max = value_of(base + ".max");
        h.failcnt = get(parse_flat_keyed(text_of(base + ".events")), "max");
        s.hugetlb[size] = h;
    }
    return s;
}

Stats read_stats_v1(const std::map<std::string, std::string>& dirs)
{
    Stats s;
    s.version = 1;
    if (const std::string* d = dir_for(dirs, "cpuacct")) {
        s.cpu.total = value_of(*d + "/cpuacct.usage");
        s.cpu.percpu = parse_numbers(text_of(*d + "/cpuacct.usage_percpu"));
        s.cpu.percpu_kernel = parse_numbers(text_of(*d + "/cpuacct.usage_percpu_sys"));
        s.cpu.percpu_user = parse_numbers(text_of(*d + "/cpuacct.usage_percpu_user"));
        // cpuacct.stat counts USER_HZ ticks.
        auto st = parse_flat_keyed(text_of(*d + "/cpuacct.stat"));
        uint64_t ns_per_tick = 1000000000ULL / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
        s.cpu.user = get(st, "user") * ns_per_tick;
        s.cpu.kernel = get(st, "system") * ns_per_tick;
    }
    if (const std::string* d = dir_for(dirs, "cpu")) {
        auto st = parse_flat_keyed(text_of(*d + "/cpu.stat"));
        s.cpu.periods = get(st, "nr_periods");
        s.cpu.throttled_periods = get(st, "nr_throttled");
        s.cpu.throttled_time = get(st, "throttled_time");
    }
    if (const std::string* d = dir_for(dirs, "cpuset")) {
        s.cpuset.cpus = parse_cpu_list(text_of(*d + "/cpuset.cpus"));
        s.cpuset.mems = parse_cpu_list(text_of(*d + "/cpuset.mems"));
    }
    if (const std::string* d = dir_for(dirs, "memory")) {
        auto& m = s.memory;
        m.raw = parse_flat_keyed(text_of(*d + "/memory.stat"));
        m.cache = get(m.raw, "cache");
        m.usage = v1_memory_entry(*d, "memory.");
        if (fs::exists(*d + "/memory.memsw.usage_in_bytes")) {
            m.has_swap = true;
            m.swap = v1_memory_entry(*d, "memory.memsw.");
        }
        if (fs::exists(*d + "/memory.kmem.usage_in_bytes")) {
            m.has_kernel = true;
            m.kernel = v1_memory_entry(*d, "memory.kmem.");
            m.kernel_tcp = v1_memory_entry(*d, "memory.kmem.tcp.");
        }
        s.oom_kills = get(parse_flat_keyed(text_of(*d + "/memory.oom_control")), "oom_kill");
    }
    if (const std::string* d = dir_for(dirs, "pids")) {
        s.pids.current = value_of(*d + "/pids.current");
        uint64_t max = value_of(*d + "/pids.max");
        s.pids.limit = max == UINT64_MAX ? 0 : max;
    }
    if (const std::string* d = dir_for(dirs, "blkio")) {
        // CFQ's files are gone from current kernels; BFQ has the same names under
        // blkio.bfq.; without either, the throttle layer still counts bytes and ios.
        std::string prefix = *d + "/blkio.throttle.";
        for (const char* p : { "/blkio.", "/blkio.bfq." }) {
            if (!parse_blkio_v1(text_of(*d + p + "io_serviced_recursive")).empty()) {
                prefix = *d + p;
                break;
            }
        }
        auto& b = s.blkio;
        b.service_bytes = parse_blkio_v1(text_of(prefix + "io_service_bytes_recursive"));
        b.serviced = parse_blkio_v1(text_of(prefix + "io_serviced_recursive"));
        if (prefix != *d + "/blkio.throttle.") {
            b.queued = parse_blkio_v1(text_of(prefix + "io_queued_recursive"));
            b.service_time = parse_blkio_v1(text_of(prefix + "io_service_time_recursive"));
            b.wait_time = parse_blkio_v1(text_of(prefix + "io_wait_time_recursive"));
            b.merged = parse_blkio_v1(text_of(prefix + "io_merged_recursive"));
            b.time = parse_blkio_v1(text_of(prefix + "time_recursive"));
            b.sectors = parse_blkio_v1(text_of(prefix + "sectors_recursive"));
        }
    }
    if (const std::string* d = dir_for(dirs, "hugetlb")) {
        for (const auto& size : hugepage_sizes()) {
            std::string base = *d + "/hugetlb." + size;
            if (!fs::exists(base + ".usage_in_bytes"))
                continue;
            HugetlbEntry h;
            h.usage = value_of(base + ".usage_in_bytes");
            h.max = value_of(base + ".max_usage_in_bytes");
            h.failcnt = value_of(base + ".failcnt");
            s.hugetlb[size] = h;
        }
    }
    return s;
}

} // namespace husk::cgroups
