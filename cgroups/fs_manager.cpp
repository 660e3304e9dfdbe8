// The cgroupfs backend of cgroups::Manager for both layouts: a unified v2 host (one
// hierarchy, CLONE_INTO_CGROUP) and a legacy/hybrid v1 host (one directory per mounted
// hierarchy, the process written into each). Resource limits are converted in
// resources.cpp; this file probes the host for them, enables v2 controllers and writes.
#include "cgroups/manager.hpp"

#include "cgroups/device_filter.hpp"

#include "common/fs.hpp"
#include "common/log.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sstream>
#include <map>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

namespace husk::cgroups {

namespace {

std::vector<std::string> split(const std::string& s, char sep)
{
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    out.push_back(cur);
    return out;
}

struct Mounted {
    std::string mountpoint;
    std::string root; // the mount's root within the hierarchy
    std::string controllers;
    bool v2;
};

// Cgroup mounts of this mount namespace, from /proc/self/mountinfo.
Result<std::vector<Mounted>> cgroup_mounts()
{
    auto text = TRY(fs::read_file("/proc/self/mountinfo"));
    std::vector<Mounted> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        // id parent major:minor root mountpoint options [optional...] - fstype source superopts
        auto sep = line.find(" - ");
        if (sep == std::string::npos)
            continue;
        auto left = split(line.substr(0, sep), ' ');
        auto right = split(line.substr(sep + 3), ' ');
        if (left.size() < 5 || right.size() < 3)
            continue;
        const std::string& fstype = right[0];
        if (fstype != "cgroup" && fstype != "cgroup2")
            continue;
        Mounted m { left[4], left[3], "", fstype == "cgroup2" };
        if (!m.v2) {
            std::string ctrls;
            for (const auto& opt : split(right[2], ',')) {
                static const char* skip[] = { "rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec",
                                              "clone_children", "xattr" };
                if (std::find_if(std::begin(skip), std::end(skip), [&](const char* s) { return opt == s; })
                    != std::end(skip))
                    continue;
                if (opt.starts_with("release_agent="))
                    continue;
                if (!ctrls.empty())
                    ctrls += ',';
                ctrls += opt;
            }
            m.controllers = ctrls;
        }
        // A hierarchy may be mounted more than once; the first mount serves.
        bool dup = std::any_of(out.begin(), out.end(),
                               [&](const Mounted& o) { return o.v2 == m.v2 && o.controllers == m.controllers; });
        if (!dup)
            out.push_back(std::move(m));
    }
    return out;
}

// The caller's own cgroup in each hierarchy, keyed by controller list ("" for v2).
Result<std::vector<std::pair<std::string, std::string>>> own_cgroups()
{
    auto text = TRY(fs::read_file("/proc/self/cgroup"));
    std::vector<std::pair<std::string, std::string>> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto a = line.find(':');
        auto b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos)
            continue;
        out.emplace_back(line.substr(a + 1, b - a - 1), line.substr(b + 1));
    }
    return out;
}

// v1 cpuset cgroups start with empty cpus/mems and refuse tasks: inherit the parent's.
void init_cpuset(const std::string& dir, const std::string& mountpoint)
{
    if (dir.size() <= mountpoint.size())
        return;
    std::string parent = dir.substr(0, dir.rfind('/'));
    init_cpuset(parent, mountpoint);
    for (const char* file : { "cpuset.cpus", "cpuset.mems" }) {
        auto cur = fs::read_file(dir + "/" + file);
        if (cur && cur->find_first_not_of(" \n") != std::string::npos)
            continue;
        auto from = fs::read_file(parent + "/" + file);
        if (from)
            (void)fs::write_file(dir + "/" + file, *from);
    }
}

// The spec field behind a controller, for errors about controllers the host lacks.
std::string setting_of(const std::string& controller)
{
    static const std::pair<const char*, const char*> names[] = {
        { "cpuset", "linux.resources.cpu.cpus/mems" }, { "memory", "linux.resources.memory" },
        { "cpu", "linux.resources.cpu" },               { "pids", "linux.resources.pids" },
        { "blkio", "linux.resources.blockIO" },          { "io", "linux.resources.blockIO" },
        { "hugetlb", "linux.resources.hugepageLimits" }, { "net_cls", "linux.resources.network.classID" },
        { "net_prio", "linux.resources.network.priorities" }, { "rdma", "linux.resources.rdma" },
    };
    for (const auto& [ctrl, field] : names)
        if (controller == ctrl)
            return field;
    return "linux.resources.unified";
}

std::string trimmed(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

// One write(2) of the whole value, as cgroup files want; no O_CREAT (cgroupfs has no
// files to create, and a missing one must read as ENOENT). Returns errno, 0 on success.
int write_value(const std::string& path, const std::string& value)
{
    auto fd = fs::open(path, O_WRONLY);
    if (!fd)
        return fd.error().code();
    if (auto r = fs::write_all(fd->borrow(), value); !r)
        return r.error().code();
    return 0;
}

Result<uint64_t> read_number(const std::string& path)
{
    auto text = trimmed(TRY(fs::read_file(path)));
    if (text == "max")
        return UINT64_MAX;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size())
        return fail(path + ": not a number: \"" + text + "\"");
    return n;
}

// Writes one planned value into `dir`. ENOENT for a file the kernel lacks (and the value
// needs it) and EBUSY for memory below the usage get a word of explanation.
Result<> write_planned(const std::string& dir, const Write& w, bool& skipped)
{
    skipped = false;
    std::string path = dir + "/" + w.file;
    int err = write_value(path, w.value);
    if (err == ENOENT && w.skip_if_missing) {
        skipped = true;
        return {};
    }
    if (err != 0) {
        std::string what = "set " + w.file + " to " + w.value;
        if (err == EBUSY && (w.file == "memory.limit_in_bytes" || w.file == "memory.memsw.limit_in_bytes")) {
            const char* usage = w.file == "memory.limit_in_bytes" ? "/memory.usage_in_bytes" : "/memory.memsw.usage_in_bytes";
            if (auto u = read_number(dir + usage))
                what += " (the cgroup already uses " + std::to_string(*u) + " bytes)";
        } else if (err == ENOENT) {
            what += " (this kernel has no such file in " + dir + ")";
        }
        return fail_errno(err, what);
    }
    if (w.verify) {
        auto now = trimmed(TRY(fs::read_file(path)));
        if (now != w.value)
            return fail("set " + w.file + " to " + w.value + ": the kernel clamped it to " + now);
    }
    return {};
}

// Writes `writes` (each with the directory it goes to) in order; those the kernel refuses
// with EINVAL only until later ones are in are tried again after the rest.
Result<> write_in_order(const std::vector<std::pair<std::string, const Write*>>& writes)
{
    std::vector<std::pair<std::string, const Write*>> retry;
    bool skipped = false;
    for (const auto& [dir, w] : writes) {
        auto r = write_planned(dir, *w, skipped);
        if (!r && w->retry_after_rest && r.error().code() == EINVAL) {
            retry.emplace_back(dir, w);
            continue;
        }
        if (!r)
            return r;
        if (skipped)
            log::debug("skip " + w->file + " " + w->value + ": not in " + dir);
    }
    for (const auto& [dir, w] : retry)
        TRY(write_planned(dir, *w, skipped));
    return {};
}

std::vector<std::string> words(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string w;
    while (in >> w)
        out.push_back(w);
    return out;
}

// The v2 controllers `plan` writes files of, in a stable order.
std::vector<std::string> needed_controllers(const WritePlan& plan)
{
    std::vector<std::string> out;
    for (const auto& w : plan.writes)
        if (!w.controller.empty() && std::find(out.begin(), out.end(), w.controller) == out.end())
            out.push_back(w.controller);
    return out;
}

// Controllers only reach a v2 cgroup through its parent's cgroup.subtree_control, and a
// parent only has those its own parent enabled: walk down from the mount to the
// container's parent and enable what is missing at each level.
Result<> enable_controllers(const Hierarchy& h, const std::vector<std::string>& needed)
{
    if (needed.empty())
        return {};
    std::string controllers = trimmed(TRY(fs::read_file(h.mountpoint + "/cgroup.controllers")));
    auto available = words(controllers);
    for (const auto& c : needed)
        if (std::find(available.begin(), available.end(), c) == available.end())
            return fail(setting_of(c) + " needs the cgroup v2 \"" + c +
                        "\" controller, which this host does not offer (cgroup.controllers: \"" + controllers + "\")");
    std::string parent = h.dir.substr(0, h.dir.rfind('/'));
    if (parent.size() < h.mountpoint.size())
        return {};
    std::string level = h.mountpoint;
    for (;;) {
        auto enabled = words(TRY(fs::read_file(level + "/cgroup.subtree_control")));
        std::string add;
        for (const auto& c : needed)
            if (std::find(enabled.begin(), enabled.end(), c) == enabled.end())
                add += (add.empty() ? "+" : " +") + c;
        if (!add.empty()) {
            if (int err = write_value(level + "/cgroup.subtree_control", add); err != 0) {
                std::string what = "enable controllers (\"" + add + "\") in " + level + "/cgroup.subtree_control";
                if (err == EBUSY)
                    what += " (a cgroup with processes of its own cannot pass controllers on)";
                return fail_errno(err, what);
            }
        }
        if (level == parent)
            return {};
        auto next = parent.find('/', level.size() + 1);
        level = next == std::string::npos ? parent : parent.substr(0, next);
    }
}

std::vector<std::string> child_cgroups(const std::string& dir)
{
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d)
        return out;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (e->d_type == DT_DIR && name != "." && name != "..")
            out.push_back(dir + "/" + name);
    }
    ::closedir(d);
    return out;
}

// The processes of a cgroup and of every cgroup below it (a container may make its own).
Result<> collect_pids(const std::string& dir, std::vector<pid_t>& out)
{
    auto text = fs::read_file(dir + "/cgroup.procs");
    if (!text) {
        if (text.error().code() == ENOENT)
            return {};
        return std::unexpected(text.error());
    }
    std::istringstream in(*text);
    pid_t p;
    while (in >> p)
        out.push_back(p);
    for (const auto& child : child_cgroups(dir))
        TRY(collect_pids(child, out));
    return {};
}

// Removes a cgroup and the cgroups below it, deepest first. Processes that were just
// killed leave asynchronously, so a busy cgroup is retried for a while.
Result<> remove_tree(const std::string& dir)
{
    for (const auto& child : child_cgroups(dir))
        TRY(remove_tree(child));
    for (int attempt = 0;; ++attempt) {
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT)
            return {};
        if (errno != EBUSY || attempt >= 100)
            return fail_errno("remove cgroup " + dir);
        timespec ts { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, nullptr);
    }
}

class FsManager final : public Manager {
public:
    FsManager(std::string path, Mode mode, std::vector<Hierarchy> hierarchies)
        : m_path(std::move(path)), m_mode(mode), m_hierarchies(std::move(hierarchies))
    {
    }

    const std::string& path() const override { return m_path; }
    Mode mode() const override { return m_mode; }
    const std::vector<Hierarchy>& hierarchies() const override { return m_hierarchies; }

    Result<> create() override
    {
        for (const auto& h : m_hierarchies) {
            TRY_CTX(fs::mkdir_all(h.dir, 0755), "create cgroup");
            if (!h.v2 && h.controllers.find("cpuset") != std::string::npos)
                init_cpuset(h.dir, h.mountpoint);
        }
        return {};
    }

    Result<Fd> open_for_clone() override
    {
        if (m_mode != Mode::Unified || m_hierarchies.empty())
            return Fd();
        return fs::open(m_hierarchies.front().dir, O_PATH | O_DIRECTORY);
    }

    Result<> add(pid_t pid) override
    {
        std::string text = std::to_string(pid);
        for (const auto& h : m_hierarchies) {
            if (auto r = fs::write_file(h.dir + "/cgroup.procs", text); !r) {
                // The v2 half of a hybrid host may refuse (no controllers, threaded): v1 is
                // what counts there.
                if (m_mode == Mode::Legacy && h.v2) {
                    log::debug("join " + h.dir + ": " + r.error().message());
                    continue;
                }
                return std::unexpected(r.error().prefix("join cgroup"));
            }
        }
        return {};
    }

    Result<std::vector<pid_t>> pids() const override
    {
        const Hierarchy* pick = nullptr;
        for (const auto& h : m_hierarchies) {
            if (m_mode == Mode::Unified || (!h.v2 && (!pick || h.controllers == "pids" || h.controllers == "freezer")))
                pick = &h;
        }
        if (!pick)
            return std::vector<pid_t> {};
        std::vector<pid_t> out;
        TRY(collect_pids(pick->dir, out));
        return out;
    }

    Result<> signal_all(int sig) const override
    {
        for (pid_t p : TRY(pids())) {
            if (::kill(p, sig) < 0 && errno != ESRCH)
                return fail_errno("signal " + std::to_string(p));
        }
        return {};
    }

    Result<> destroy() override
    {
        Result<> result;
        for (const auto& h : m_hierarchies) {
            auto r = remove_tree(h.dir);
            if (!r && result)
                result = r;
        }
        return result;
    }

    Result<> set_frozen(bool frozen) override
    {
        const Hierarchy* h = freezer();
        if (!h)
            return fail("no freezer: this host has neither a v1 freezer hierarchy nor cgroup v2");
        bool v2 = h->v2;
        std::string file = h->dir + (v2 ? "/cgroup.freeze" : "/freezer.state");
        TRY_CTX(fs::write_file(file, v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED")),
                frozen ? "freeze" : "thaw");
        // The kernel freezes asynchronously: wait (bounded) until every task is.
        for (int attempt = 0; attempt < 1000; ++attempt) {
            auto now = this->frozen();
            if (!now)
                return std::unexpected(now.error());
            if (*now == frozen)
                return {};
            if (!v2 && frozen) // v1 may stall in FREEZING: poke it again
                (void)fs::write_file(file, "FROZEN");
            timespec ts { 0, 1000 * 1000 };
            nanosleep(&ts, nullptr);
        }
        return fail(std::string("timed out waiting for the cgroup to ") + (frozen ? "freeze" : "thaw"));
    }

    Result<bool> frozen() const override
    {
        const Hierarchy* h = freezer();
        if (!h)
            return false;
        if (h->v2) {
            auto events = TRY(fs::read_file(h->dir + "/cgroup.events"));
            return events.find("frozen 1") != std::string::npos;
        }
        auto state = TRY(fs::read_file(h->dir + "/freezer.state"));
        return state.starts_with("FROZEN");
    }

    Result<> set_device_rules(const std::vector<DeviceRule>& rules) override
    {
        const Hierarchy* devices = nullptr;
        for (const auto& h : m_hierarchies)
            if (!h.v2 && h.controllers == "devices")
                devices = &h;
        if (!devices) {
            if (m_mode == Mode::Unified) {
                if (const Hierarchy* h = unified())
                    return attach_device_program(h->dir, rules);
            }
            log::warn("device rules are not enforced: this host mounts no devices controller");
            return {};
        }
        // Start from nothing, then the rules in order: the last matching rule wins.
        TRY_CTX(fs::write_file(devices->dir + "/devices.deny", "a"), "set device rules");
        for (const auto& rule : rules) {
            std::string line = device_rule_line(rule);
            std::string file = devices->dir + (rule.allow ? "/devices.allow" : "/devices.deny");
            if (auto r = fs::write_file(file, line); !r)
                return std::unexpected(r.error().prefix("write \"" + line + "\" to " + file));
        }
        return {};
    }

    Result<> apply(const Limits& limits) override
    {
        WritePlan plan;
        std::vector<std::pair<std::string, const Write*>> writes;
        if (m_mode == Mode::Unified) {
            const Hierarchy* h = unified();
            if (!h)
                return fail("no cgroup v2 hierarchy to apply limits in");
            // The controllers do not depend on the host facts; the io file names do, and
            // they only show once io is enabled.
            TRY(enable_controllers(*h, needed_controllers(TRY(v2_writes(limits)))));
            HostFacts facts;
            facts.bfq_weight = fs::exists(h->dir + "/io.bfq.weight");
            plan = TRY(v2_writes(limits, facts));
            for (const auto& w : plan.writes)
                writes.emplace_back(h->dir, &w);
        } else {
            HostFacts facts;
            if (const Hierarchy* b = v1("blkio"))
                facts.bfq_weight = !fs::exists(b->dir + "/blkio.weight") && fs::exists(b->dir + "/blkio.bfq.weight");
            plan = TRY(v1_writes(limits, facts));
            for (const auto& w : plan.writes) {
                const Hierarchy* h = v1(w.controller);
                if (!h)
                    return fail(setting_of(w.controller) + " needs the cgroup v1 \"" + w.controller +
                                "\" controller, which is not mounted on this host");
                writes.emplace_back(h->dir, &w);
            }
        }
        for (const auto& what : plan.ignored)
            log::debug("cgroup: ignoring " + what);
        if (limits.memory.check_before_update)
            TRY(check_memory_usage(limits));
        return write_in_order(writes);
    }

    Result<Stats> stats() const override
    {
        if (m_mode == Mode::Unified) {
            const Hierarchy* h = unified();
            if (!h)
                return fail("no cgroup v2 hierarchy to read stats from");
            return read_stats_v2(h->dir);
        }
        std::map<std::string, std::string> dirs;
        for (const auto& h : m_hierarchies)
            if (!h.v2)
                for (const auto& c : split(h.controllers, ','))
                    dirs.emplace(c, h.dir);
        return read_stats_v1(dirs);
    }

    Result<Fd> watch_oom() const override
    {
        if (m_mode == Mode::Unified) {
            const Hierarchy* h = unified();
            if (!h)
                return fail("no cgroup v2 hierarchy to watch");
            Fd in(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
            if (!in)
                return fail_errno("inotify_init1");
            if (::inotify_add_watch(in.get(), (h->dir + "/memory.events").c_str(), IN_MODIFY) < 0)
                return fail_errno("watch " + h->dir + "/memory.events");
            return in;
        }
        const Hierarchy* h = v1("memory");
        if (!h)
            return fail("the cgroup v1 memory controller is not mounted: no OOM events");
        Fd event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!event)
            return fail_errno("eventfd");
        Fd control = TRY_CTX(fs::open(h->dir + "/memory.oom_control", O_RDONLY | O_CLOEXEC), "watch OOM events");
        std::string line = std::to_string(event.get()) + " " + std::to_string(control.get());
        TRY_CTX(fs::write_file(h->dir + "/cgroup.event_control", line), "register for OOM events");
        return event;
    }

private:
    // The v1 hierarchy with `controller` among its controllers ("cpu" in "cpu,cpuacct").
    const Hierarchy* v1(const std::string& controller) const
    {
        for (const auto& h : m_hierarchies) {
            if (h.v2)
                continue;
            for (const auto& c : split(h.controllers, ','))
                if (c == controller)
                    return &h;
        }
        return nullptr;
    }

    const Hierarchy* unified() const
    {
        for (const auto& h : m_hierarchies)
            if (h.v2)
                return &h;
        return nullptr;
    }

    // checkBeforeUpdate: a limit below what the container already uses is refused here
    // rather than left to the kernel (v1: EBUSY after reclaim; v2: the OOM killer).
    Result<> check_memory_usage(const Limits& limits) const
    {
        if (!limits.memory.limit || *limits.memory.limit <= 0)
            return {};
        std::string file;
        if (m_mode == Mode::Unified) {
            if (const Hierarchy* h = unified())
                file = h->dir + "/memory.current";
        } else if (const Hierarchy* h = v1("memory")) {
            file = h->dir + "/memory.usage_in_bytes";
        }
        if (file.empty() || !fs::exists(file))
            return {};
        uint64_t usage = TRY(read_number(file));
        auto limit = static_cast<uint64_t>(*limits.memory.limit);
        if (limit < usage)
            return fail("linux.resources.memory.limit: " + std::to_string(limit) + " is below the current usage of " +
                        std::to_string(usage) + " bytes (checkBeforeUpdate is set)");
        return {};
    }

    // v1: the freezer hierarchy; unified: the one v2 hierarchy. (The v2 half of a hybrid
    // host has no freezer worth using.)
    const Hierarchy* freezer() const
    {
        for (const auto& h : m_hierarchies) {
            if (m_mode == Mode::Unified && h.v2)
                return &h;
            if (m_mode == Mode::Legacy && !h.v2 && h.controllers == "freezer")
                return &h;
        }
        return nullptr;
    }

    std::string m_path;
    Mode m_mode;
    std::vector<Hierarchy> m_hierarchies;
};

} // namespace

Result<std::unique_ptr<Manager>> make_manager(const std::string& cgroups_path, const std::string& id)
{
    std::string path = cgroups_path.empty() ? id : cgroups_path;
    if (path.find(':') != std::string::npos)
        return fail("cgroupsPath \"" + path + "\": systemd-style paths need the systemd cgroup driver, which husk does not have yet");
    auto mounts = TRY(cgroup_mounts());
    auto own = TRY(own_cgroups());
    bool unified = std::any_of(mounts.begin(), mounts.end(),
                               [](const Mounted& m) { return m.v2 && m.mountpoint == "/sys/fs/cgroup"; });
    Mode mode = unified ? Mode::Unified : Mode::Legacy;
    std::vector<Hierarchy> hs;
    for (const auto& m : mounts) {
        if (unified && !m.v2)
            continue;
        std::string base = "/";
        if (path[0] != '/') {
            for (const auto& [ctrls, p] : own)
                if (ctrls == m.controllers)
                    base = p;
            // Inside a namespaced mount the root field says where the mount starts.
            if (m.root != "/" && base.starts_with(m.root))
                base = base.substr(m.root.size());
        }
        std::string rel = fs::clean(base + "/" + path);
        hs.push_back(Hierarchy { m.mountpoint, m.controllers, m.v2, fs::clean(m.mountpoint + "/" + rel) });
    }
    if (hs.empty())
        return fail("no cgroup hierarchy is mounted");
    return std::make_unique<FsManager>(fs::clean("/" + path), mode, std::move(hs));
}

Result<std::unique_ptr<Manager>> reopen_manager(const std::vector<std::string>& dirs)
{
    auto mounts = TRY(cgroup_mounts());
    bool unified = std::any_of(mounts.begin(), mounts.end(),
                               [](const Mounted& m) { return m.v2 && m.mountpoint == "/sys/fs/cgroup"; });
    std::vector<Hierarchy> hs;
    for (const auto& dir : dirs) {
        Hierarchy h;
        h.dir = dir;
        for (const auto& m : mounts) {
            if (dir.starts_with(m.mountpoint + "/") && m.mountpoint.size() > h.mountpoint.size()) {
                h.mountpoint = m.mountpoint;
                h.controllers = m.controllers;
                h.v2 = m.v2;
            }
        }
        hs.push_back(std::move(h));
    }
    return std::make_unique<FsManager>("", unified ? Mode::Unified : Mode::Legacy, std::move(hs));
}

} // namespace husk::cgroups
