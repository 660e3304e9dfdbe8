#include "sandbox/agent/service.hpp"

#include "netns/link.hpp"

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/unix_socket.hpp"
#include "runtime/state/container_id.hpp"
#include "sandbox/proto/agent.pb.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef HUSK_AGENT_VERSION
#define HUSK_AGENT_VERSION "unknown"
#endif

namespace husk::agent {

namespace pb = husk::sandbox::v1;
using json = nlohmann::json;

namespace {

// Per stream: what the agent holds before it stops reading the process's output.
constexpr std::size_t stream_limit = 1u << 20;

std::int64_t now_unix_nano()
{
    timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void set_nonblocking(int fd)
{
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0)
        (void)::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

Result<std::pair<Fd, Fd>> make_pipe()
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0)
        return fail_errno("pipe2");
    return std::pair<Fd, Fd> { Fd(fds[0]), Fd(fds[1]) };
}

// Puts the given descriptors on 0, 1 and 2 for the duration of a runtime call (the
// processes the runtime clones inherit the caller's stdio), and puts the agent's back after.
class StdioSwap {
public:
    StdioSwap() = default;
    StdioSwap(const StdioSwap&) = delete;
    StdioSwap& operator=(const StdioSwap&) = delete;
    ~StdioSwap()
    {
        for (int i = 0; i < 3; ++i)
            if (m_saved[i].valid())
                (void)::dup2(m_saved[i].get(), i);
    }

    Result<> apply(const Fd (&child)[3])
    {
        for (int i = 0; i < 3; ++i) {
            int saved = ::fcntl(i, F_DUPFD_CLOEXEC, 10);
            if (saved < 0)
                return fail_errno("save descriptor " + std::to_string(i));
            m_saved[i] = Fd(saved);
        }
        for (int i = 0; i < 3; ++i)
            if (::dup2(child[i].get(), i) < 0)
                return fail_errno("dup2 onto descriptor " + std::to_string(i));
        return {};
    }

private:
    Fd m_saved[3];
};

// A console socket for one create or exec, where the runtime connects. In the guest a path in
// the agent's own 0700 directory: a container may share the agent's network namespace (the
// guest's, when it took over the host's network), where an abstract name could be bound or
// connected to first by the container's processes. In the test mode an abstract socket.
Result<Fd> console_listener(const std::string& name)
{
    sockaddr_un addr;
    socklen_t len = TRY(unix_address(name, addr));
    int raw = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (raw < 0)
        return fail_errno("socket");
    Fd fd(raw);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0)
        return fail_errno("bind console socket " + name);
    if (::listen(fd.get(), 1) < 0)
        return fail_errno("listen on console socket " + name);
    return fd;
}

Result<> wait_readable(int fd, int timeout_ms, const char* what)
{
    pollfd p { fd, POLLIN, 0 };
    int n;
    while ((n = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    if (n < 0)
        return fail_errno(std::string("poll ") + what);
    if (n == 0)
        return fail(std::string("timed out waiting for ") + what);
    return {};
}

// The pty master the container sent over the console socket. It was sent before the
// runtime call returned, so it is queued by now; the timeout only guards a broken runtime.
Result<Fd> receive_console(BorrowedFd listener)
{
    TRY(wait_readable(listener.get(), 10'000, "the console connection"));
    int raw = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (raw < 0)
        return fail_errno("accept the console connection");
    Fd conn(raw);
    TRY(wait_readable(conn.get(), 10'000, "the pty master"));
    char name[512];
    int received = -1;
    if (recv_with_fd(conn.get(), name, sizeof name, &received) < 0)
        return fail_errno("receive the pty master");
    if (received < 0)
        return fail("the console socket message carried no descriptor");
    return Fd(received);
}

std::string read_trimmed(const std::string& path)
{
    auto text = fs::read_file(path);
    if (!text)
        return {};
    std::string s = std::move(*text);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0'))
        s.pop_back();
    return s;
}

uint32_t wait_status_code(int st)
{
    if (WIFEXITED(st))
        return uint32_t(WEXITSTATUS(st));
    if (WIFSIGNALED(st))
        return uint32_t(128 + WTERMSIG(st));
    return 255;
}

// A share tag names one directory below the shares root, nothing else.
Result<> validate_tag(const std::string& tag)
{
    if (tag.empty() || tag == "." || tag == ".." || tag.find('/') != std::string::npos || tag.size() > 255)
        return fail("invalid share tag \"" + tag + "\"");
    return {};
}

} // namespace

struct Service::Reply {
    ttrpc::Status status;
    std::string payload;
};

struct Service::Stream {
    Fd fd; // the read end; invalid once the last writer closed and the agent saw it
    std::string buf;
    bool eof = false;
    bool paused = false; // full: not watched for input until a read drains it
    std::optional<ReplyTo> reader;
    std::uint32_t reader_max = 0;
};

struct Service::Proc {
    std::string container_id;
    std::string exec_id;
    pid_t pid = 0;
    bool terminal = false;
    bool exited = false;
    std::uint32_t exit_status = 0;
    std::int64_t exited_at = 0;
    Fd stdin_fd; // the pipe's write end, or the pty master
    bool stdin_closed = false;
    std::optional<ReplyTo> writer; // a parked WriteStdin
    std::string pending;
    std::size_t written = 0;
    Stream out;
    Stream err;
    std::vector<ReplyTo> waiters;
};

struct Service::Container {
    std::string id;
    std::string bundle;
    std::vector<std::string> share_tags; // mounted for it (guest), released on delete
    Proc init;
    std::map<std::string, std::unique_ptr<Proc>> execs;
};

namespace {

using Reply = Service::Reply;

Reply ok_reply(const google::protobuf::MessageLite& m)
{
    Reply r;
    (void)m.SerializeToString(&r.payload);
    return r;
}

Reply error_reply(ttrpc::Code code, std::string message)
{
    Reply r;
    r.status.code = std::int32_t(code);
    r.status.message = std::move(message);
    return r;
}

template <typename M>
bool parse(const std::string& payload, M& m)
{
    return m.ParseFromString(payload);
}

// Runtime errors on an existing container are almost all about its state ("container not
// running", "cannot start a container that has stopped").
Reply runtime_error(const Error& e, const std::string& what)
{
    return error_reply(ttrpc::Code::failed_precondition, what + ": " + e.message());
}

} // namespace

#define PARSE(type, var)                                                                   \
    type var;                                                                              \
    if (!parse(payload, var))                                                              \
        return error_reply(ttrpc::Code::invalid_argument, "malformed " #type);

#define FIND_OR_REPLY(expr, var)                                                           \
    auto var##_r = (expr);                                                                 \
    if (!var##_r)                                                                          \
        return error_reply(ttrpc::Code::not_found, var##_r.error().message());             \
    auto* var = *var##_r;

Service::Service(Loop& loop, Replier& replier, Mode mode, Paths paths)
    : m_loop(loop), m_replier(replier), m_mode(mode), m_paths(std::move(paths)), m_runtime(m_paths.state_root)
{
}

Service::~Service() = default;

void Service::handle(const ReplyTo& to, const std::string& method, const std::string& payload)
{
    std::optional<Reply> r;
    // One bad request must never take the agent down: anything thrown below (json, bad_alloc
    // from a hostile size) becomes that request's error.
    try {
        r = dispatch(to, method, payload);
    } catch (const std::exception& e) {
        r = error_reply(ttrpc::Code::internal, method + ": " + e.what());
    }
    if (r)
        m_replier.reply(to, r->status, r->status.code == 0 ? r->payload : std::string());
}

std::optional<Reply> Service::dispatch(const ReplyTo& to, const std::string& method, const std::string& payload)
{
    if (method == "Ping")
        return ping(payload);
    if (method == "CreateContainer")
        return create_container(payload);
    if (method == "StartContainer")
        return start_container(payload);
    if (method == "ExecProcess")
        return exec_process(payload);
    if (method == "SignalProcess")
        return signal_process(payload);
    if (method == "WaitProcess")
        return wait_process(to, payload);
    if (method == "State")
        return state(payload);
    if (method == "Stats")
        return stats(payload);
    if (method == "ListPids")
        return list_pids(payload);
    if (method == "Pause")
        return pause(payload, true);
    if (method == "Resume")
        return pause(payload, false);
    if (method == "ReadStream")
        return read_stream(to, payload);
    if (method == "WriteStdin")
        return write_stdin(to, payload);
    if (method == "CloseStdin")
        return close_stdin(payload);
    if (method == "ResizePty")
        return resize_pty(payload);
    if (method == "DeleteContainer")
        return delete_container(payload);
    if (method == "Shutdown")
        return shutdown();
    return error_reply(ttrpc::Code::unimplemented, "method " + method + " is not served by husk-agent");
}

Result<Service::Container*> Service::find_container(const std::string& id)
{
    auto it = m_containers.find(id);
    if (it == m_containers.end())
        return fail("container \"" + id + "\" not found");
    return it->second.get();
}

Result<Service::Proc*> Service::find_proc(const std::string& id, const std::string& exec_id)
{
    Container* c = TRY(find_container(id));
    if (exec_id.empty())
        return &c->init;
    auto it = c->execs.find(exec_id);
    if (it == c->execs.end())
        return fail("process \"" + exec_id + "\" not found in container \"" + id + "\"");
    return it->second.get();
}

// ---------------------------------------------------------------------------------------------

std::optional<Reply> Service::ping(const std::string& payload)
{
    PARSE(pb::PingRequest, req);
    pb::PingResponse resp;
    resp.set_agent_version(HUSK_AGENT_VERSION);
    utsname u {};
    if (::uname(&u) == 0)
        resp.set_kernel_release(u.release);
    std::string up = read_trimmed("/proc/uptime");
    if (!up.empty())
        resp.set_uptime_seconds(std::strtod(up.c_str(), nullptr));
    return ok_reply(resp);
}

Result<std::string> Service::mount_share(const std::string& tag, bool readonly)
{
    TRY(validate_tag(tag));
    std::string dir = m_paths.shares + "/" + tag;
    if (m_mode == Mode::Test) {
        struct stat st {};
        if (::stat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
            return fail("share " + tag + ": " + dir + " is not a directory");
        return dir;
    }
    // A tag is mounted once (several containers may use it) and unmounted with its last user.
    // 9p has one mount per tag, so the first user's readonly choice holds for all.
    auto& refs = m_share_refs[tag];
    if (refs == 0) {
        TRY(fs::mkdir_all(dir, 0755));
        unsigned long flags = MS_NOSUID | MS_NODEV | (readonly ? MS_RDONLY : 0);
        if (::mount(tag.c_str(), dir.c_str(), "9p", flags, "trans=virtio,version=9p2000.L,msize=262144") < 0) {
            int err = errno;
            m_share_refs.erase(tag);
            return fail_errno(err, "mount 9p share " + tag + " on " + dir);
        }
    }
    ++refs;
    return dir;
}

void Service::release_share(const std::string& tag)
{
    if (m_mode == Mode::Test)
        return;
    auto it = m_share_refs.find(tag);
    if (it == m_share_refs.end())
        return;
    if (--it->second > 0)
        return;
    m_share_refs.erase(it);
    std::string dir = m_paths.shares + "/" + tag;
    if (::umount2(dir.c_str(), MNT_DETACH) < 0)
        log::warn("unmount share " + dir + ": " + std::strerror(errno));
}

void Service::watch_stream(Stream& s)
{
    if (!s.fd.valid())
        return;
    set_nonblocking(s.fd.get());
    if (auto r = m_loop.add(s.fd.get(), EPOLLIN, [this, &s](std::uint32_t) { on_readable(s); }); !r) {
        log::warn("watch a process's output: " + r.error().message());
        s.fd.reset();
        s.eof = true;
    }
}

void Service::on_readable(Stream& s)
{
    char buf[65536];
    while (s.fd.valid() && s.buf.size() < stream_limit) {
        std::size_t want = std::min(sizeof buf, stream_limit - s.buf.size());
        ssize_t n = ::read(s.fd.get(), buf, want);
        if (n > 0) {
            s.buf.append(buf, std::size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        // End of file; or EIO, which is how a pty master says its last slave closed.
        m_loop.remove(s.fd.get());
        s.fd.reset();
        s.eof = true;
    }
    // Back-pressure: a full buffer stops the reading, and so in time the process's writes.
    if (s.fd.valid() && s.buf.size() >= stream_limit && !s.paused) {
        (void)m_loop.modify(s.fd.get(), 0);
        s.paused = true;
    }
    serve_reader(s);
}

void Service::serve_reader(Stream& s)
{
    if (!s.reader || (s.buf.empty() && !s.eof))
        return;
    std::size_t n = std::min<std::size_t>(s.reader_max, s.buf.size());
    pb::ReadStreamResponse resp;
    resp.set_data(s.buf.substr(0, n));
    s.buf.erase(0, n);
    resp.set_eof(s.eof && s.buf.empty());
    ReplyTo to = *s.reader;
    s.reader.reset();
    if (s.paused && s.fd.valid() && s.buf.size() < stream_limit) {
        s.paused = false;
        (void)m_loop.modify(s.fd.get(), EPOLLIN);
    }
    m_replier.reply(to, {}, resp.SerializeAsString());
}

void Service::close_proc_io(Proc& p)
{
    for (Stream* s : { &p.out, &p.err }) {
        if (s->fd.valid()) {
            m_loop.remove(s->fd.get());
            s->fd.reset();
        }
        s->eof = true;
        if (s->reader) {
            // Drained by delete: what is buffered goes with the end of file.
            s->reader_max = std::uint32_t(stream_limit);
            serve_reader(*s);
        }
    }
    if (p.writer)
        finish_stdin_write(p);
    if (p.stdin_fd.valid()) {
        m_loop.remove(p.stdin_fd.get());
        p.stdin_fd.reset();
    }
    p.stdin_closed = true;
}

void Service::process_exited(Proc& p, int wait_status)
{
    p.exited = true;
    p.exit_status = wait_status_code(wait_status);
    p.exited_at = now_unix_nano();
    m_by_pid.erase(p.pid);
    pb::WaitProcessResponse resp;
    resp.set_exit_status(p.exit_status);
    resp.set_exited_at_unix_nano(p.exited_at);
    auto waiters = std::move(p.waiters);
    p.waiters.clear();
    for (const auto& to : waiters)
        m_replier.reply(to, {}, resp.SerializeAsString());
}

void Service::reap()
{
    for (;;) {
        int st = 0;
        pid_t pid = ::waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            return;
        auto it = m_by_pid.find(pid);
        if (it != m_by_pid.end())
            process_exited(*it->second, st);
        // Anything else is an orphan the agent adopted (PID 1, or the subreaper): reaped only.
    }
}

// ---------------------------------------------------------------------------------------------
// Creating and starting.

// What a new process gets on 0-2 while the runtime clones it, and the console socket when
// it has a terminal.
struct Service::Stdio {
    Fd child[3];
    Fd console_listener;
    std::string console_name;
    ~Stdio()
    {
        if (!console_name.empty() && console_name[0] == '/')
            (void)::unlink(console_name.c_str());
    }
};

Result<> Service::prepare_stdio(Proc& p, bool want_stdin, bool terminal, Stdio& io)
{
    p.terminal = terminal;
    if (terminal) {
        // stdio is the pty the runtime makes in the container; 0-2 meanwhile are /dev/null.
        for (auto& fd : io.child)
            fd = TRY(fs::open("/dev/null", O_RDWR | O_CLOEXEC));
        std::string serial = std::to_string(::getpid()) + "-" + std::to_string(++m_console_serial);
        if (m_mode == Mode::Guest) {
            std::string dir = m_paths.bundles + "/.consoles";
            TRY(fs::mkdir_all(dir, 0700));
            io.console_name = dir + "/" + serial;
            (void)::unlink(io.console_name.c_str());
        } else {
            io.console_name = "@husk-agent-" + serial;
        }
        io.console_listener = TRY(console_listener(io.console_name));
        return {};
    }
    if (want_stdin) {
        auto [r, w] = TRY(make_pipe());
        io.child[0] = std::move(r);
        p.stdin_fd = std::move(w);
        set_nonblocking(p.stdin_fd.get());
    } else {
        io.child[0] = TRY(fs::open("/dev/null", O_RDONLY | O_CLOEXEC));
        p.stdin_closed = true;
    }
    auto [out_r, out_w] = TRY(make_pipe());
    auto [err_r, err_w] = TRY(make_pipe());
    p.out.fd = std::move(out_r);
    p.err.fd = std::move(err_r);
    io.child[1] = std::move(out_w);
    io.child[2] = std::move(err_w);
    return {};
}

// After the runtime call: the child's ends are closed (so end of file comes when the process
// and its children close theirs), the pty master is collected, the output is watched.
Result<> Service::finish_stdio(Proc& p, Stdio& io)
{
    for (auto& fd : io.child)
        fd.reset();
    if (p.terminal) {
        Fd master = TRY(receive_console(io.console_listener.borrow()));
        int dup = ::fcntl(master.get(), F_DUPFD_CLOEXEC, 3);
        if (dup < 0)
            return fail_errno("dup the pty master");
        p.out.fd = Fd(dup);
        p.stdin_fd = std::move(master);
        set_nonblocking(p.stdin_fd.get());
        p.err.eof = true; // with a terminal, everything is on STDOUT
    }
    watch_stream(p.out);
    watch_stream(p.err);
    return {};
}

std::optional<Reply> Service::create_container(const std::string& payload)
{
    PARSE(pb::CreateContainerRequest, req);
    const std::string& id = req.container_id();
    if (auto v = validate_container_id(id); !v)
        return error_reply(ttrpc::Code::invalid_argument, v.error().message());
    if (m_containers.contains(id))
        return error_reply(ttrpc::Code::already_exists, "container \"" + id + "\" already exists");
    json config = json::parse(req.config_json(), nullptr, false);
    if (config.is_discarded())
        return error_reply(ttrpc::Code::invalid_argument, "container " + id + ": config_json is not valid JSON");
    if (!config.is_object())
        return error_reply(ttrpc::Code::invalid_argument, "container " + id + ": config_json is not a JSON object");
    if (!config.contains("process") || !config["process"].is_object())
        return error_reply(ttrpc::Code::invalid_argument, "container " + id + ": config_json has no process");
    if (req.rootfs_tag().empty())
        return error_reply(ttrpc::Code::invalid_argument, "container " + id + ": rootfs_tag is empty");
    for (const auto& s : req.shares())
        if (auto v = validate_tag(s.tag()); !v)
            return error_reply(ttrpc::Code::invalid_argument, "container " + id + ": " + v.error().message());
    if (auto v = validate_tag(req.rootfs_tag()); !v)
        return error_reply(ttrpc::Code::invalid_argument, "container " + id + ": " + v.error().message());
    std::vector<netns::Interface> interfaces;
    std::vector<netns::Route> routes;
    for (const auto& i : req.interfaces()) {
        netns::Interface n { .name = i.name(), .mac = i.mac(), .mtu = i.mtu(), .addresses = {} };
        for (const auto& a : i.addresses())
            n.addresses.push_back(netns::IpAddress { a.address(), a.prefix_len() });
        interfaces.push_back(std::move(n));
    }
    for (const auto& r : req.routes())
        routes.push_back(netns::Route { r.destination(), r.gateway(), r.device(), r.metric() });
    if (auto v = netns::validate(interfaces, routes); !v)
        return error_reply(ttrpc::Code::invalid_argument, "container " + id + ": " + v.error().message());
    if (!interfaces.empty() || !routes.empty()) {
        // The guest's own network namespace takes the host's network, once.
        if (m_mode != Mode::Guest)
            return error_reply(ttrpc::Code::failed_precondition,
                               "container " + id + ": interfaces are configured only in a guest");
        if (m_network_configured)
            return error_reply(ttrpc::Code::failed_precondition,
                               "container " + id + ": the guest's network is configured already");
        if (auto r = netns::configure(interfaces, routes); !r)
            return error_reply(ttrpc::Code::internal, "container " + id + ": configure the network: " + r.error().message());
        m_network_configured = true;
    }

    auto c = std::make_unique<Container>();
    c->id = id;
    c->init.container_id = id;
    c->bundle = m_paths.bundles + "/" + id;
    // Undo what was done if anything below fails.
    bool done = false;
    struct Undo {
        Service& self;
        Container& c;
        bool& done;
        ~Undo()
        {
            if (done)
                return;
            self.close_proc_io(c.init);
            for (const auto& t : c.share_tags)
                self.release_share(t);
            (void)fs::remove_all(c.bundle);
        }
    } undo { *this, *c, done };

    auto fail_with = [&](ttrpc::Code code, const Error& e) {
        return error_reply(code, "create container " + id + ": " + e.message());
    };
    bool readonly_root = config.contains("root") && config["root"].is_object()
        && config["root"].value("readonly", false);
    auto rootfs = mount_share(req.rootfs_tag(), readonly_root);
    if (!rootfs)
        return fail_with(ttrpc::Code::internal, rootfs.error());
    c->share_tags.push_back(req.rootfs_tag());
    for (const auto& s : req.shares()) {
        auto dir = mount_share(s.tag(), s.readonly());
        if (!dir)
            return fail_with(ttrpc::Code::internal, dir.error());
        c->share_tags.push_back(s.tag());
    }
    std::string root_dir = *rootfs;
    if (const std::string& sub = req.rootfs_path(); !sub.empty()) {
        bool bad = sub.front() == '/' || sub.find('\0') != std::string::npos;
        for (std::size_t at = 0; !bad && at <= sub.size();) {
            std::size_t end = sub.find('/', at);
            if (end == std::string::npos)
                end = sub.size();
            std::string part = sub.substr(at, end - at);
            bad = part.empty() || part == "." || part == "..";
            at = end + 1;
        }
        if (bad)
            return error_reply(ttrpc::Code::invalid_argument,
                               "container " + id + ": rootfs_path \"" + sub + "\" is not a plain relative path");
        root_dir += "/" + sub;
        struct stat st {};
        if (::lstat(root_dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
            return fail_with(ttrpc::Code::invalid_argument, Error::plain(root_dir + " is not a directory"));
    }
    if (!config.contains("root") || !config["root"].is_object())
        config["root"] = json::object();
    config["root"]["path"] = root_dir;
    // Namespaces of another container of this guest (a pod's sandbox), by id.
    if (auto l = config.find("linux"); l != config.end() && l->is_object()) {
        if (auto ns = l->find("namespaces"); ns != l->end() && ns->is_array()) {
            static const std::map<std::string, std::string> proc_name = {
                {"network", "net"}, {"ipc", "ipc"}, {"uts", "uts"}, {"pid", "pid"},
                {"mount", "mnt"}, {"user", "user"}, {"cgroup", "cgroup"}, {"time", "time"}};
            for (auto& n : *ns) {
                if (!n.is_object() || !n.contains("path") || !n["path"].is_string())
                    continue;
                std::string path = n["path"].get<std::string>();
                if (!path.starts_with("husk-container:"))
                    continue;
                std::string other = path.substr(15);
                auto type = proc_name.find(n.value("type", ""));
                auto it = m_containers.find(other);
                if (type == proc_name.end() || it == m_containers.end() || it->second->init.exited)
                    return fail_with(ttrpc::Code::failed_precondition,
                                     Error::plain("namespace " + n.value("type", "") + " of container " + other
                                                  + ": no such running container in this sandbox"));
                n["path"] = "/proc/" + std::to_string(it->second->init.pid) + "/ns/" + type->second;
            }
        }
    }
    if (auto r = fs::mkdir_all(c->bundle, 0700); !r)
        return fail_with(ttrpc::Code::internal, r.error());
    if (auto r = fs::write_file(c->bundle + "/config.json", config.dump(), 0600); !r)
        return fail_with(ttrpc::Code::internal, r.error());

    bool terminal = config["process"].value("terminal", false);
    Stdio io;
    if (auto r = prepare_stdio(c->init, req.stdin(), terminal, io); !r)
        return fail_with(ttrpc::Code::internal, r.error());
    CreateOptions options;
    options.id = id;
    options.bundle = c->bundle;
    options.console_socket = io.console_name;
    Result<> created;
    {
        StdioSwap swap;
        created = swap.apply(io.child);
        if (created)
            created = m_runtime.create(options);
    }
    if (!created)
        return fail_with(ttrpc::Code::internal, created.error());
    auto view = m_runtime.state(id);
    auto io_ready = finish_stdio(c->init, io);
    if (!view || !io_ready) {
        (void)m_runtime.remove(id, true);
        return fail_with(ttrpc::Code::internal, view ? io_ready.error() : view.error());
    }
    c->init.pid = view->pid;
    m_by_pid[c->init.pid] = &c->init;
    done = true;
    m_containers.emplace(id, std::move(c));
    return ok_reply(pb::Empty());
}

std::optional<Reply> Service::start_container(const std::string& payload)
{
    PARSE(pb::ContainerRequest, req);
    FIND_OR_REPLY(find_container(req.container_id()), c);
    if (auto r = m_runtime.start(c->id); !r)
        return runtime_error(r.error(), "start container " + c->id);
    pb::StartResponse resp;
    resp.set_pid(std::uint32_t(c->init.pid));
    return ok_reply(resp);
}

std::optional<Reply> Service::exec_process(const std::string& payload)
{
    PARSE(pb::ExecProcessRequest, req);
    FIND_OR_REPLY(find_container(req.container_id()), c);
    const std::string& exec_id = req.exec_id();
    if (auto v = validate_container_id(exec_id); !v)
        return error_reply(ttrpc::Code::invalid_argument, "exec id: " + v.error().message());
    if (c->execs.contains(exec_id))
        return error_reply(ttrpc::Code::already_exists,
                           "process \"" + exec_id + "\" already exists in container \"" + c->id + "\"");
    json process = json::parse(req.process_json(), nullptr, false);
    if (process.is_discarded() || !process.is_object())
        return error_reply(ttrpc::Code::invalid_argument, "exec " + exec_id + ": process_json is not a JSON object");
    if (c->init.exited)
        return error_reply(ttrpc::Code::failed_precondition, "cannot exec in a stopped container");

    auto p = std::make_unique<Proc>();
    p->container_id = c->id;
    p->exec_id = exec_id;
    const std::string process_file = c->bundle + "/exec-" + exec_id + ".json";
    const std::string pid_file = c->bundle + "/exec-" + exec_id + ".pid";
    struct Files {
        std::string a, b;
        ~Files()
        {
            ::unlink(a.c_str());
            ::unlink(b.c_str());
        }
    } files { process_file, pid_file };
    auto fail_with = [&](ttrpc::Code code, const Error& e) {
        close_proc_io(*p);
        return error_reply(code, "exec " + exec_id + " in container " + c->id + ": " + e.message());
    };
    if (auto r = fs::write_file(process_file, process.dump(), 0600); !r)
        return fail_with(ttrpc::Code::internal, r.error());
    Stdio io;
    if (auto r = prepare_stdio(*p, req.stdin(), process.value("terminal", false), io); !r)
        return fail_with(ttrpc::Code::internal, r.error());
    ExecOptions options;
    options.id = c->id;
    options.process_file = process_file;
    options.detach = Detach::Yes;
    options.pid_file = pid_file;
    options.console_socket = io.console_name;
    Result<int> ran;
    {
        StdioSwap swap;
        auto swapped = swap.apply(io.child);
        ran = swapped ? m_runtime.exec(options) : Result<int>(std::unexpected(swapped.error()));
    }
    if (!ran)
        return fail_with(ttrpc::Code::failed_precondition, ran.error());
    std::string pid_text = read_trimmed(pid_file);
    pid_t pid = pid_t(std::strtol(pid_text.c_str(), nullptr, 10));
    if (auto r = finish_stdio(*p, io); !r || pid <= 0) {
        if (pid > 0)
            ::kill(pid, SIGKILL);
        return fail_with(ttrpc::Code::internal, r ? Error::plain("no pid for the process") : r.error());
    }
    p->pid = pid;
    m_by_pid[pid] = p.get();
    pb::StartResponse resp;
    resp.set_pid(std::uint32_t(pid));
    c->execs.emplace(exec_id, std::move(p));
    return ok_reply(resp);
}

// ---------------------------------------------------------------------------------------------
// Signals, exits, state.

std::optional<Reply> Service::signal_process(const std::string& payload)
{
    PARSE(pb::SignalProcessRequest, req);
    FIND_OR_REPLY(find_proc(req.container_id(), req.exec_id()), p);
    int sig = int(req.signal());
    if (sig <= 0 || sig >= NSIG)
        return error_reply(ttrpc::Code::invalid_argument, "invalid signal " + std::to_string(req.signal()));
    if (req.exec_id().empty()) {
        if (p->exited && !req.all())
            return error_reply(ttrpc::Code::failed_precondition, "container " + p->container_id + " is not running");
        if (auto r = m_runtime.kill(p->container_id, sig, req.all()); !r)
            return runtime_error(r.error(), "signal container " + p->container_id);
        return ok_reply(pb::Empty());
    }
    if (req.all())
        return error_reply(ttrpc::Code::invalid_argument, "all: only for the container's process");
    // Not reaped yet, so the pid is still this process's.
    if (p->exited)
        return error_reply(ttrpc::Code::failed_precondition, "process " + p->exec_id + " has exited");
    if (::kill(p->pid, sig) < 0)
        return error_reply(ttrpc::Code::internal, std::string("signal process ") + p->exec_id + ": " + std::strerror(errno));
    return ok_reply(pb::Empty());
}

std::optional<Reply> Service::wait_process(const ReplyTo& to, const std::string& payload)
{
    PARSE(pb::ProcessRequest, req);
    FIND_OR_REPLY(find_proc(req.container_id(), req.exec_id()), p);
    if (p->exited) {
        pb::WaitProcessResponse resp;
        resp.set_exit_status(p->exit_status);
        resp.set_exited_at_unix_nano(p->exited_at);
        return ok_reply(resp);
    }
    if (p->pid <= 0)
        return error_reply(ttrpc::Code::failed_precondition, "the process has not been started");
    p->waiters.push_back(to);
    return std::nullopt;
}

std::optional<Reply> Service::state(const std::string& payload)
{
    PARSE(pb::ContainerRequest, req);
    FIND_OR_REPLY(find_container(req.container_id()), c);
    pb::StateResponse resp;
    resp.set_container_id(c->id);
    if (c->init.exited) {
        resp.set_status(pb::STOPPED);
        resp.set_exit_status(c->init.exit_status);
        return ok_reply(resp);
    }
    auto view = m_runtime.state(c->id);
    if (!view)
        return error_reply(ttrpc::Code::internal, "state of container " + c->id + ": " + view.error().message());
    switch (view->status) {
    case state::Status::Creating:
    case state::Status::Created:
        resp.set_status(pb::CREATED);
        break;
    case state::Status::Running:
        resp.set_status(pb::RUNNING);
        break;
    case state::Status::Paused:
        resp.set_status(pb::PAUSED);
        break;
    case state::Status::Stopped:
        resp.set_status(pb::STOPPED);
        break;
    }
    if (resp.status() != pb::STOPPED)
        resp.set_pid(std::uint32_t(view->pid));
    return ok_reply(resp);
}

std::optional<Reply> Service::stats(const std::string& payload)
{
    PARSE(pb::ContainerRequest, req);
    FIND_OR_REPLY(find_container(req.container_id()), c);
    auto cg = m_runtime.cgroup(c->id);
    if (!cg)
        return runtime_error(cg.error(), "stats of container " + c->id);
    auto s = (*cg)->stats();
    if (!s)
        return error_reply(ttrpc::Code::internal, "stats of container " + c->id + ": " + s.error().message());
    pb::StatsResponse resp;
    resp.set_memory_usage_bytes(s->memory.usage.usage);
    resp.set_memory_limit_bytes(s->memory.usage.limit == UINT64_MAX ? 0 : s->memory.usage.limit);
    resp.set_cpu_usage_usec(s->cpu.total / 1000);
    resp.set_pids_current(s->pids.current);
    return ok_reply(resp);
}

std::optional<Reply> Service::list_pids(const std::string& payload)
{
    PARSE(pb::ContainerRequest, req);
    FIND_OR_REPLY(find_container(req.container_id()), c);
    auto pids = m_runtime.pids(c->id);
    if (!pids)
        return runtime_error(pids.error(), "processes of container " + c->id);
    pb::ListPidsResponse resp;
    for (pid_t pid : *pids) {
        auto* proc = resp.add_processes();
        proc->set_pid(std::uint32_t(pid));
        std::string cmd = read_trimmed("/proc/" + std::to_string(pid) + "/cmdline");
        std::replace(cmd.begin(), cmd.end(), '\0', ' ');
        proc->set_command(cmd);
    }
    return ok_reply(resp);
}

std::optional<Reply> Service::pause(const std::string& payload, bool pause)
{
    PARSE(pb::ContainerRequest, req);
    FIND_OR_REPLY(find_container(req.container_id()), c);
    auto r = pause ? m_runtime.pause(c->id) : m_runtime.resume(c->id);
    if (!r)
        return runtime_error(r.error(), std::string(pause ? "pause" : "resume") + " container " + c->id);
    return ok_reply(pb::Empty());
}

// ---------------------------------------------------------------------------------------------
// stdio.

std::optional<Reply> Service::read_stream(const ReplyTo& to, const std::string& payload)
{
    PARSE(pb::ReadStreamRequest, req);
    FIND_OR_REPLY(find_proc(req.container_id(), req.exec_id()), p);
    Stream* s = nullptr;
    if (req.stream() == pb::STDOUT)
        s = &p->out;
    else if (req.stream() == pb::STDERR)
        s = &p->err;
    else
        return error_reply(ttrpc::Code::invalid_argument, "unknown stream " + std::to_string(int(req.stream())));
    if (s->reader)
        return error_reply(ttrpc::Code::failed_precondition, "a read of this stream is already pending");
    s->reader = to;
    s->reader_max = req.max_bytes() == 0 || req.max_bytes() > stream_limit ? std::uint32_t(stream_limit) : req.max_bytes();
    serve_reader(*s); // answers now when there is data or the end of it
    return std::nullopt;
}

void Service::finish_stdin_write(Proc& p)
{
    if (!p.writer)
        return;
    pb::WriteStdinResponse resp;
    resp.set_written(std::uint32_t(p.written));
    ReplyTo to = *p.writer;
    p.writer.reset();
    p.pending.clear();
    p.written = 0;
    if (p.stdin_fd.valid())
        (void)m_loop.modify(p.stdin_fd.get(), 0);
    m_replier.reply(to, {}, resp.SerializeAsString());
}

void Service::on_stdin_writable(Proc& p)
{
    while (p.stdin_fd.valid() && p.written < p.pending.size()) {
        ssize_t n = ::write(p.stdin_fd.get(), p.pending.data() + p.written, p.pending.size() - p.written);
        if (n > 0) {
            p.written += std::size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            // The rest when the process has read some: the request stays parked meanwhile.
            if (auto r = m_loop.add(p.stdin_fd.get(), EPOLLOUT, [this, &p](std::uint32_t) { on_stdin_writable(p); }); !r)
                (void)m_loop.modify(p.stdin_fd.get(), EPOLLOUT);
            return;
        }
        break; // EPIPE: the process closed its stdin; the answer says how much got there
    }
    if (p.stdin_fd.valid())
        m_loop.remove(p.stdin_fd.get());
    finish_stdin_write(p);
}

std::optional<Reply> Service::write_stdin(const ReplyTo& to, const std::string& payload)
{
    PARSE(pb::WriteStdinRequest, req);
    FIND_OR_REPLY(find_proc(req.container_id(), req.exec_id()), p);
    if (!p->stdin_fd.valid())
        return error_reply(ttrpc::Code::failed_precondition,
                           p->stdin_closed && !p->terminal ? "stdin of the process is closed (or was not requested)"
                                                           : "stdin of the process is not open");
    if (p->writer)
        return error_reply(ttrpc::Code::failed_precondition, "a write to this stdin is already pending");
    p->writer = to;
    p->pending = req.data();
    p->written = 0;
    on_stdin_writable(*p);
    return std::nullopt;
}

std::optional<Reply> Service::close_stdin(const std::string& payload)
{
    PARSE(pb::ProcessRequest, req);
    FIND_OR_REPLY(find_proc(req.container_id(), req.exec_id()), p);
    if (p->writer) {
        m_loop.remove(p->stdin_fd.get());
        finish_stdin_write(*p);
    }
    if (p->terminal) {
        // The master is also the output: end the input the way a terminal does (^D).
        if (p->stdin_fd.valid())
            (void)!::write(p->stdin_fd.get(), "\x04", 1);
        return ok_reply(pb::Empty());
    }
    if (p->stdin_fd.valid())
        p->stdin_fd.reset();
    p->stdin_closed = true;
    return ok_reply(pb::Empty());
}

std::optional<Reply> Service::resize_pty(const std::string& payload)
{
    PARSE(pb::ResizePtyRequest, req);
    FIND_OR_REPLY(find_proc(req.container_id(), req.exec_id()), p);
    if (!p->terminal || !p->stdin_fd.valid())
        return error_reply(ttrpc::Code::failed_precondition, "the process has no terminal");
    winsize ws {};
    ws.ws_col = static_cast<unsigned short>(req.width());
    ws.ws_row = static_cast<unsigned short>(req.height());
    if (::ioctl(p->stdin_fd.get(), TIOCSWINSZ, &ws) < 0)
        return error_reply(ttrpc::Code::internal, std::string("resize the terminal: ") + std::strerror(errno));
    return ok_reply(pb::Empty());
}

// ---------------------------------------------------------------------------------------------
// Deleting and shutting down.

void Service::forget_container(Container& c)
{
    std::vector<Proc*> procs { &c.init };
    for (auto& [_, p] : c.execs)
        procs.push_back(p.get());
    // The runtime killed everything and waited for the init; collect the exits that are
    // there (the processes of a container without a pid namespace may take a moment).
    for (int round = 0; round < 100; ++round) {
        bool pending = false;
        for (Proc* p : procs) {
            if (p->exited || p->pid <= 0)
                continue;
            int st = 0;
            if (::waitpid(p->pid, &st, WNOHANG) == p->pid)
                process_exited(*p, st);
            else
                pending = true;
        }
        if (!pending)
            break;
        ::usleep(20'000);
    }
    for (Proc* p : procs) {
        if (!p->exited) {
            m_by_pid.erase(p->pid); // reaped as an orphan whenever it goes
            for (const auto& to : p->waiters)
                m_replier.reply(to, { std::int32_t(ttrpc::Code::not_found), "container " + c.id + " was deleted", {} }, {});
            p->waiters.clear();
        }
        // Whatever output is still in the pipes goes to the readers with the end of file.
        for (Stream* s : { &p->out, &p->err })
            if (s->fd.valid())
                on_readable(*s);
        close_proc_io(*p);
    }
    for (const auto& t : c.share_tags)
        release_share(t);
    if (auto r = fs::remove_all(c.bundle); !r)
        log::warn("remove bundle " + c.bundle + ": " + r.error().message());
}

std::optional<Reply> Service::delete_container(const std::string& payload)
{
    PARSE(pb::DeleteContainerRequest, req);
    FIND_OR_REPLY(find_container(req.container_id()), c);
    if (auto r = m_runtime.remove(c->id, req.force()); !r)
        return runtime_error(r.error(), "delete container " + c->id);
    std::string id = c->id;
    forget_container(*c);
    m_containers.erase(id);
    return ok_reply(pb::Empty());
}

void Service::destroy_all()
{
    for (auto& [id, c] : m_containers) {
        if (auto r = m_runtime.remove(id, true); !r)
            log::warn("delete container " + id + ": " + r.error().message());
        forget_container(*c);
    }
    m_containers.clear();
}

std::optional<Reply> Service::shutdown()
{
    // The caller answers first, then destroys everything and powers off (or exits).
    m_shutdown = true;
    return ok_reply(pb::Empty());
}

} // namespace husk::agent
