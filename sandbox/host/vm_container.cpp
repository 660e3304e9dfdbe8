#include "sandbox/host/vm_container.hpp"

#include "netns/link.hpp"

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/sys.hpp"
#include "runtime/terminal/attach.hpp"
#include "runtime/terminal/console.hpp"
#include "sandbox/host/agent_client.hpp"
#include "sandbox/host/config.hpp"
#include "cgroups/manager.hpp"
#include "sandbox/host/keeper.hpp"
#include "sandbox/host/monitor.hpp"
#include "sandbox/host/relay.hpp"
#include "sandbox/host/sizing.hpp"
#include "sandbox/host/vmm.hpp"
#include "sandbox/proto/agent.pb.h"

#include <cstring>
#include <optional>
#include <fcntl.h>
#include <net/if.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <algorithm>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace husk::sandbox {

namespace pb = husk::sandbox::v1;
using nlohmann::json;

namespace {

constexpr const char* record_name = "sandbox.json";
// Where a share is mounted in the guest; the agent mounts tag T at shares_root/T.
constexpr const char* shares_root = "/run/husk/shares/";
// A pod's VM: the sandbox's state directory holds pod/, one more share (tag "pod"), where each
// member's root filesystem and bind-mounted directories are bind mounts under pod/MEMBER/.
constexpr const char* pod_tag = "pod";
// CRI's annotation on every container of a pod (the sandbox's too): the sandbox's id.
constexpr const char* sandbox_id_annotation = "io.kubernetes.cri.sandbox-id";

// What husk records about a VM sandbox (sandbox.json in the container's state directory).
struct Record {
    std::string id, bundle, rootfs, created, owner, accel, oci_version;
    std::map<std::string, std::string> annotations;
    pid_t monitor_pid = 0;
    uint64_t monitor_start_time = 0;
    pid_t qemu_pid = 0;
    pid_t keeper_pid = 0; // the container process's keeper (keeper.hpp): the pid husk reports
    uint64_t keeper_start_time = 0;
    unsigned vcpus = 0, memory_mib = 0;
    std::vector<std::string> cgroup_dirs; // the host cgroup of the monitor and QEMU
    std::string pod; // a pod member: the id of the sandbox whose VM it runs in
    // The network namespace whose interfaces the guest took over, and those interfaces: their
    // ingress redirects to the taps go at delete (the taps go with QEMU).
    std::string netns_path;
    std::vector<std::string> net_links;
};

json to_json(const Record& r)
{
    return json{{"id", r.id}, {"bundle", r.bundle}, {"rootfs", r.rootfs}, {"created", r.created},
                {"owner", r.owner}, {"accel", r.accel}, {"oci_version", r.oci_version}, {"annotations", r.annotations},
                {"monitor_pid", r.monitor_pid}, {"monitor_start_time", r.monitor_start_time},
                {"qemu_pid", r.qemu_pid}, {"keeper_pid", r.keeper_pid}, {"keeper_start_time", r.keeper_start_time},
                {"vcpus", r.vcpus}, {"memory_mib", r.memory_mib}, {"cgroup_dirs", r.cgroup_dirs}, {"pod", r.pod},
                {"netns_path", r.netns_path}, {"net_links", r.net_links}};
}

Result<Record> load_record(const state::ContainerDir& dir)
{
    auto text = TRY(fs::read_file(dir.file(record_name)));
    try {
        json j = json::parse(text);
        Record r;
        r.id = j.at("id").get<std::string>();
        r.bundle = j.at("bundle").get<std::string>();
        r.rootfs = j.at("rootfs").get<std::string>();
        r.created = j.at("created").get<std::string>();
        r.owner = j.value("owner", "");
        r.accel = j.value("accel", "");
        r.oci_version = j.value("oci_version", "");
        r.annotations = j.value("annotations", std::map<std::string, std::string>{});
        r.monitor_pid = j.at("monitor_pid").get<pid_t>();
        r.monitor_start_time = j.at("monitor_start_time").get<uint64_t>();
        r.qemu_pid = j.value("qemu_pid", 0);
        r.keeper_pid = j.value("keeper_pid", 0);
        r.keeper_start_time = j.value("keeper_start_time", uint64_t(0));
        r.vcpus = j.value("vcpus", 0u);
        r.memory_mib = j.value("memory_mib", 0u);
        r.cgroup_dirs = j.value("cgroup_dirs", std::vector<std::string>{});
        r.pod = j.value("pod", "");
        r.netns_path = j.value("netns_path", "");
        r.net_links = j.value("net_links", std::vector<std::string>{});
        return r;
    } catch (const json::exception& e) {
        return fail(dir.file(record_name) + ": " + e.what());
    }
}

bool alive(pid_t pid, uint64_t start_time)
{
    state::ContainerState st;
    st.pid = pid;
    st.pid_start_time = start_time;
    return pid > 0 && state::init_alive(st);
}

bool monitor_alive(const Record& r)
{
    return alive(r.monitor_pid, r.monitor_start_time);
}

// Whether the caller's stdin is worth relaying: anything but /dev/null (or another character
// device that is not a terminal).
bool caller_has_stdin()
{
    struct stat in {};
    if (::fstat(0, &in) < 0)
        return false;
    return !S_ISCHR(in.st_mode) || ::isatty(0);
}

// A client connected to the sandbox's monitor, or "not running" when there is none.
// The host side of a process's terminal (PROCESS is its OCI process): a pty whose master
// goes to the console socket, or to an attached caller through MASTER_OUT, and whose slave
// the keeper takes. None without process.terminal.
Result<std::optional<HostPty>> host_terminal(const json& process, const std::string& console_socket, Fd* master_out)
{
    if (!process.is_object() || !process.value("terminal", false)) {
        if (!console_socket.empty())
            return fail("cannot use console socket if husk will not detach or allocate tty");
        return std::nullopt;
    }
    if (console_socket.empty() && !master_out)
        return fail("cannot allocate tty if husk will detach without setting console socket");
    unsigned short rows = 0, cols = 0;
    if (auto size = process.find("consoleSize"); size != process.end() && size->is_object()) {
        auto dim = [&](const char* key) {
            auto v = size->find(key);
            return v != size->end() && v->is_number_unsigned() ? (unsigned short)std::min<uint64_t>(v->get<uint64_t>(), 65535) : (unsigned short)0;
        };
        rows = dim("height");
        cols = dim("width");
    }
    auto pty = TRY(open_host_pty(rows, cols));
    if (!console_socket.empty()) {
        auto socket = TRY(terminal::connect_console_socket(console_socket));
        TRY(terminal::send_fd(socket.borrow(), pty.master.borrow(), "/dev/ptmx"));
        pty.master.reset();
    } else {
        *master_out = Fd(::fcntl(pty.master.get(), F_DUPFD_CLOEXEC, 3));
        if (!*master_out)
            return fail_errno("dup the pty master");
        pty.master.reset();
    }
    return pty;
}

Result<AgentClient> connect(const state::ContainerDir& dir, const Record& r)
{
    if (!monitor_alive(r))
        return fail("container " + r.id + " is not running: its sandbox VM has stopped");
    auto fd = connect_monitor(dir.fd());
    if (!fd)
        return fail("container " + r.id + ": " + fd.error().message());
    return AgentClient(std::move(*fd));
}

Result<pb::StateResponse> guest_state(AgentClient& client, const std::string& id)
{
    pb::ContainerRequest req;
    req.set_container_id(id);
    pb::StateResponse resp;
    TRY(client.call("State", req, resp, 30'000));
    return resp;
}

// A sandbox opened under its container's lock, with a connection to its monitor.
struct Session {
    state::ContainerDir dir;
    Record record;
    AgentClient client;
};

Result<Session> open_session(const std::string& root, const std::string& id, state::Lock lock)
{
    state::Store store(root);
    auto dir = TRY(store.open(id, lock));
    auto r = TRY(load_record(dir));
    auto client = TRY(connect(dir, r));
    return Session{std::move(dir), std::move(r), std::move(client)};
}

// A call that takes the container's id and answers Empty.
Result<> simple_call(const std::string& root, const std::string& id, const char* method)
{
    auto s = TRY(open_session(root, id, state::Lock::Exclusive));
    pb::ContainerRequest req;
    req.set_container_id(id);
    pb::Empty resp;
    TRY(s.client.call(method, req, resp, 30'000));
    return {};
}

state::Status status_of(pb::Status s)
{
    switch (s) {
    case pb::CREATED: return state::Status::Created;
    case pb::RUNNING: return state::Status::Running;
    case pb::PAUSED: return state::Status::Paused;
    default: return state::Status::Stopped;
    }
}

// Deletes the container in the guest (its processes killed): refused unless it has stopped
// or `force`. A failed delete is only reported: the VM goes, or the member's mounts do.
Result<> delete_in_guest(AgentClient& client, const std::string& id, bool force)
{
    auto st = guest_state(client, id);
    if (st && !force && st->status() != pb::STOPPED)
        return fail("cannot delete container " + id + " that is not stopped: "
                    + std::string(state::status_name(status_of(st->status()))));
    pb::DeleteContainerRequest del;
    del.set_container_id(id);
    del.set_force(true);
    pb::Empty empty;
    if (auto d = client.call("DeleteContainer", del, empty, 30'000); !d)
        log::warn("container " + id + ": " + d.error().message());
    return {};
}

bool is_bind(const json& m)
{
    if (m.value("type", "") == "bind")
        return true;
    if (auto o = m.find("options"); o != m.end() && o->is_array()) {
        for (const auto& opt : *o)
            if (opt.is_string() && (opt == "bind" || opt == "rbind"))
                return true;
    }
    return false;
}

bool has_option(const json& m, const char* name)
{
    if (auto o = m.find("options"); o != m.end() && o->is_array()) {
        for (const auto& opt : *o)
            if (opt.is_string() && opt == name)
                return true;
    }
    return false;
}

// Rewrites the bundle's config for the guest: what only makes sense on the host goes (hooks,
// paths of existing namespaces), the cgroup is the guest's own, and every bind mount of a
// host path becomes a mount of a 9p share. A host directory is shared itself; a host file
// (resolv.conf, hosts) is copied into the sandbox's state directory, whose files/ directory
// is one more share, so the guest never sees more of the host than the file.
Result<std::vector<Share>> prepare_config(json& config, const std::string& id, const std::string& bundle,
                                          const state::ContainerDir& dir, const std::string& pod = "",
                                          bool guest_network = false)
{
    std::vector<Share> shares;
    if (config.contains("hooks")) {
        log::warn("container " + id + ": hooks are not run for a VM sandbox; ignored");
        config.erase("hooks");
    }
    json& linux_ = config["linux"];
    if (!linux_.is_object())
        linux_ = json::object();
    if (auto ns = linux_.find("namespaces"); ns != linux_.end() && ns->is_array()) {
        if (guest_network) {
            // The guest's own network namespace has taken over the host one's interfaces.
            auto& a = *ns;
            for (std::size_t i = a.size(); i-- > 0;)
                if (a[i].is_object() && a[i].value("type", "") == "network")
                    a.erase(i);
        }
        for (auto& n : *ns) {
            const std::string type = n.is_object() ? n.value("type", "") : "";
            if (!pod.empty() && n.is_object() && n.contains("path")
                && (type == "network" || type == "ipc" || type == "uts" || type == "pid")) {
                // A pod member joins its sandbox's namespaces in the guest.
                n["path"] = "husk-container:" + pod;
            } else if (n.is_object() && n.contains("path")) {
                log::warn("container " + id + ": namespace path " + n["path"].dump() + " is the host's; the guest makes its own");
                n.erase("path");
            }
        }
    }
    linux_["cgroupsPath"] = "/husk/" + id;

    auto mounts = config.find("mounts");
    if (mounts == config.end() || !mounts->is_array())
        return shares;
    unsigned n = 0;
    bool files_share = false;
    for (auto& m : *mounts) {
        if (!m.is_object() || !is_bind(m) || !m.contains("source") || !m["source"].is_string())
            continue;
        std::string source = fs::absolute(m["source"].get<std::string>(), bundle);
        struct stat st {};
        if (::stat(source.c_str(), &st) < 0)
            return fail_errno("bind mount source " + source);
        std::string tag = "m" + std::to_string(n++);
        if (S_ISDIR(st.st_mode)) {
            shares.push_back(Share{.tag = tag, .host_path = source, .readonly = has_option(m, "ro")});
            m["source"] = shares_root + tag;
        } else if (S_ISREG(st.st_mode)) {
            std::string name = tag + "-" + source.substr(source.rfind('/') + 1);
            auto content = TRY(fs::read_file(source));
            TRY(fs::mkdir_all(dir.file("files"), 0700));
            TRY(fs::write_file(dir.file("files/" + name), content, st.st_mode & 0777));
            files_share = true;
            m["source"] = std::string(shares_root) + "files/" + name;
        } else {
            return fail("bind mount source " + source + " is neither a directory nor a regular file; a VM sandbox cannot share it");
        }
    }
    if (files_share)
        shares.push_back(Share{.tag = "files", .host_path = dir.file("files"), .readonly = true});
    return shares;
}

// The mount points at or below DIR (from /proc/self/mountinfo, octal escapes decoded).
std::vector<std::string> mounts_below(const std::string& dir)
{
    std::vector<std::string> out;
    auto text = fs::read_file("/proc/self/mountinfo");
    if (!text)
        return out;
    size_t at = 0;
    while (at < text->size()) {
        size_t end = text->find('\n', at);
        if (end == std::string::npos)
            end = text->size();
        std::string line = text->substr(at, end - at);
        at = end + 1;
        // id parent major:minor root MOUNTPOINT ...
        size_t f = 0;
        for (int i = 0; i < 4 && f != std::string::npos; i++)
            f = line.find(' ', f + 1);
        if (f == std::string::npos)
            continue;
        size_t e = line.find(' ', f + 1);
        std::string raw = line.substr(f + 1, e - f - 1), point;
        for (size_t i = 0; i < raw.size(); i++) {
            if (raw[i] == '\\' && i + 3 < raw.size()) {
                point += char((raw[i + 1] - '0') * 64 + (raw[i + 2] - '0') * 8 + (raw[i + 3] - '0'));
                i += 3;
            } else {
                point += raw[i];
            }
        }
        if (point == dir || point.starts_with(dir + "/"))
            out.push_back(point);
    }
    return out;
}

// Unmounts everything at or below DIR, deepest first, then removes DIR. Nothing is removed
// while a mount is left: remove_all would walk into a container's root filesystem.
Result<> unmount_and_remove(const std::string& dir)
{
    auto points = mounts_below(dir);
    std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const auto& p : points) {
        if (::umount2(p.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
            return fail_errno("unmount " + p);
    }
    if (!mounts_below(dir).empty())
        return fail("mounts are left below " + dir + ": not removed");
    return fs::remove_all(dir);
}

struct ReadyLine {
    bool ok = false;
    std::string message;
    pid_t qemu = 0, monitor = 0;
};

// The path of the network namespace config joins, or "" (a new one, or the host's).
std::string network_namespace_path(const json& config)
{
    auto l = config.find("linux");
    if (l == config.end() || !l->is_object())
        return "";
    auto ns = l->find("namespaces");
    if (ns == l->end() || !ns->is_array())
        return "";
    for (const auto& n : *ns)
        if (n.is_object() && n.value("type", "") == "network" && n.contains("path") && n["path"].is_string())
            return n["path"].get<std::string>();
    return "";
}

// Takes off the ingress redirects a VM put on the interfaces of a network namespace; a
// namespace or link that is gone has none left.
void remove_redirects(const std::string& netns_path, const std::vector<std::string>& links)
{
    if (netns_path.empty() || links.empty())
        return;
    auto entry = netns::NetnsEntry::enter(netns_path);
    if (!entry)
        return;
    for (const auto& l : links)
        if (auto r = netns::remove_ingress(l); !r)
            log::warn("network namespace " + netns_path + ": " + r.error().message());
}

// The network a VM takes over from the namespace at PATH: the interfaces and routes there,
// a tap for each interface, tc redirects between each pair. Loopback only: nothing.
struct GuestNetwork {
    std::vector<netns::Interface> interfaces;
    std::vector<netns::Route> routes;
    std::vector<netns::Tap> taps;
};

Result<GuestNetwork> take_network(const std::string& path)
{
    GuestNetwork net;
    // The host's own network is not a VM's to take: its interfaces would all go to the guest.
    struct stat target {}, host {};
    if (::stat(path.c_str(), &target) == 0) {
        for (const char* h : {"/proc/1/ns/net", "/proc/self/ns/net"}) {
            if (::stat(h, &host) == 0 && host.st_dev == target.st_dev && host.st_ino == target.st_ino)
                return fail("network namespace " + path + " is the host's: a VM cannot take over the host's network");
        }
    }
    auto entry = TRY(netns::NetnsEntry::enter(path));
    net.interfaces = TRY(netns::list_interfaces());
    net.routes = TRY(netns::list_routes(net.interfaces));
    TRY(netns::validate(net.interfaces, net.routes));
    for (std::size_t i = 0; i < net.interfaces.size(); i++) {
        const auto& itf = net.interfaces[i];
        // The kernel numbers the tap: a free name, never an existing tap's.
        auto tap = netns::open_tap("husktap%d", itf.mtu);
        auto redirected = tap ? netns::redirect_both_ways(itf.ifindex, tap->ifindex) : Result<>{};
        if (!tap || !redirected) {
            // Only the interfaces done before this one are this create's to undo.
            for (std::size_t j = 0; j < i; j++)
                (void)netns::remove_ingress(net.interfaces[j].name);
            return fail("network namespace " + path + ": interface " + itf.name + ": "
                        + (tap ? redirected.error() : tap.error()).message());
        }
        net.taps.push_back(std::move(*tap));
    }
    return net;
}

ReadyLine read_ready(int fd)
{
    std::string line;
    char buf[512];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        line.append(buf, size_t(n));
    }
    while (!line.empty() && line.back() == '\n')
        line.pop_back();
    ReadyLine r;
    if (line.starts_with("ok ")) {
        r.ok = std::sscanf(line.c_str(), "ok %d %d", &r.qemu, &r.monitor) == 2;
        if (!r.ok)
            r.message = "the sandbox monitor answered \"" + line + "\"";
    } else if (line.starts_with("error ")) {
        r.message = line.substr(6);
    } else {
        r.message = "the sandbox monitor ended without a word";
    }
    return r;
}

// Forks the monitor (detached: its own session, reparented to init) and returns what it
// reported once the guest's agent created the container.
Result<ReadyLine> spawn_monitor(MonitorPlan plan, cgroups::Manager& cgroup)
{
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0)
        return fail_errno("pipe");
    Fd rd(p[0]), wr(p[1]);
    pid_t child = ::fork();
    if (child < 0)
        return fail_errno("fork");
    if (child == 0) {
        ::setsid();
        if (::fork() != 0)
            ::_exit(0);
        // The VMM's cgroup is the container's on the host: QEMU (and so the guest) is
        // accounted where the container would be. A failure is reported like any other.
        if (auto r = cgroup.add(::getpid()); !r) {
            (void)fs::write_all(BorrowedFd(wr.get()), "error put the sandbox in its cgroup: " + r.error().message() + "\n");
            ::_exit(1);
        }
        // The monitor keeps none of the caller's stdio (the keeper has the container's), only
        // the ready pipe.
        // The taps QEMU gets go on as 4, 5, ... (moved out of the way first).
        std::vector<int> taps;
        for (const auto& net : plan.vm.nets)
            taps.push_back(::fcntl(net.fd, F_DUPFD_CLOEXEC, 64));
        ::dup2(wr.get(), 3);
        for (std::size_t i = 0; i < taps.size(); i++) {
            if (taps[i] < 0 || ::dup2(taps[i], int(4 + i)) < 0) {
                (void)fs::write_all(BorrowedFd(3), "error pass a tap to the sandbox monitor: " + std::string(std::strerror(errno)) + "\n");
                ::_exit(1);
            }
            ::fcntl(int(4 + i), F_SETFD, FD_CLOEXEC);
            plan.vm.nets[i].fd = int(4 + i);
        }
        sys::close_range(unsigned(4 + taps.size()), ~0U, 0);
        log::forget_file(); // (the caller's --log descriptor is closed, or was 3)
        if (int null = ::open("/dev/null", O_RDWR | O_CLOEXEC); null >= 0) {
            for (int fd = 0; fd < 3; fd++)
                ::dup2(null, fd);
            ::close(null);
        }
        ::fcntl(3, F_SETFD, FD_CLOEXEC);
        log::set_file(plan.state_dir + "/monitor.log");
        plan.ready_fd = 3;
        run_monitor(std::move(plan));
    }
    wr.reset();
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return read_ready(rd.get());
}

void kill_record(const Record& r)
{
    if (alive(r.keeper_pid, r.keeper_start_time))
        ::kill(r.keeper_pid, SIGKILL);
    if (monitor_alive(r))
        ::kill(r.monitor_pid, SIGKILL);
    // QEMU dies with the monitor (PR_SET_PDEATHSIG); this is for a monitor killed earlier.
    if (r.qemu_pid > 0) {
        auto comm = fs::read_file("/proc/" + std::to_string(r.qemu_pid) + "/comm");
        if (comm && comm->starts_with("qemu"))
            ::kill(r.qemu_pid, SIGKILL);
    }
}

bool wait_monitor_gone(const Record& r, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        if (!monitor_alive(r))
            return true;
        ::usleep(10'000);
    }
    return false;
}

Result<json> read_json_file(const std::string& path)
{
    auto text = TRY(fs::read_file(path));
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        return fail(path + ": " + e.what());
    }
}

std::string process_json(const ExecOptions& o, const json& config)
{
    json p = config.value("process", json::object());
    p["terminal"] = o.tty;
    p.erase("consoleSize");
    if (!o.args.empty())
        p["args"] = o.args;
    if (!o.env.empty()) {
        json env = p.value("env", json::array());
        for (const auto& e : o.env)
            env.push_back(e);
        p["env"] = env;
    }
    if (!o.cwd.empty())
        p["cwd"] = o.cwd;
    if (!o.user.empty()) {
        auto colon = o.user.find(':');
        json user = json::object();
        user["uid"] = std::stoul(o.user.substr(0, colon));
        user["gid"] = colon == std::string::npos ? 0 : std::stoul(o.user.substr(colon + 1));
        p["user"] = user;
    }
    if (!o.additional_gids.empty())
        p["user"]["additionalGids"] = o.additional_gids;
    if (o.no_new_privs)
        p["noNewPrivileges"] = true;
    if (!o.caps.empty()) {
        for (const char* set : {"bounding", "effective", "permitted"}) {
            json caps = p["capabilities"].value(set, json::array());
            for (const auto& c : o.caps)
                caps.push_back(c);
            p["capabilities"][set] = caps;
        }
    }
    return p.dump();
}

} // namespace

Result<bool> wants_vm(const std::string& bundle, const Selection& sel)
{
    std::string choice;
    // An unreadable or malformed config.json is the runtime's to report; and a config that
    // does not name the annotation is not parsed twice.
    auto text = fs::read_file(fs::clean(bundle) + "/config.json");
    json config;
    if (text && text->find(sandbox_annotation) != std::string::npos)
        config = json::parse(*text, nullptr, false);
    if (auto a = config.find("annotations"); config.is_object() && a != config.end() && a->is_object()) {
        if (auto s = a->find(sandbox_annotation); s != a->end()) {
            if (!s->is_string())
                return fail(std::string("annotation ") + sandbox_annotation + " must be a string");
            choice = s->get<std::string>();
            if (choice != "vm" && choice != "none")
                return fail(std::string("annotation ") + sandbox_annotation + "=\"" + choice + "\": expected \"vm\" or \"none\"");
        }
    }
    if (choice.empty())
        choice = sel.flag;
    if (choice.empty()) {
        // Only a host that chose VM sandboxes pays for reading husk.yaml on every create.
        std::string path = sel.config_path.empty() ? default_config_path() : sel.config_path;
        if (!fs::exists(path))
            return false;
        choice = TRY(load_config(path)).mode;
    }
    if (choice != "vm" && choice != "none")
        return fail("--sandbox " + choice + ": expected vm or none");
    return choice == "vm";
}

bool is_vm_container(const std::string& root, const std::string& id)
{
    if (id.empty() || id.find('/') != std::string::npos || id == "." || id == "..")
        return false;
    struct stat st {};
    return ::lstat((root + "/" + id + "/" + record_name).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<> bind_mount(const std::string& source, const std::string& target, bool readonly)
{
    TRY(fs::mkdir_all(target, 0700));
    if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
        return fail_errno("bind " + source + " on " + target);
    if (readonly && ::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) < 0)
        return fail_errno("make " + target + " read-only");
    return {};
}

// A pod member: no VM of its own. Its root filesystem and bind-mounted directories are bind
// mounts under the sandbox's pod share (pod/ID/...), its namespaces the sandbox's in the
// guest, and its calls go to the sandbox's monitor (monitor.sock is a link to it).
Result<pid_t> vm_join(const std::string& root, const CreateOptions& options, json config, const std::string& bundle,
                      const std::string& rootfs, const std::string& pod, bool attached, std::optional<HostPty> pty)
{
    state::Store store(root);
    Record sandbox;
    std::string pod_dir;
    {
        auto sdir = TRY(store.open(pod, state::Lock::Shared));
        sandbox = TRY(load_record(sdir));
        if (!monitor_alive(sandbox))
            return fail("pod sandbox " + pod + " is not running");
        pod_dir = sdir.file(pod_tag);
        if (!fs::exists(pod_dir))
            return fail("container " + pod + " is not a pod sandbox (it was created without " + sandbox_id_annotation
                        + "=" + pod + ")");
    }
    TRY(fs::mkdir_all(root, 0700));
    auto dir = TRY(store.create(options.id));
    const std::string member_dir = pod_dir + "/" + options.id;
    struct Cleanup {
        const state::Store& store;
        const state::ContainerDir& dir;
        std::string member_dir;
        bool armed = true;
        ~Cleanup()
        {
            if (!armed)
                return;
            // The store is removed only when nothing is mounted below the member's directory.
            if (unmount_and_remove(member_dir))
                (void)store.remove(dir);
        }
    } cleanup{store, dir, member_dir};

    auto shares = TRY(prepare_config(config, options.id, bundle, dir, pod));
    TRY(bind_mount(rootfs, member_dir + "/rootfs", false));
    for (const auto& sh : shares)
        TRY(bind_mount(sh.host_path, member_dir + "/" + sh.tag, sh.readonly));
    const std::string prefix = shares_root;
    if (auto m = config.find("mounts"); m != config.end() && m->is_array()) {
        for (auto& mount : *m) {
            if (!mount.is_object() || !mount.contains("source") || !mount["source"].is_string())
                continue;
            std::string src = mount["source"].get<std::string>();
            if (src.starts_with(prefix))
                mount["source"] = prefix + pod_tag + "/" + options.id + "/" + src.substr(prefix.size());
        }
    }
    if (::symlinkat(("../" + pod + "/" + monitor_socket_name).c_str(), dir.fd().get(), monitor_socket_name) < 0)
        return fail_errno("link " + dir.file(monitor_socket_name));

    pb::CreateContainerRequest req;
    req.set_container_id(options.id);
    req.set_config_json(config.dump());
    req.set_rootfs_tag(pod_tag);
    req.set_rootfs_path(options.id + "/rootfs");
    const bool relay_stdin = pty.has_value() || caller_has_stdin();
    req.set_stdin(relay_stdin);
    {
        auto conn = connect_monitor(dir.fd());
        if (!conn)
            return fail("pod sandbox " + pod + ": " + conn.error().message());
        AgentClient client(std::move(*conn));
        pb::Empty empty;
        TRY(client.call("CreateContainer", req, empty, 60'000));
    }
    auto undo_guest = [&] {
        if (auto conn = connect_monitor(dir.fd()); conn) {
            AgentClient client(std::move(*conn));
            (void)delete_in_guest(client, options.id, true);
        }
    };

    Record r = sandbox;
    r.id = options.id;
    r.bundle = bundle;
    r.rootfs = rootfs;
    r.created = log::rfc3339_now(true);
    r.owner = sys::user_name(::geteuid());
    r.oci_version = config.value("ociVersion", "");
    r.annotations = config.value("annotations", std::map<std::string, std::string>{});
    r.cgroup_dirs.clear();
    r.pod = pod;
    auto keeper = spawn_keeper(KeeperPlan{dir.path(), options.id, "", relay_stdin, pty ? pty->slave.get() : -1}, attached);
    if (!keeper) {
        undo_guest();
        return std::unexpected(keeper.error());
    }
    r.keeper_pid = *keeper;
    r.keeper_start_time = 0;
    if (auto ps = sys::proc_stat(*keeper))
        r.keeper_start_time = ps->start_time;
    auto written = fs::write_file_atomic(dir.fd(), record_name, to_json(r).dump());
    if (written && !options.pid_file.empty())
        written = fs::write_file(fs::absolute(options.pid_file, fs::current_dir()), std::to_string(r.keeper_pid));
    if (!written) {
        ::kill(r.keeper_pid, SIGKILL);
        undo_guest();
        return std::unexpected(written.error());
    }
    cleanup.armed = false;
    return r.keeper_pid;
}

Result<pid_t> vm_create(const std::string& root, const CreateOptions& options, const Selection& sel, bool attached,
                        Fd* terminal_master)
{
    if (options.preserve_fds > 0)
        return fail("--preserve-fds: a VM sandbox cannot pass host file descriptors into the guest");
    auto cfg = TRY(load_config(sel.config_path));
    std::string bundle = fs::absolute(options.bundle, fs::current_dir());
    auto config = TRY(read_json_file(bundle + "/config.json"));
    if (!config.is_object())
        return fail(bundle + "/config.json: not a JSON object");
    std::string rootfs = fs::absolute(config.value("root", json::object()).value("path", "rootfs"), bundle);
    struct stat st {};
    if (::stat(rootfs.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
        return fail("root.path " + rootfs + " is not a directory");
    // A pod: the sandbox (annotated with its own id) gets a VM with a pod share; a member of
    // a sandbox that has one joins it.
    std::string pod;
    if (auto a = config.find("annotations"); a != config.end() && a->is_object()) {
        if (auto v = a->find(sandbox_id_annotation); v != a->end() && v->is_string())
            pod = v->get<std::string>();
    }
    auto pty = TRY(host_terminal(config.value("process", json::object()), options.console_socket, terminal_master));
    if (pty && terminal_master && *terminal_master) {
        // In the foreground: the guest's pty, and ours, start with the caller's window size.
        winsize ws {};
        if (::isatty(0) && ::ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
            config["process"]["consoleSize"] = {{"height", ws.ws_row}, {"width", ws.ws_col}};
            (void)::ioctl(terminal_master->get(), TIOCSWINSZ, &ws);
        }
    }
    if (!pod.empty() && pod != options.id && is_vm_container(root, pod))
        return vm_join(root, options, std::move(config), bundle, rootfs, pod, attached, std::move(pty));
    const bool pod_sandbox = pod == options.id;
    if (!fs::exists(cfg.kernel_path()) || !fs::exists(cfg.initrd_path()))
        return fail("the sandbox guest image is missing (" + cfg.kernel_path() + ", " + cfg.initrd_path()
                    + "): set sandbox.image_dir, or kernel and initrd, in husk.yaml");

    state::Store store(root);
    TRY(fs::mkdir_all(root, 0700));
    auto dir = TRY(store.create(options.id));
    // Everything below undoes itself: a failed create leaves no state directory.
    struct Cleanup {
        const state::Store& store;
        const state::ContainerDir& dir;
        bool armed = true;
        ~Cleanup()
        {
            if (armed)
                (void)store.remove(dir);
        }
    } cleanup{store, dir};

    // The host cgroup for the monitor and QEMU: the container's cgroupsPath (the guest gets a
    // cgroup of its own in its own hierarchy).
    std::string cgroups_path;
    if (auto l = config.find("linux"); l != config.end() && l->is_object())
        cgroups_path = l->value("cgroupsPath", "");
    auto cgroup = TRY(cgroups::make_manager(cgroups_path, options.id));
    TRY(cgroup->create());
    struct CgroupCleanup {
        cgroups::Manager& cg;
        bool armed = true;
        ~CgroupCleanup()
        {
            if (armed)
                (void)cg.destroy();
        }
    } cgroup_cleanup{*cgroup};

    // The network: the interfaces of the namespace the container joins (a CNI veth) go to the
    // guest through taps; with none (or a new namespace) the guest has loopback only.
    const std::string netns_path = network_namespace_path(config);
    GuestNetwork net;
    if (!netns_path.empty())
        net = TRY(take_network(netns_path));
    struct NetCleanup {
        const std::string& path;
        const GuestNetwork& net;
        bool armed = true;
        ~NetCleanup()
        {
            if (!armed)
                return;
            std::vector<std::string> links;
            for (const auto& i : net.interfaces)
                links.push_back(i.name);
            remove_redirects(path, links);
        }
    } net_cleanup{netns_path, net};

    auto shares = TRY(prepare_config(config, options.id, bundle, dir, "", !net.interfaces.empty()));
    long host_cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    VmSize size = size_vm(config["linux"].value("resources", json::object()), cfg, unsigned(std::max(1L, host_cpus)));
    // A pod's VM holds all of its containers: CRI annotates the sandbox with their limits' sums.
    if (pod_sandbox) {
        json pod_res = pod_resources(config.value("annotations", json::object()));
        if (!pod_res.empty())
            size = larger(size, size_vm(pod_res, cfg, unsigned(std::max(1L, host_cpus))));
    }

    VmSpec vm;
    vm.qemu = cfg.qemu;
    vm.kernel = cfg.kernel_path();
    vm.initrd = cfg.initrd_path();
    vm.vcpus = size.vcpus;
    vm.memory_mib = size.memory_mib;
    vm.console_log = "console.log";
    vm.agent_socket = agent_socket_name;
    vm.shares.push_back(Share{.tag = "rootfs", .host_path = rootfs, .readonly = config["root"].value("readonly", false)});
    for (const auto& s : shares)
        vm.shares.push_back(s);
    if (pod_sandbox) {
        TRY(fs::mkdir_all(dir.file(pod_tag), 0700));
        vm.shares.push_back(Share{.tag = pod_tag, .host_path = dir.file(pod_tag), .readonly = false, .multidevs = true});
    }
    {
        VmSpec probe = vm;
        probe.shares.clear();
        probe.memory_mib = 128;
        probe.vcpus = 1;
        probe.console_log = dir.file("accel-probe.log");
        probe.agent_socket = dir.file("accel-probe.sock");
        vm.accel = TRY(choose_accel(cfg.accel, probe, "/run/husk/sandbox", 15'000));
    }

    for (std::size_t i = 0; i < net.taps.size(); i++)
        vm.nets.push_back(NetDevice{.fd = net.taps[i].fd.get(), .mac = net.interfaces[i].mac});

    pb::CreateContainerRequest req;
    req.set_container_id(options.id);
    req.set_config_json(config.dump());
    req.set_rootfs_tag("rootfs");
    for (const auto& i : net.interfaces) {
        auto* itf = req.add_interfaces();
        itf->set_name(i.name);
        itf->set_mac(i.mac);
        itf->set_mtu(i.mtu);
        for (const auto& a : i.addresses) {
            auto* addr = itf->add_addresses();
            addr->set_address(a.address);
            addr->set_prefix_len(a.prefix_len);
        }
    }
    for (const auto& r : net.routes) {
        auto* route = req.add_routes();
        route->set_destination(r.destination);
        route->set_gateway(r.gateway);
        route->set_device(r.device);
        route->set_metric(r.metric);
    }
    for (const auto& s : shares) {
        auto* share = req.add_shares();
        share->set_tag(s.tag);
        share->set_guest_path(shares_root + s.tag);
        share->set_readonly(s.readonly);
    }
    const bool relay_stdin = pty.has_value() || caller_has_stdin();
    req.set_stdin(relay_stdin);

    MonitorPlan plan;
    plan.id = options.id;
    plan.state_dir = dir.path();
    plan.vm = vm;
    plan.create_request = req.SerializeAsString();
    plan.boot_timeout_ms = int(cfg.boot_timeout_seconds) * 1000;
    auto ready = TRY(spawn_monitor(std::move(plan), *cgroup));
    net.taps.clear(); // QEMU has them (or has failed, and they go)
    if (!ready.ok) {
        // The monitor's log goes with the state directory: its last words go in the error.
        std::string detail;
        if (auto text = fs::read_file(dir.file("monitor.log")); text && !text->empty()) {
            std::string t = *text;
            while (!t.empty() && t.back() == '\n')
                t.pop_back();
            auto from = t.size() > 600 ? t.size() - 600 : 0;
            detail = " (monitor.log: " + t.substr(from) + ")";
        }
        return fail("create VM sandbox " + options.id + ": " + ready.message + detail);
    }

    Record r;
    r.id = options.id;
    r.bundle = bundle;
    r.rootfs = rootfs;
    r.created = log::rfc3339_now(true);
    r.owner = sys::user_name(::geteuid());
    r.accel = vm.accel;
    r.oci_version = config.value("ociVersion", "");
    r.vcpus = vm.vcpus;
    r.memory_mib = vm.memory_mib;
    r.annotations = config.value("annotations", std::map<std::string, std::string>{});
    r.monitor_pid = ready.monitor;
    r.qemu_pid = ready.qemu;
    r.netns_path = net.interfaces.empty() ? "" : netns_path;
    for (const auto& i : net.interfaces)
        r.net_links.push_back(i.name);
    for (const auto& h : cgroup->hierarchies())
        r.cgroup_dirs.push_back(h.dir);
    if (auto ps = sys::proc_stat(ready.monitor))
        r.monitor_start_time = ps->start_time;
    auto keeper = spawn_keeper(KeeperPlan{dir.path(), options.id, "", relay_stdin, pty ? pty->slave.get() : -1}, attached);
    if (!keeper) {
        kill_record(r);
        return std::unexpected(keeper.error());
    }
    r.keeper_pid = *keeper;
    if (auto ps = sys::proc_stat(*keeper))
        r.keeper_start_time = ps->start_time;
    if (auto w = fs::write_file_atomic(dir.fd(), record_name, to_json(r).dump()); !w) {
        kill_record(r);
        return std::unexpected(w.error());
    }
    if (!options.pid_file.empty()) {
        std::string abs = fs::absolute(options.pid_file, fs::current_dir());
        if (auto w = fs::write_file(abs, std::to_string(r.keeper_pid)); !w) {
            kill_record(r);
            return std::unexpected(w.error());
        }
    }
    cleanup.armed = false;
    cgroup_cleanup.armed = false;
    net_cleanup.armed = false;
    return r.keeper_pid;
}

Result<> vm_start(const std::string& root, const std::string& id)
{
    auto s = TRY(open_session(root, id, state::Lock::Exclusive));
    auto st = TRY(guest_state(s.client, id));
    if (st.status() != pb::CREATED)
        return fail("cannot start a container that has stopped");
    pb::ContainerRequest req;
    req.set_container_id(id);
    pb::StartResponse resp;
    TRY(s.client.call("StartContainer", req, resp, 60'000));
    return {};
}

Result<StateView> vm_state(const std::string& root, const std::string& id)
{
    state::Store store(root);
    auto dir = TRY(store.open(id, state::Lock::Shared));
    auto r = TRY(load_record(dir));
    StateView v;
    v.oci_version = r.oci_version;
    v.id = r.id;
    v.bundle = r.bundle;
    v.rootfs = r.rootfs;
    v.created = r.created;
    v.owner = r.owner;
    v.annotations = r.annotations;
    v.status = state::Status::Stopped;
    auto client = connect(dir, r);
    if (client) {
        if (auto st = guest_state(*client, id); st) {
            v.status = status_of(st->status());
            if (v.status != state::Status::Stopped)
                v.pid = r.keeper_pid;
        }
    }
    return v;
}

Result<> vm_kill(const std::string& root, const std::string& id, int sig, bool all)
{
    auto s = TRY(open_session(root, id, state::Lock::Exclusive));
    pb::SignalProcessRequest req;
    req.set_container_id(id);
    req.set_signal(uint32_t(sig));
    req.set_all(all);
    pb::Empty resp;
    TRY(s.client.call("SignalProcess", req, resp, 30'000));
    return {};
}

Result<int> vm_exec(const std::string& root, const ExecOptions& options)
{
    if (options.preserve_fds > 0)
        return fail("--preserve-fds: a VM sandbox cannot pass host file descriptors into the guest");
    auto s = TRY(open_session(root, options.id, state::Lock::Shared));
    auto st = TRY(guest_state(s.client, options.id));
    if (st.status() == pb::PAUSED && !options.ignore_paused)
        return fail("cannot exec in a paused container (use --ignore-paused to override)");
    if (st.status() != pb::RUNNING && st.status() != pb::PAUSED)
        return fail("cannot exec in a stopped container");
    std::string process;
    if (!options.process_file.empty()) {
        auto p = TRY(read_json_file(options.process_file));
        process = p.dump();
    } else {
        if (options.args.empty())
            return fail("exec: no command given");
        auto config = TRY(read_json_file(s.record.bundle + "/config.json"));
        try {
            process = process_json(options, config);
        } catch (const std::exception& e) {
            return fail(std::string("exec: ") + e.what());
        }
    }
    bool detach = options.detach == Detach::Yes;
    // A terminal: the keeper holds the host pty's slave; the master goes to the console
    // socket, or stays here for an attached exec to relay.
    Fd master;
    auto pty = TRY(host_terminal(json::parse(process), options.console_socket, detach ? nullptr : &master));
    if (pty && master) {
        // The process starts with the request: it gets the caller's window size from the start.
        winsize ws {};
        if (::isatty(0) && ::ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
            json p = json::parse(process);
            p["consoleSize"] = {{"height", ws.ws_row}, {"width", ws.ws_col}};
            process = p.dump();
        }
    }
    char rnd[8];
    std::string exec_id = "exec-" + std::to_string(::getpid());
    if (::getentropy(rnd, sizeof rnd) == 0)
        for (unsigned char c : rnd)
            exec_id += "0123456789abcdef"[c & 15];

    pb::ExecProcessRequest req;
    req.set_container_id(options.id);
    req.set_exec_id(exec_id);
    req.set_process_json(process);
    const bool relay_stdin = !detach || pty.has_value() || caller_has_stdin();
    req.set_stdin(relay_stdin);
    pb::StartResponse started;
    TRY(s.client.call("ExecProcess", req, started, 60'000));
    if (detach) {
        // The keeper stands for the process: its pid is the one reported.
        auto keeper = spawn_keeper(KeeperPlan{s.dir.path(), options.id, exec_id, relay_stdin, pty ? pty->slave.get() : -1}, false);
        if (!keeper) {
            pb::SignalProcessRequest kill;
            kill.set_container_id(options.id);
            kill.set_exec_id(exec_id);
            kill.set_signal(SIGKILL);
            pb::Empty empty;
            (void)s.client.call("SignalProcess", kill, empty, 10'000);
            return std::unexpected(keeper.error());
        }
        if (!options.pid_file.empty())
            TRY(fs::write_file(fs::absolute(options.pid_file, fs::current_dir()), std::to_string(*keeper)));
        return 0;
    }
    // The lock stays shared while the process runs: delete waits, as it does for husk's own.
    if (pty) {
        // An attached terminal: a keeper of our own holds the slave; we relay the master
        // (or the console socket's receiver does) between our stdio and it, and wait.
        terminal::SignalForwarding forwarding(terminal::SignalForwarding::Active::Yes);
        auto keeper = spawn_keeper(KeeperPlan{s.dir.path(), options.id, exec_id, true, pty->slave.get()}, true);
        if (!keeper)
            return std::unexpected(keeper.error());
        pty->slave.reset();
        Fd pidfd(sys::pidfd_open(*keeper));
        return terminal::attach_and_wait(*keeper, pidfd.borrow(), std::move(master));
    }
    std::thread out(relay_output, s.dir.fd(), options.id, exec_id, pb::STDOUT, 1);
    std::thread err(relay_output, s.dir.fd(), options.id, exec_id, pb::STDERR, 2);
    std::thread(relay_input, s.dir.fd(), options.id, exec_id).detach();
    pb::ProcessRequest wait;
    wait.set_container_id(options.id);
    wait.set_exec_id(exec_id);
    pb::WaitProcessResponse done;
    auto w = s.client.call("WaitProcess", wait, done);
    out.join();
    err.join();
    if (!w)
        return std::unexpected(w.error());
    return int(done.exit_status());
}

Result<> vm_pause(const std::string& root, const std::string& id)
{
    return simple_call(root, id, "Pause");
}

Result<> vm_resume(const std::string& root, const std::string& id)
{
    return simple_call(root, id, "Resume");
}

Result<> vm_delete(const std::string& root, const std::string& id, bool force)
{
    state::Store store(root);
    auto dir = TRY(store.open(id));
    auto r = TRY(load_record(dir));
    if (!r.pod.empty()) {
        // A pod member: its container in the sandbox's guest, its keeper, its mounts.
        if (auto client = connect(dir, r); client)
            TRY(delete_in_guest(*client, id, force));
        if (alive(r.keeper_pid, r.keeper_start_time))
            ::kill(r.keeper_pid, SIGKILL);
        std::string parent = dir.path().substr(0, dir.path().rfind('/'));
        TRY(unmount_and_remove(parent + "/" + r.pod + "/" + pod_tag + "/" + id));
        TRY(store.remove(dir));
        return {};
    }
    if (auto client = connect(dir, r); client) {
        TRY(delete_in_guest(*client, id, force));
        {
            pb::Empty e1, e2;
            if (auto s = client->call("Shutdown", e1, e2, 30'000); !s)
                log::warn("container " + id + ": shutdown: " + s.error().message());
        }
        if (!wait_monitor_gone(r, 15'000))
            log::warn("container " + id + ": the sandbox monitor did not exit; killed");
    }
    kill_record(r);
    remove_redirects(r.netns_path, r.net_links);
    // Members still in the pod lose their mounts with it (their delete finds them gone).
    if (fs::exists(dir.file(pod_tag)))
        TRY(unmount_and_remove(dir.file(pod_tag)));
    if (!r.cgroup_dirs.empty()) {
        if (auto cg = cgroups::reopen_manager(r.cgroup_dirs); cg) {
            if (auto d = (*cg)->destroy(); !d)
                log::warn("container " + id + ": remove the sandbox's cgroup: " + d.error().message());
        }
    }
    TRY(store.remove(dir));
    return {};
}

Result<std::vector<GuestProcess>> vm_ps(const std::string& root, const std::string& id)
{
    auto s = TRY(open_session(root, id, state::Lock::Shared));
    pb::ContainerRequest req;
    req.set_container_id(id);
    pb::ListPidsResponse resp;
    TRY(s.client.call("ListPids", req, resp, 30'000));
    std::vector<GuestProcess> out;
    for (const auto& p : resp.processes())
        out.push_back(GuestProcess{.pid = p.pid(), .command = p.command()});
    return out;
}

} // namespace husk::sandbox
