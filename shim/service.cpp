#include "shim/service.hpp"

#include "common/fs.hpp"
#include "shim/io.hpp"
#include "shim/metrics.hpp"
#include "shim/process_state.hpp"
#include "shim/runtime.hpp"

#include "github.com/containerd/containerd/api/events/task.pb.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb.h"

#include <google/protobuf/empty.pb.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace husk::shim {

namespace task = containerd::task::v2;
namespace events = containerd::events;
using ttrpc::Code;

struct Proc {
    std::string exec_id; // empty: the init
    ProcessState state;
    pid_t pid = 0;
    std::uint32_t exit_status = 0;
    timespec exited_at{};
    bool exit_reported = false;
    std::string stdin_path, stdout_path, stderr_path;
    bool terminal = false;
    std::string spec; // exec'd processes: the runtime-spec Process, JSON
    std::unique_ptr<Pump> stdin_pump;  // stdin FIFO -> pipe or pty master
    Fd stdin_writer;                   // the shim's own writer: no EOF before CloseIO
    std::unique_ptr<Pump> output_pump; // pty master -> stdout FIFO
    Fd console;                        // the pty master (ResizePty)
    std::vector<Reply> waiters;
};

struct Container {
    std::string id;
    std::string bundle;
    std::unique_ptr<Runtime> runtime;
    std::vector<containerd::types::Mount> rootfs;
    bool rootfs_mounted = false;
    Proc init;
    std::map<std::string, std::unique_ptr<Proc>> execs;
    bool init_exit_pending = false; // the init exited; its exit waits for the execs'
    Fd oom_fd;                      // eventfd (v1) or inotify (v2)
    Fd oom_control;                 // v1: memory.oom_control, kept open for the eventfd
    std::string oom_events_path;    // v2: memory.events
    std::uint64_t oom_kills = 0;
};

struct TaskService::Outcome {
    ttrpc::Status status;
    std::string payload;
    bool deferred = false;

    static Outcome ok(const google::protobuf::Message& m) { return Outcome{{}, m.SerializeAsString(), false}; }
    static Outcome empty() { return ok(google::protobuf::Empty()); }
    static Outcome error(Code code, std::string msg)
    {
        Outcome o;
        o.status.code = static_cast<std::int32_t>(code);
        o.status.message = std::move(msg);
        return o;
    }
    static Outcome later()
    {
        Outcome o;
        o.deferred = true;
        return o;
    }
};

namespace {

timespec now()
{
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return ts;
}

void set_time(google::protobuf::Timestamp* t, const timespec& ts)
{
    t->set_seconds(ts.tv_sec);
    t->set_nanos(static_cast<std::int32_t>(ts.tv_nsec));
}

// What Wait answers (now, or when the process exits) for a process that has exited.
std::string wait_response(std::uint32_t exit_status, const timespec& exited_at)
{
    task::WaitResponse wr;
    wr.set_exit_status(exit_status);
    set_time(wr.mutable_exited_at(), exited_at);
    return wr.SerializeAsString();
}

std::uint32_t exit_code(int wait_status)
{
    if (WIFEXITED(wait_status))
        return static_cast<std::uint32_t>(WEXITSTATUS(wait_status));
    if (WIFSIGNALED(wait_status))
        return 128u + static_cast<std::uint32_t>(WTERMSIG(wait_status));
    return 255;
}

Result<pid_t> read_pid_file(const std::string& path)
{
    auto text = TRY(fs::read_file(path));
    try {
        long v = std::stol(text);
        if (v <= 0)
            return fail("bad pid in " + path);
        return static_cast<pid_t>(v);
    } catch (...) {
        return fail("bad pid in " + path);
    }
}

// A temporary file holding `content` (process specs and resources for the runtime).
class TempFile {
public:
    static Result<TempFile> write(const std::string& prefix, std::string_view content)
    {
        TempFile t;
        std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
        int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
        if (fd < 0)
            return fail_errno("mkstemp " + tmpl);
        Fd f(fd);
        t.m_path = tmpl;
        TRY(fs::write_all(f.borrow(), content));
        return t;
    }
    TempFile() = default;
    TempFile(TempFile&& o) noexcept : m_path(std::exchange(o.m_path, {})) {}
    ~TempFile()
    {
        if (!m_path.empty())
            ::unlink(m_path.c_str());
    }
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

Code refusal_code(Refusal r)
{
    return r == Refusal::not_found ? Code::not_found : Code::failed_precondition;
}

bool cgroup2_host()
{
    struct statfs sf {};
    return ::statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

// A writer of the shim's own on a stdin FIFO (opened after the shim's reader, so it does not
// block): the process sees end of file only after CloseIO closes it, not whenever a client's
// writer goes away (a client that reattaches, containerd restarting).
Result<Fd> open_stdin_keepalive(const std::string& path)
{
    Fd w(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!w)
        return fail_errno("open " + path);
    return w;
}

// The descriptors a runtime call hands the process, and what must live until it returns.
struct StdioSetup {
    int fds[3] = {-1, -1, -1};
    std::vector<Fd> keep;
    std::optional<ConsoleSocket> console;
};

// Without a terminal: the FIFOs (stdin through a pipe the shim fills). With one: a console
// socket, whose path goes on the runtime's command line.
Result<> prepare_stdio(Loop& loop, Proc& p, StdioSetup& io, std::vector<std::string>& args)
{
    if (p.terminal) {
        io.console = TRY(ConsoleSocket::create());
        args.push_back("--console-socket");
        args.push_back(io.console->path());
        return {};
    }
    if (!p.stdin_path.empty()) {
        Fd fifo = TRY(open_fifo_reader(p.stdin_path));
        p.stdin_writer = TRY(open_stdin_keepalive(p.stdin_path));
        int pp[2];
        if (::pipe2(pp, O_CLOEXEC) < 0)
            return fail_errno("pipe");
        Fd r(pp[0]), w(pp[1]);
        io.fds[0] = r.get();
        io.keep.push_back(std::move(r));
        p.stdin_pump = std::make_unique<Pump>(loop, std::move(fifo), std::move(w));
    }
    if (!p.stdout_path.empty()) {
        Fd out = TRY(open_fifo_writer(p.stdout_path));
        io.fds[1] = out.get();
        io.keep.push_back(std::move(out));
    }
    if (!p.stderr_path.empty()) {
        Fd err = TRY(open_fifo_writer(p.stderr_path));
        io.fds[2] = err.get();
        io.keep.push_back(std::move(err));
    }
    return {};
}

// After the runtime call: the pty master from the console socket, copied to and from the
// FIFOs; and the stdin copy started.
Result<> attach_stdio(Loop& loop, Proc& p, StdioSetup& io)
{
    if (p.terminal) {
        p.console = TRY(io.console->receive_master());
        auto dup = [&]() -> Result<Fd> {
            Fd d(::fcntl(p.console.get(), F_DUPFD_CLOEXEC, 3));
            if (!d)
                return fail_errno("dup terminal");
            return d;
        };
        if (!p.stdin_path.empty()) {
            Fd fifo = TRY(open_fifo_reader(p.stdin_path));
            p.stdin_writer = TRY(open_stdin_keepalive(p.stdin_path));
            p.stdin_pump = std::make_unique<Pump>(loop, std::move(fifo), TRY(dup()));
        }
        if (!p.stdout_path.empty()) {
            Fd out = TRY(open_fifo_writer(p.stdout_path));
            p.output_pump = std::make_unique<Pump>(loop, TRY(dup()), std::move(out));
            TRY(p.output_pump->start());
        }
    }
    if (p.stdin_pump)
        TRY(p.stdin_pump->start());
    return {};
}

} // namespace

MountPlan plan_mount(const std::vector<std::string>& options)
{
    struct Flag {
        const char* name;
        bool clear;
        unsigned long flag;
    };
    static const Flag flags[] = {
        {"ro", false, MS_RDONLY},        {"rw", true, MS_RDONLY},          {"nosuid", false, MS_NOSUID},
        {"suid", true, MS_NOSUID},       {"nodev", false, MS_NODEV},       {"dev", true, MS_NODEV},
        {"noexec", false, MS_NOEXEC},    {"exec", true, MS_NOEXEC},        {"sync", false, MS_SYNCHRONOUS},
        {"async", true, MS_SYNCHRONOUS}, {"dirsync", false, MS_DIRSYNC},   {"remount", false, MS_REMOUNT},
        {"mand", false, MS_MANDLOCK},    {"nomand", true, MS_MANDLOCK},    {"atime", true, MS_NOATIME},
        {"noatime", false, MS_NOATIME},  {"diratime", true, MS_NODIRATIME}, {"nodiratime", false, MS_NODIRATIME},
        {"bind", false, MS_BIND},        {"rbind", false, MS_BIND | MS_REC}, {"relatime", false, MS_RELATIME},
        {"norelatime", true, MS_RELATIME}, {"strictatime", false, MS_STRICTATIME},
    };
    static const Flag propagation[] = {
        {"private", false, MS_PRIVATE},   {"rprivate", false, MS_PRIVATE | MS_REC},
        {"shared", false, MS_SHARED},     {"rshared", false, MS_SHARED | MS_REC},
        {"slave", false, MS_SLAVE},       {"rslave", false, MS_SLAVE | MS_REC},
        {"unbindable", false, MS_UNBINDABLE}, {"runbindable", false, MS_UNBINDABLE | MS_REC},
    };
    MountPlan plan;
    for (const auto& o : options) {
        bool known = false;
        for (const auto& f : flags)
            if (o == f.name) {
                plan.flags = f.clear ? plan.flags & ~f.flag : plan.flags | f.flag;
                known = true;
            }
        for (const auto& f : propagation)
            if (o == f.name) {
                plan.propagation |= f.flag;
                known = true;
            }
        if (known)
            continue;
        if (!plan.data.empty())
            plan.data += ',';
        plan.data += o;
    }
    return plan;
}

TaskService::TaskService(Loop& loop, EventSink& events, ShimConfig config, std::string ns)
    : m_loop(loop), m_events(events), m_config(std::move(config)), m_ns(std::move(ns))
{
}

TaskService::~TaskService() = default;

Container* TaskService::find(const std::string& id)
{
    auto it = m_containers.find(id);
    return it == m_containers.end() ? nullptr : it->second.get();
}

void TaskService::handle(const std::string& method, const std::string& payload, Reply reply)
{
    Outcome o;
    if (method == "Create")
        o = create(payload);
    else if (method == "Start")
        o = start(payload);
    else if (method == "Delete")
        o = remove(payload);
    else if (method == "Exec")
        o = exec(payload);
    else if (method == "Kill")
        o = kill(payload);
    else if (method == "State")
        o = state(payload);
    else if (method == "Pids")
        o = pids(payload);
    else if (method == "Pause")
        o = pause(payload, true);
    else if (method == "Resume")
        o = pause(payload, false);
    else if (method == "ResizePty")
        o = resize_pty(payload);
    else if (method == "CloseIO")
        o = close_io(payload);
    else if (method == "Update")
        o = update(payload);
    else if (method == "Wait")
        o = wait(payload, reply);
    else if (method == "Stats")
        o = stats(payload);
    else if (method == "Connect")
        o = connect(payload);
    else if (method == "Shutdown")
        o = shutdown(payload);
    else if (method == "Checkpoint")
        o = Outcome::error(Code::unimplemented, "checkpoint is not implemented by husk");
    else
        o = Outcome::error(Code::unimplemented, "containerd.task.v2.Task/" + method + " is not implemented");
    if (!o.deferred)
        reply(o.status, o.payload);
}

#define PARSE(Type, var)                                                                     \
    Type var;                                                                                \
    if (!var.ParseFromString(payload))                                                       \
        return Outcome::error(Code::invalid_argument, "malformed " #Type);

#define FIND(var, id)                                                                        \
    Container* var = find(id);                                                               \
    if (!var)                                                                                \
        return Outcome::error(Code::not_found, "container " + std::string(id) + " not found");

// The process an (id, exec_id) pair names, or an Outcome to return.
#define FIND_PROC(c, p, exec_id)                                                             \
    Proc* p = &(c)->init;                                                                    \
    if (!std::string(exec_id).empty()) {                                                     \
        auto it_ = (c)->execs.find(exec_id);                                                 \
        if (it_ == (c)->execs.end())                                                         \
            return Outcome::error(Code::not_found, "process " + std::string(exec_id) + " not found in container " + (c)->id); \
        p = it_->second.get();                                                               \
    }

TaskService::Outcome TaskService::create(const std::string& payload)
{
    PARSE(task::CreateTaskRequest, req);
    if (req.id().empty())
        return Outcome::error(Code::invalid_argument, "container id is empty");
    if (find(req.id()))
        return Outcome::error(Code::already_exists, "container " + req.id() + " already exists");
    if (!req.checkpoint().empty())
        return Outcome::error(Code::unimplemented, "restoring from a checkpoint is not implemented by husk");

    RuntimeOptions opts;
    if (req.has_options()) {
        auto o = decode_runtime_options(req.options().type_url(), req.options().value());
        if (!o)
            return Outcome::error(Code::invalid_argument, o.error().message());
        opts = *o;
    }
    ShimConfig config = m_config;
    if (!opts.config_path.empty()) {
        auto c = load_config(opts.config_path, true);
        if (!c)
            return Outcome::error(Code::invalid_argument, c.error().message());
        config = *c;
    }
    auto c = std::make_unique<Container>();
    c->id = req.id();
    c->bundle = req.bundle();
    RuntimeConfig rc = runtime_config(config, opts, m_ns);
    c->runtime = std::make_unique<Runtime>(rc, c->bundle + "/log.json");
    if (auto r = fs::mkdir_all(rc.root, 0711); !r)
        return Outcome::error(Code::internal, r.error().message());
    // What `delete` (a fresh shim process, after a crash) needs to find the container.
    nlohmann::json saved = {{"runtime", rc.binary}, {"root", rc.root}, {"systemd_cgroup", rc.systemd_cgroup}};
    if (auto r = fs::write_file(c->bundle + "/husk-shim.json", saved.dump() + "\n", 0600); !r)
        return Outcome::error(Code::internal, r.error().message());

    // The root filesystem: containerd's snapshot mounts (usually one overlay) on
    // bundle/rootfs.
    const std::string rootfs = c->bundle + "/rootfs";
    if (req.rootfs_size() > 0) {
        if (::mkdir(rootfs.c_str(), 0711) < 0 && errno != EEXIST)
            return Outcome::error(Code::internal, "mkdir " + rootfs + ": " + std::strerror(errno));
        for (const auto& m : req.rootfs()) {
            std::vector<std::string> options(m.options().begin(), m.options().end());
            MountPlan plan = plan_mount(options);
            std::string type = m.type();
            if (plan.flags & MS_BIND)
                type.clear();
            if (::mount(m.source().c_str(), rootfs.c_str(), type.empty() ? nullptr : type.c_str(), plan.flags,
                        plan.data.empty() ? nullptr : plan.data.c_str()) < 0) {
                int err = errno;
                if (c->rootfs_mounted)
                    ::umount2(rootfs.c_str(), MNT_DETACH);
                return Outcome::error(Code::internal, "mount " + m.type() + " " + m.source() + " on " + rootfs + ": " +
                                                          std::strerror(err));
            }
            c->rootfs_mounted = true;
            if (plan.propagation)
                ::mount(nullptr, rootfs.c_str(), nullptr, plan.propagation, nullptr);
            c->rootfs.push_back(m);
        }
    }

    Proc& p = c->init;
    p.stdin_path = req.stdin();
    p.stdout_path = req.stdout();
    p.stderr_path = req.stderr();
    p.terminal = req.terminal();

    auto fail_create = [&](Code code, std::string msg) {
        p.stdin_pump.reset();
        p.output_pump.reset();
        if (c->rootfs_mounted)
            ::umount2(rootfs.c_str(), MNT_DETACH);
        return Outcome::error(code, std::move(msg));
    };

    std::vector<std::string> args = {"create", "--bundle", c->bundle, "--pid-file", c->bundle + "/init.pid"};
    StdioSetup io;
    if (auto r = prepare_stdio(m_loop, p, io, args); !r)
        return fail_create(Code::internal, r.error().message());
    args.push_back(c->id);
    if (auto r = c->runtime->call_with_stdio(args, io.fds[0], io.fds[1], io.fds[2]); !r)
        return fail_create(Code::unknown, r.error().message());
    io.keep.clear();
    if (auto r = attach_stdio(m_loop, p, io); !r) {
        (void)c->runtime->call({"delete", "--force", c->id});
        return fail_create(Code::internal, r.error().message());
    }
    auto pid = read_pid_file(c->bundle + "/init.pid");
    if (!pid) {
        (void)c->runtime->call({"delete", "--force", c->id});
        return fail_create(Code::internal, pid.error().message());
    }
    p.pid = *pid;

    events::TaskCreate ev;
    ev.set_container_id(c->id);
    ev.set_bundle(c->bundle);
    for (const auto& m : c->rootfs)
        *ev.add_rootfs() = m;
    ev.mutable_io()->set_stdin(p.stdin_path);
    ev.mutable_io()->set_stdout(p.stdout_path);
    ev.mutable_io()->set_stderr(p.stderr_path);
    ev.mutable_io()->set_terminal(p.terminal);
    ev.set_pid(static_cast<std::uint32_t>(p.pid));
    m_events.publish("/tasks/create", "containerd.events.TaskCreate", ev.SerializeAsString());

    Container& ref = *c;
    m_containers[c->id] = std::move(c);
    watch_oom(ref);
    task::CreateTaskResponse resp;
    resp.set_pid(static_cast<std::uint32_t>(ref.init.pid));
    return Outcome::ok(resp);
}

TaskService::Outcome TaskService::start(const std::string& payload)
{
    PARSE(task::StartRequest, req);
    FIND(c, req.id());
    FIND_PROC(c, p, req.exec_id());
    if (auto r = p->state.check(Verb::start); r != Refusal::ok)
        return Outcome::error(refusal_code(r), std::string("cannot start a process that is ") + status_name(p->state.status()));

    if (p == &c->init) {
        if (auto r = c->runtime->call({"start", c->id}); !r)
            return Outcome::error(Code::unknown, r.error().message());
        p->state.apply(Verb::start);
        events::TaskStart ev;
        ev.set_container_id(c->id);
        ev.set_pid(static_cast<std::uint32_t>(p->pid));
        m_events.publish("/tasks/start", "containerd.events.TaskStart", ev.SerializeAsString());
        task::StartResponse resp;
        resp.set_pid(static_cast<std::uint32_t>(p->pid));
        return Outcome::ok(resp);
    }

    if (auto r = c->init.state.check(Verb::exec); r != Refusal::ok)
        return Outcome::error(Code::failed_precondition, "container " + c->id + " is not running");
    auto spec = TempFile::write("husk-shim-process", p->spec);
    if (!spec)
        return Outcome::error(Code::internal, spec.error().message());
    const std::string pid_file = c->bundle + "/" + p->exec_id + ".pid";
    std::vector<std::string> args = {"exec", "--process", spec->path(), "--detach", "--pid-file", pid_file};

    StdioSetup io;
    if (auto r = prepare_stdio(m_loop, *p, io, args); !r) {
        p->stdin_pump.reset();
        return Outcome::error(Code::internal, r.error().message());
    }
    args.push_back(c->id);
    if (auto r = c->runtime->call_with_stdio(args, io.fds[0], io.fds[1], io.fds[2]); !r) {
        p->stdin_pump.reset();
        return Outcome::error(Code::unknown, r.error().message());
    }
    io.keep.clear();
    auto pid = read_pid_file(pid_file);
    ::unlink(pid_file.c_str());
    if (!pid) {
        // The runtime said it started the process but left no pid: nothing to track or
        // signal. It counts as failed (and exited), so nothing later signals pid 0.
        p->stdin_pump.reset();
        p->stdin_writer.reset();
        p->exit_status = 255;
        p->exited_at = now();
        p->state.apply(Verb::exit);
        p->exit_reported = true;
        return Outcome::error(Code::internal, pid.error().message());
    }
    p->pid = *pid;
    p->state.apply(Verb::start);
    if (auto r = attach_stdio(m_loop, *p, io); !r) {
        ::kill(p->pid, SIGKILL);
        return Outcome::error(Code::internal, r.error().message());
    }

    events::TaskExecStarted ev;
    ev.set_container_id(c->id);
    ev.set_exec_id(p->exec_id);
    ev.set_pid(static_cast<std::uint32_t>(p->pid));
    m_events.publish("/tasks/exec-started", "containerd.events.TaskExecStarted", ev.SerializeAsString());
    task::StartResponse resp;
    resp.set_pid(static_cast<std::uint32_t>(p->pid));
    return Outcome::ok(resp);
}

void TaskService::destroy(Container& c)
{
    for (auto& [id, e] : c.execs) {
        if (e->state.status() == Status::running)
            ::kill(e->pid, SIGKILL);
    }
    if (c.oom_fd)
        m_loop.remove(c.oom_fd.get());
    if (c.rootfs_mounted) {
        const std::string rootfs = c.bundle + "/rootfs";
        if (::umount2(rootfs.c_str(), 0) < 0)
            ::umount2(rootfs.c_str(), MNT_DETACH);
        c.rootfs_mounted = false;
    }
}

TaskService::Outcome TaskService::remove(const std::string& payload)
{
    PARSE(task::DeleteRequest, req);
    FIND(c, req.id());
    FIND_PROC(c, p, req.exec_id());
    if (auto r = p->state.check(Verb::remove); r != Refusal::ok)
        return Outcome::error(refusal_code(r), std::string("cannot delete a process that is ") + status_name(p->state.status()));
    task::DeleteResponse resp;
    resp.set_pid(static_cast<std::uint32_t>(p->pid));
    resp.set_exit_status(p->exit_status);
    set_time(resp.mutable_exited_at(), p->exited_at);

    if (p != &c->init) {
        for (auto& w : p->waiters) // deleted before it ever ran
            w({}, wait_response(p->exit_status, p->exited_at));
        c->execs.erase(req.exec_id());
        return Outcome::ok(resp);
    }
    if (c->init_exit_pending)
        return Outcome::error(Code::failed_precondition, "the exit of container " + c->id + " is not reported yet");
    // A created init is deleted by force (it was never started); a stopped one plainly.
    const bool created = p->state.status() == Status::created;
    std::vector<std::string> args = {"delete"};
    if (created)
        args.push_back("--force");
    args.push_back(c->id);
    if (auto r = c->runtime->call(args); !r) {
        // Gone already (a runtime that cleaned up itself) is fine; anything else is not.
        auto st = c->runtime->call({"state", c->id});
        if (st)
            return Outcome::error(Code::unknown, r.error().message());
    }
    if (created) {
        // The init died by the forced delete: account for it now.
        p->exit_status = 128 + SIGKILL;
        p->exited_at = now();
        resp.set_exit_status(p->exit_status);
        set_time(resp.mutable_exited_at(), p->exited_at);
    }
    p->state.apply(Verb::exit);
    p->state.apply(Verb::remove);
    destroy(*c);
    events::TaskDelete ev;
    ev.set_container_id(c->id);
    ev.set_pid(static_cast<std::uint32_t>(p->pid));
    ev.set_exit_status(p->exit_status);
    set_time(ev.mutable_exited_at(), p->exited_at);
    m_events.publish("/tasks/delete", "containerd.events.TaskDelete", ev.SerializeAsString());
    for (auto& w : p->waiters)
        w({}, wait_response(p->exit_status, p->exited_at));
    m_containers.erase(req.id());
    return Outcome::ok(resp);
}

TaskService::Outcome TaskService::exec(const std::string& payload)
{
    PARSE(task::ExecProcessRequest, req);
    FIND(c, req.id());
    if (req.exec_id().empty())
        return Outcome::error(Code::invalid_argument, "exec id is empty");
    if (c->execs.contains(req.exec_id()))
        return Outcome::error(Code::already_exists, "process " + req.exec_id() + " already exists in container " + c->id);
    if (auto r = c->init.state.check(Verb::exec); r != Refusal::ok)
        return Outcome::error(Code::failed_precondition, "container " + c->id + " is " + status_name(c->init.state.status()) + ", not running");
    if (req.exec_id().find('/') != std::string::npos || req.exec_id() == "." || req.exec_id() == "..")
        return Outcome::error(Code::invalid_argument, "invalid exec id " + req.exec_id());
    auto p = std::make_unique<Proc>();
    p->exec_id = req.exec_id();
    p->terminal = req.terminal();
    p->stdin_path = req.stdin();
    p->stdout_path = req.stdout();
    p->stderr_path = req.stderr();
    p->spec = req.spec().value();
    c->execs[p->exec_id] = std::move(p);
    events::TaskExecAdded ev;
    ev.set_container_id(c->id);
    ev.set_exec_id(req.exec_id());
    m_events.publish("/tasks/exec-added", "containerd.events.TaskExecAdded", ev.SerializeAsString());
    return Outcome::empty();
}

TaskService::Outcome TaskService::kill(const std::string& payload)
{
    PARSE(task::KillRequest, req);
    FIND(c, req.id());
    FIND_PROC(c, p, req.exec_id());
    const bool stopped = p->state.check(Verb::kill) != Refusal::ok;
    if (p != &c->init) {
        if (stopped)
            return Outcome::error(Code::not_found, "process already finished");
        if (p->pid <= 0) // added, never started: there is nothing to signal
            return Outcome::error(Code::failed_precondition, "process " + p->exec_id + " was not started");
        if (::kill(p->pid, static_cast<int>(req.signal())) < 0)
            return Outcome::error(errno == ESRCH ? Code::not_found : Code::unknown,
                                  "signal process " + std::to_string(p->pid) + ": " + std::strerror(errno));
        return Outcome::empty();
    }
    // A stopped init with --all still goes to the runtime: processes of a container without a
    // pid namespace of its own outlive their init (CRI's stop sends exactly this).
    if (stopped && !req.all())
        return Outcome::error(Code::not_found, "process already finished");
    std::vector<std::string> args = {"kill"};
    if (req.all())
        args.push_back("--all");
    args.push_back(c->id);
    args.push_back(std::to_string(req.signal()));
    if (auto r = c->runtime->call(args); !r) {
        // A container that is no longer running is "not found" to containerd.
        const std::string& m = r.error().message();
        if (stopped || m.find("not running") != std::string::npos || m.find("does not exist") != std::string::npos ||
            m.find("no such process") != std::string::npos || m.find("stopped") != std::string::npos)
            return Outcome::error(Code::not_found, "process already finished");
        return Outcome::error(Code::unknown, m);
    }
    return Outcome::empty();
}

TaskService::Outcome TaskService::state(const std::string& payload)
{
    PARSE(task::StateRequest, req);
    FIND(c, req.id());
    FIND_PROC(c, p, req.exec_id());
    task::StateResponse resp;
    resp.set_id(p == &c->init ? c->id : p->exec_id);
    resp.set_bundle(c->bundle);
    resp.set_pid(static_cast<std::uint32_t>(p->pid));
    resp.set_status(static_cast<containerd::v1::types::Status>(p->state.status()));
    resp.set_stdin(p->stdin_path);
    resp.set_stdout(p->stdout_path);
    resp.set_stderr(p->stderr_path);
    resp.set_terminal(p->terminal);
    resp.set_exit_status(p->exit_status);
    set_time(resp.mutable_exited_at(), p->exited_at);
    resp.set_exec_id(p->exec_id);
    return Outcome::ok(resp);
}

TaskService::Outcome TaskService::pids(const std::string& payload)
{
    PARSE(task::PidsRequest, req);
    FIND(c, req.id());
    auto out = c->runtime->call({"ps", "--format", "json", c->id});
    if (!out)
        return Outcome::error(Code::unknown, out.error().message());
    auto doc = nlohmann::json::parse(*out, nullptr, false);
    if (doc.is_discarded() || !doc.is_array())
        return Outcome::error(Code::internal, "unexpected output of ps: " + *out);
    task::PidsResponse resp;
    for (const auto& v : doc) {
        if (!v.is_number_integer())
            continue;
        resp.add_processes()->set_pid(v.get<std::uint32_t>());
    }
    return Outcome::ok(resp);
}

TaskService::Outcome TaskService::pause(const std::string& payload, bool pausing)
{
    std::string id;
    if (pausing) {
        PARSE(task::PauseRequest, req);
        id = req.id();
    } else {
        PARSE(task::ResumeRequest, req);
        id = req.id();
    }
    FIND(c, id);
    const Verb verb = pausing ? Verb::pause : Verb::resume;
    if (auto r = c->init.state.check(verb); r != Refusal::ok)
        return Outcome::error(refusal_code(r), std::string("cannot ") + (pausing ? "pause" : "resume") +
                                                   " a container that is " + status_name(c->init.state.status()));
    if (auto r = c->runtime->call({pausing ? "pause" : "resume", c->id}); !r)
        return Outcome::error(Code::unknown, r.error().message());
    c->init.state.apply(verb);
    if (pausing) {
        events::TaskPaused ev;
        ev.set_container_id(c->id);
        m_events.publish("/tasks/paused", "containerd.events.TaskPaused", ev.SerializeAsString());
    } else {
        events::TaskResumed ev;
        ev.set_container_id(c->id);
        m_events.publish("/tasks/resumed", "containerd.events.TaskResumed", ev.SerializeAsString());
    }
    return Outcome::empty();
}

TaskService::Outcome TaskService::resize_pty(const std::string& payload)
{
    PARSE(task::ResizePtyRequest, req);
    FIND(c, req.id());
    FIND_PROC(c, p, req.exec_id());
    if (!p->console)
        return Outcome::error(Code::failed_precondition, "process has no terminal");
    winsize ws{};
    ws.ws_row = static_cast<unsigned short>(req.height());
    ws.ws_col = static_cast<unsigned short>(req.width());
    if (::ioctl(p->console.get(), TIOCSWINSZ, &ws) < 0)
        return Outcome::error(Code::unknown, std::string("resize terminal: ") + std::strerror(errno));
    return Outcome::empty();
}

TaskService::Outcome TaskService::close_io(const std::string& payload)
{
    PARSE(task::CloseIORequest, req);
    FIND(c, req.id());
    FIND_PROC(c, p, req.exec_id());
    if (req.stdin()) {
        // The pump delivers what is still in the FIFO, sees end of file once the client's
        // writer is gone too, and then closes the process's stdin.
        p->stdin_writer.reset();
    }
    return Outcome::empty();
}

TaskService::Outcome TaskService::update(const std::string& payload)
{
    PARSE(task::UpdateTaskRequest, req);
    FIND(c, req.id());
    if (!req.has_resources())
        return Outcome::empty();
    auto file = TempFile::write("husk-shim-resources", req.resources().value());
    if (!file)
        return Outcome::error(Code::internal, file.error().message());
    if (auto r = c->runtime->call({"update", "--resources", file->path(), c->id}); !r)
        return Outcome::error(Code::unknown, r.error().message());
    return Outcome::empty();
}

TaskService::Outcome TaskService::wait(const std::string& payload, Reply& reply)
{
    PARSE(task::WaitRequest, req);
    FIND(c, req.id());
    FIND_PROC(c, p, req.exec_id());
    if (p->exit_reported)
        return Outcome{{}, wait_response(p->exit_status, p->exited_at), false};
    p->waiters.push_back(std::move(reply));
    return Outcome::later();
}

TaskService::Outcome TaskService::stats(const std::string& payload)
{
    PARSE(task::StatsRequest, req);
    FIND(c, req.id());
    auto out = c->runtime->call({"events", "--stats", c->id});
    if (!out)
        return Outcome::error(Code::unknown, out.error().message());
    auto any = metrics_from_stats(*out, cgroup2_host() ? CgroupMode::v2 : CgroupMode::v1);
    if (!any)
        return Outcome::error(Code::internal, any.error().message());
    task::StatsResponse resp;
    resp.mutable_stats()->set_type_url(any->type_url);
    resp.mutable_stats()->set_value(any->value);
    return Outcome::ok(resp);
}

TaskService::Outcome TaskService::connect(const std::string& payload)
{
    PARSE(task::ConnectRequest, req);
    task::ConnectResponse resp;
    resp.set_shim_pid(static_cast<std::uint32_t>(::getpid()));
    if (Container* c = find(req.id()))
        resp.set_task_pid(static_cast<std::uint32_t>(c->init.pid));
    return Outcome::ok(resp);
}

TaskService::Outcome TaskService::shutdown(const std::string& payload)
{
    PARSE(task::ShutdownRequest, req);
    // The shim serves every container of its pod: it stays while any is left, `now` or not
    // (leaving would orphan their processes and mounts).
    if (m_containers.empty())
        m_shutdown = true;
    return Outcome::empty();
}

void TaskService::on_exit(pid_t pid, int wait_status)
{
    for (auto& [id, c] : m_containers) {
        if (c->init.pid == pid && c->init.state.check(Verb::exit) == Refusal::ok) {
            process_exited(*c, c->init, wait_status);
            return;
        }
        for (auto& [eid, e] : c->execs) {
            if (e->pid == pid && e->state.status() == Status::running) {
                process_exited(*c, *e, wait_status);
                return;
            }
        }
    }
    // Not one of ours: an orphan of the pod reparented to the shim (the subreaper). The
    // process that just exited cannot be one whose pid file is still unread: the loop reaps
    // only between calls, never while Create or Start waits for the runtime.
}

void TaskService::process_exited(Container& c, Proc& p, int wait_status)
{
    if (p.output_pump)
        p.output_pump->drain(); // the last output still in the pty
    p.exit_status = exit_code(wait_status);
    p.exited_at = now();
    p.state.apply(Verb::exit);
    if (&p == &c.init) {
        // Exec'd processes outlive their init only without a pid namespace of their own:
        // they go with it. Its exit is reported after theirs, so that a client that saw the
        // init exit sees every exit.
        bool pending = false;
        for (auto& [eid, e] : c.execs)
            if (e->state.status() == Status::running) {
                ::kill(e->pid, SIGKILL);
                pending = true;
            }
        if (pending) {
            c.init_exit_pending = true;
            return;
        }
        report_exit(c, p);
        return;
    }
    report_exit(c, p);
    if (c.init_exit_pending) {
        for (auto& [eid, e] : c.execs)
            if (e->state.status() == Status::running)
                return;
        c.init_exit_pending = false;
        report_exit(c, c.init);
    }
}

void TaskService::report_exit(Container& c, Proc& p)
{
    p.exit_reported = true;
    events::TaskExit ev;
    ev.set_container_id(c.id);
    ev.set_id(p.exec_id.empty() ? c.id : p.exec_id);
    ev.set_pid(static_cast<std::uint32_t>(p.pid));
    ev.set_exit_status(p.exit_status);
    set_time(ev.mutable_exited_at(), p.exited_at);
    m_events.publish("/tasks/exit", "containerd.events.TaskExit", ev.SerializeAsString());
    const std::string bytes = wait_response(p.exit_status, p.exited_at);
    auto waiters = std::move(p.waiters);
    p.waiters.clear();
    for (auto& w : waiters)
        w({}, bytes);
}

void TaskService::watch_oom(Container& c)
{
    auto cg = fs::read_file("/proc/" + std::to_string(c.init.pid) + "/cgroup");
    if (!cg)
        return;
    std::string v2_path, v1_memory;
    std::size_t pos = 0;
    while (pos < cg->size()) {
        std::size_t end = cg->find('\n', pos);
        if (end == std::string::npos)
            end = cg->size();
        std::string line = cg->substr(pos, end - pos);
        pos = end + 1;
        auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos)
            continue;
        std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (line.substr(0, a) == "0" && ctrls.empty())
            v2_path = path;
        std::size_t s = 0;
        while (s <= ctrls.size()) {
            std::size_t e = ctrls.find(',', s);
            if (e == std::string::npos)
                e = ctrls.size();
            if (ctrls.substr(s, e - s) == "memory")
                v1_memory = path;
            s = e + 1;
        }
    }
    const std::string id = c.id;
    auto publish = [this, id] {
        events::TaskOOM ev;
        ev.set_container_id(id);
        m_events.publish("/tasks/oom", "containerd.events.TaskOOM", ev.SerializeAsString());
    };
    if (cgroup2_host()) {
        if (v2_path.empty())
            return;
        c.oom_events_path = "/sys/fs/cgroup" + v2_path + "/memory.events";
        Fd in(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
        if (!in || ::inotify_add_watch(in.get(), c.oom_events_path.c_str(), IN_MODIFY) < 0)
            return;
        auto count = [path = c.oom_events_path]() -> std::uint64_t {
            auto text = fs::read_file(path);
            if (!text)
                return 0;
            auto at = text->find("oom_kill ");
            return at == std::string::npos ? 0 : std::strtoull(text->c_str() + at + 9, nullptr, 10);
        };
        c.oom_kills = count();
        Container* cp = &c;
        int fd = in.get();
        c.oom_fd = std::move(in);
        (void)m_loop.add(fd, EPOLLIN, [cp, fd, count, publish](std::uint32_t) {
            char buf[4096];
            while (::read(fd, buf, sizeof buf) > 0) {
            }
            std::uint64_t n = count();
            if (n > cp->oom_kills) {
                cp->oom_kills = n;
                publish();
            }
        });
        return;
    }
    if (v1_memory.empty())
        return;
    const std::string dir = "/sys/fs/cgroup/memory" + v1_memory;
    Fd control(::open((dir + "/memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC));
    Fd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!control || !efd)
        return;
    std::string reg = std::to_string(efd.get()) + " " + std::to_string(control.get());
    if (!fs::write_file(dir + "/cgroup.event_control", reg))
        return;
    int fd = efd.get();
    c.oom_fd = std::move(efd);
    c.oom_control = std::move(control);
    (void)m_loop.add(fd, EPOLLIN, [this, fd, dir, publish](std::uint32_t) {
        std::uint64_t v;
        (void)::read(fd, &v, sizeof v);
        // The eventfd also fires when the cgroup goes away: that is no OOM.
        struct stat st {};
        if (::stat((dir + "/memory.oom_control").c_str(), &st) < 0) {
            m_loop.remove(fd);
            return;
        }
        publish();
    });
}

} // namespace husk::shim
