#include "runtime/container.hpp"

#include "cgroups/manager.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/sys.hpp"
#include "runtime/cgroup_limits.hpp"
#include "runtime/hooks/hooks.hpp"
#include "runtime/notify_socket.hpp"
#include "runtime/process/exec.hpp"
#include "runtime/process/init.hpp"
#include "runtime/process/setup.hpp"
#include "runtime/seccomp/seccomp.hpp"
#include "runtime/spec/config.hpp"
#include "runtime/terminal/attach.hpp"
#include "runtime/terminal/console.hpp"

#include <csignal>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk {

namespace {

// Undoes a half-made container unless dismissed: the cgroup and the state directory.
class CreateCleanup {
public:
    CreateCleanup(const state::Store& store, const state::ContainerDir& dir) : m_store(store), m_dir(dir) {}
    ~CreateCleanup()
    {
        if (m_dismissed)
            return;
        if (m_cgroup) {
            (void)m_cgroup->signal_all(SIGKILL);
            if (auto r = m_cgroup->destroy(); !r)
                log::warn("cleanup: " + r.error().message());
        }
        if (auto r = m_store.remove(m_dir); !r)
            log::warn("cleanup: " + r.error().message());
    }
    void set_cgroup(cgroups::Manager* cg) { m_cgroup = cg; }
    void dismiss() { m_dismissed = true; }

private:
    const state::Store& m_store;
    const state::ContainerDir& m_dir;
    cgroups::Manager* m_cgroup = nullptr;
    bool m_dismissed = false;
};

Result<> write_pid_file(const std::string& path, pid_t pid)
{
    std::string abs = fs::absolute(path, fs::current_dir());
    std::string dir = abs.substr(0, abs.rfind('/'));
    std::string name = abs.substr(abs.rfind('/') + 1);
    Fd dfd = TRY_CTX(fs::open(dir.empty() ? "/" : dir, O_DIRECTORY | O_RDONLY), "pid file");
    TRY_CTX(fs::write_file_atomic(dfd.borrow(), name, std::to_string(pid), 0644), "pid file " + abs);
    return {};
}

Result<> check_rootfs(const spec::Config& config)
{
    struct stat st {};
    if (::stat(config.root.path.c_str(), &st) < 0)
        return fail_errno("rootfs (" + config.root.path + ")");
    if (!S_ISDIR(st.st_mode))
        return fail("rootfs (" + config.root.path + ") is not a directory");
    return {};
}

// derive_status, with a running container whose cgroup is frozen reported as paused.
state::Status status_of(const state::ContainerDir& dir, const state::ContainerState& st)
{
    auto status = state::derive_status(dir, st);
    if (status != state::Status::Running || st.cgroup_dirs.empty())
        return status;
    auto cg = cgroups::reopen_manager(st.cgroup_dirs);
    if (cg) {
        auto frozen = (*cg)->frozen();
        if (frozen && *frozen)
            return state::Status::Paused;
    }
    return status;
}

StateView view_of(const state::ContainerDir& dir, const state::ContainerState& st)
{
    StateView v;
    v.oci_version = st.oci_version;
    v.id = st.id;
    v.status = status_of(dir, st);
    v.pid = v.status == state::Status::Stopped ? 0 : st.pid;
    v.bundle = st.bundle;
    v.rootfs = st.rootfs;
    v.created = st.created;
    v.owner = st.owner;
    v.annotations = st.annotations;
    return v;
}

// The container's recorded state, or a stopped placeholder for a directory left behind
// by a create that never finished.
Result<state::ContainerState> load_state(const state::ContainerDir& dir, const std::string& id)
{
    auto st = TRY(dir.load());
    if (st)
        return *st;
    state::ContainerState placeholder;
    placeholder.id = id;
    return placeholder;
}

// Sends the exec fifo's byte: the init proceeds to execve.
// Sends the exec fifo's byte: the init proceeds to execve. The fifo is unlinked first, so
// a start killed half-way never leaves a running container that looks created. Returns
// our end of the fifo for wait_exec.
Result<Fd> release_init(const state::ContainerDir& dir)
{
    int fd = ::open(dir.file("exec.fifo").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENXIO)
            return fail("cannot start a container that has stopped");
        return fail_errno("open exec fifo");
    }
    Fd fifo(fd);
    if (::unlinkat(dir.fd().get(), "exec.fifo", 0) < 0)
        return fail_errno("remove exec fifo");
    TRY_CTX(fs::write_all(fifo.borrow(), std::string_view("\0", 1)), "release container init");
    return fifo;
}

// The init's end of the fifo is close-on-exec: once no reader is left (POLLERR on our
// end), the user's program runs, or the init has died. Callers wait for that without the
// container's lock, so a slow or frozen init blocks nobody else.
void wait_exec(BorrowedFd fifo)
{
    pollfd p { fifo.get(), POLLERR, 0 };
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
}

// Waits until the process behind `pidfd` has exited (it may not be our child).
void wait_gone(int pidfd, int timeout_ms)
{
    pollfd p { pidfd, POLLIN, 0 };
    while (::poll(&p, 1, timeout_ms) < 0 && errno == EINTR) {
    }
}

// The cgroup of a container that has not stopped (update, events).
Result<std::unique_ptr<cgroups::Manager>> live_cgroup(const state::ContainerDir& dir, const state::ContainerState& st)
{
    if (status_of(dir, st) == state::Status::Stopped)
        return fail("container " + st.id + " is not running");
    if (st.cgroup_dirs.empty())
        return fail("container " + st.id + " has no cgroup");
    return cgroups::reopen_manager(st.cgroup_dirs);
}

// The config recorded at create.
Result<spec::Config> saved_config(const state::ContainerDir& dir, const state::ContainerState& st)
{
    auto text = TRY(fs::read_file(dir.file("config.json")));
    return TRY_CTX(spec::parse_config(text, st.bundle), "saved config of " + st.id);
}

// The hooks recorded at create, if the container has any.
std::optional<spec::Hooks> saved_hooks(const state::ContainerDir& dir, const state::ContainerState& st)
{
    if (!st.has_hooks)
        return std::nullopt;
    auto config = saved_config(dir, st);
    if (!config) {
        if (config.error().code() != ENOENT)
            log::warn(config.error().message());
        return std::nullopt;
    }
    return config->hooks;
}

hooks::HookState hook_state_of(const state::ContainerState& st, const char* status, pid_t pid)
{
    return hooks::HookState { st.oci_version, st.id, status, pid, st.bundle, st.annotations };
}

void run_poststart(const state::ContainerDir& dir, const state::ContainerState& st)
{
    if (auto h = saved_hooks(dir, st); h && !h->poststart.empty())
        hooks::run_all_warn(h->poststart, "poststart", hooks::state_json(hook_state_of(st, "running", st.pid)));
}

// Starting a created container, shared by start and run. begin_start binds the
// NOTIFY_SOCKET listener (when the caller has one), releases the init and drops the lock;
// finish_start waits for the init's execve, runs the poststart hooks and passes on the
// container's readiness.
struct Starting {
    Fd fifo;
    std::optional<Fd> notify_sock;
    std::optional<std::string> notify_caller;
};

Result<Starting> begin_start(state::ContainerDir& dir)
{
    Starting s;
    s.notify_caller = notify::caller_socket();
    if (s.notify_caller && fs::exists(dir.file("notify")))
        s.notify_sock = TRY(notify::listen(dir.path()));
    s.fifo = TRY(release_init(dir));
    // Others may inspect, signal or pause the container while we wait for it.
    dir.unlock();
    return s;
}

Result<> finish_start(const Starting& s, const state::ContainerDir& dir, const state::ContainerState& st,
                      BorrowedFd init_pidfd)
{
    wait_exec(s.fifo.borrow());
    run_poststart(dir, st);
    if (s.notify_sock && init_pidfd.valid())
        TRY(notify::forward_ready(s.notify_sock->borrow(), init_pidfd, st.pid, *s.notify_caller));
    return {};
}


struct Created {
    state::ContainerDir dir;
    state::ContainerState st;
    std::unique_ptr<cgroups::Manager> cgroup;
    process::InitProcess init;
    Fd pty_master;
};

// Detach::No (attached run): a terminal without a console socket is a pty that husk
// relays itself; its master comes back in Created::pty_master.
Result<Created> create_container(const state::Store& store, const CreateOptions& options, Detach detach)
{
    std::string bundle = fs::absolute(options.bundle, fs::current_dir());
    std::string config_text = TRY(fs::read_file(bundle + "/config.json"));
    auto config = TRY(spec::parse_config(config_text, bundle));
    if (!config.has_process)
        return fail("process: missing in config.json");
    std::optional<terminal::ConsolePair> pair;
    if (config.process.terminal && options.console_socket.empty()) {
        if (detach == Detach::Yes)
            return fail("cannot allocate tty if husk will detach without setting console socket");
        pair.emplace(TRY(terminal::ConsolePair::make()));
    }
    if (!config.process.terminal && !options.console_socket.empty())
        return fail("cannot use console socket if husk will not detach or allocate tty");
    TRY(check_rootfs(config));
    int preserve_fds = options.preserve_fds;
    // systemd socket activation: the fds handed to husk go on to the container, which
    // sees itself as their receiver (LISTEN_PID=1).
    if (const char* fds = std::getenv("LISTEN_FDS"); fds && *fds) {
        const char* listen_pid = std::getenv("LISTEN_PID");
        int n = std::atoi(fds);
        if (n > 0 && listen_pid && std::atoi(listen_pid) == ::getpid()) {
            preserve_fds += n;
            config.process.env.push_back("LISTEN_FDS=" + std::to_string(n));
            config.process.env.push_back("LISTEN_PID=1");
        }
    }
    TRY(process::check_lsm(config.process, config.linux.mount_label));
    auto filter = TRY(seccomp::compile_cached(config.linux.seccomp_json, seccomp::default_cache_dir()));

    state::ContainerDir dir = TRY(store.create(options.id));
    std::unique_ptr<cgroups::Manager> cgroup; // outlives the cleanup that may use it
    CreateCleanup cleanup(store, dir);

    state::ContainerState st;
    st.id = options.id;
    st.bundle = bundle;
    st.rootfs = config.root.path;
    st.oci_version = config.oci_version;
    st.annotations = config.annotations;
    st.owner = sys::user_name(::geteuid());
    const auto& h = config.hooks;
    st.has_hooks = !h.prestart.empty() || !h.create_runtime.empty() || !h.create_container.empty()
        || !h.start_container.empty() || !h.poststart.empty() || !h.poststop.empty();
    st.init_is_pid1 = config.linux.has_namespace(spec::NamespaceType::Pid)
        && config.linux.find_namespace(spec::NamespaceType::Pid)->path.empty();

    cgroup = TRY(cgroups::make_manager(config.linux.cgroups_path, options.id));
    // A cgroup that already has processes is someone else's too: a failed create must
    // not kill them or remove it.
    auto existing = cgroup->pids();
    if (existing && !existing->empty())
        log::warn("cgroup " + cgroup->path() + " already has processes; sharing it");
    else
        cleanup.set_cgroup(cgroup.get());
    TRY(cgroup->create());
    for (const auto& h : cgroup->hierarchies())
        st.cgroup_dirs.push_back(h.dir);
    // Recorded before the init exists, so a killed create can still be cleaned by delete.
    TRY(dir.save(st));
    if (notify::caller_socket())
        TRY(notify::prepare(config, dir.path()));
    // Later verbs need the config (exec: namespaces and process defaults; start and
    // delete: hooks): keep the text it came from.
    TRY(fs::write_file_atomic(dir.fd(), "config.json", config_text, 0600));

    if (::mkfifoat(dir.fd().get(), "exec.fifo", 0622) < 0)
        return fail_errno("create exec fifo");
    Fd fifo = TRY(fs::open(dir.file("exec.fifo"), O_RDWR));

    Fd console;
    if (config.process.terminal && !pair)
        console = TRY(terminal::connect_console_socket(options.console_socket));

    process::InitOptions io;
    io.console_socket = pair ? pair->child_end() : console.borrow();
    io.seccomp = filter.code.empty() ? nullptr : &filter;
    io.hook_state = hooks::HookState { st.oci_version, st.id, "creating", 0, st.bundle, st.annotations };
    io.config = &config;
    io.pivot = options.no_pivot ? rootfs::Pivot::Chroot : rootfs::Pivot::PivotRoot;
    io.cgroup = cgroup.get();
    io.exec_fifo = fifo.borrow();
    io.preserve_fds = preserve_fds;
    if (!options.no_new_keyring)
        io.session_keyring = "_ses." + options.id;
    process::InitProcess init = TRY(process::spawn_init(io));
    Fd pty_master;
    if (pair) {
        pair->close_child_end();
        pty_master = TRY(pair->receive_master());
    }

    auto ps = sys::proc_stat(init.pid());
    if (!ps)
        return fail("container init exited during create");
    st.pid = init.pid();
    st.pid_start_time = ps->start_time;
    st.created = log::rfc3339_now(true);
    TRY(dir.save(st));
    if (!options.pid_file.empty())
        TRY(write_pid_file(options.pid_file, init.pid()));
    TRY(init.commit());
    cleanup.dismiss();
    return Created { std::move(dir), std::move(st), std::move(cgroup), std::move(init), std::move(pty_master) };
}

// Stops every process of a container and removes its cgroup and state.
Result<> destroy(const state::Store& store, const state::ContainerDir& dir, const state::ContainerState& st)
{
    std::unique_ptr<cgroups::Manager> cg;
    if (!st.cgroup_dirs.empty())
        cg = TRY(cgroups::reopen_manager(st.cgroup_dirs));
    // Frozen processes cannot act on SIGKILL: signal them, then thaw them to let them die.
    if (cg) {
        auto frozen = cg->frozen();
        if (frozen && *frozen) {
            (void)cg->signal_all(SIGKILL);
            TRY(cg->set_frozen(false));
        }
    }
    if (st.pid > 0 && state::init_alive(st)) {
        int pidfd = sys::pidfd_open(st.pid);
        if (pidfd >= 0) {
            Fd owned(pidfd);
            // Re-check identity now that the pidfd pins the process.
            if (state::init_alive(st)) {
                sys::pidfd_send_signal(owned.get(), SIGKILL);
                wait_gone(owned.get(), 10000);
            }
        }
    }
    if (cg) {
        // Without a pid namespace, processes outlive the init: kill them through the cgroup.
        (void)cg->signal_all(SIGKILL);
        TRY(cg->destroy());
    }
    if (auto h = saved_hooks(dir, st); h && !h->poststop.empty())
        hooks::run_all_warn(h->poststop, "poststop", hooks::state_json(hook_state_of(st, "stopped", 0)));
    return store.remove(dir);
}


} // namespace

Result<> Runtime::create(const CreateOptions& options)
{
    auto created = TRY(create_container(m_store, options, Detach::Yes));
    return {};
}

Result<> Runtime::start(const std::string& id)
{
    state::ContainerDir dir = TRY(m_store.open(id));
    auto st = TRY(load_state(dir, id));
    switch (status_of(dir, st)) {
    case state::Status::Created: {
        Starting s = TRY(begin_start(dir));
        Fd pidfd(sys::pidfd_open(st.pid));
        return finish_start(s, dir, st, pidfd.borrow());
    }
    case state::Status::Stopped:
        return fail("cannot start a container that has stopped");
    case state::Status::Running:
        return fail("cannot start an already running container");
    default:
        return fail("cannot start a container in the " + std::string(state::status_name(status_of(dir, st)))
                    + " state");
    }
}

Result<int> Runtime::run(const CreateOptions& options, Detach detach, Keep keep)
{
    // Forwarded signals are held from before the container exists until it is deleted.
    terminal::SignalForwarding forwarding(detach == Detach::No ? terminal::SignalForwarding::Active::Yes
                                                               : terminal::SignalForwarding::Active::No);

    auto created = TRY(create_container(m_store, options, detach));
    auto starting = begin_start(created.dir);
    if (!starting) {
        (void)destroy(m_store, created.dir, created.st);
        return std::unexpected(starting.error());
    }
    // The container runs by now: a notify failure is reported, not fatal to run.
    if (auto r = finish_start(*starting, created.dir, created.st, created.init.pidfd()); !r)
        log::warn(r.error().message());
    if (detach == Detach::Yes)
        return 0;

    int code = terminal::attach_and_wait(created.init.pid(), created.init.pidfd(), std::move(created.pty_master));
    if (keep == Keep::No) {
        auto dir = m_store.open(options.id);
        if (dir) {
            auto st = load_state(*dir, options.id);
            if (st && st->pid_start_time == created.st.pid_start_time) {
                if (auto r = destroy(m_store, *dir, *st); !r)
                    log::warn("delete after run: " + r.error().message());
            }
        }
    }
    return code;
}

namespace {

Result<uint32_t> parse_id(const std::string& text, const char* what)
{
    char* end = nullptr;
    errno = 0;
    unsigned long v = std::strtoul(text.c_str(), &end, 10);
    if (text.empty() || *end || errno || v > 0xffffffffUL)
        return fail(std::string("invalid ") + what + " \"" + text + "\"");
    return static_cast<uint32_t>(v);
}

// The process to exec: the --process document, or the container's process with overrides.
Result<spec::Process> exec_process(const ExecOptions& o, const spec::Config& config)
{
    if (!o.process_file.empty()) {
        auto text = TRY(fs::read_file(o.process_file));
        return TRY_CTX(spec::parse_process(text), o.process_file);
    }
    if (o.args.empty())
        return fail("exec: the command to run is missing");
    spec::Process p = config.process;
    p.args = o.args;
    p.terminal = o.tty;
    for (const auto& e : o.env) {
        if (e.find('=') == std::string::npos)
            return fail("--env \"" + e + "\": expected NAME=VALUE");
        // A later value for the same name replaces the earlier one.
        std::string name = e.substr(0, e.find('='));
        std::erase_if(p.env, [&](const std::string& x) { return x.starts_with(name + "="); });
        p.env.push_back(e);
    }
    if (!o.cwd.empty()) {
        if (o.cwd[0] != '/')
            return fail("--cwd \"" + o.cwd + "\": must be an absolute path");
        p.cwd = o.cwd;
    }
    if (!o.user.empty()) {
        auto colon = o.user.find(':');
        p.user.uid = TRY(parse_id(o.user.substr(0, colon), "uid"));
        if (colon != std::string::npos)
            p.user.gid = TRY(parse_id(o.user.substr(colon + 1), "gid"));
    }
    if (!o.additional_gids.empty())
        p.user.additional_gids = o.additional_gids;
    if (!o.caps.empty()) {
        if (!p.capabilities)
            p.capabilities.emplace();
        for (const auto& name : o.caps) {
            auto cap = spec::capability_from_name(name);
            if (!cap)
                return fail("--cap: unknown capability " + name);
            for (auto* set : { &p.capabilities->bounding, &p.capabilities->effective, &p.capabilities->permitted,
                               &p.capabilities->ambient })
                set->push_back(*cap);
        }
    }
    if (o.no_new_privs)
        p.no_new_privileges = true;
    if (!o.apparmor.empty())
        p.apparmor_profile = o.apparmor;
    if (!o.process_label.empty())
        p.selinux_label = o.process_label;
    return p;
}

} // namespace

Result<int> Runtime::exec(const ExecOptions& options)
{
    // Held from the start so a signal meant for the process is not lost.
    bool attached = options.detach == Detach::No;
    terminal::SignalForwarding forwarding(attached ? terminal::SignalForwarding::Active::Yes
                                                   : terminal::SignalForwarding::Active::No);

    std::optional<process::ExecProcess> child;
    Fd master;
    {
        // Shared: exec does not change the container's state, and must not wait for others.
        state::ContainerDir dir = TRY(m_store.open(options.id, state::Lock::Shared));
        auto st = TRY(load_state(dir, options.id));
        switch (status_of(dir, st)) {
        case state::Status::Stopped:
            return fail("cannot exec in a stopped container");
        case state::Status::Paused:
            if (!options.ignore_paused)
                return fail("cannot exec in a paused container (use --ignore-paused to override)");
            break;
        default:
            break;
        }
        auto config = TRY(saved_config(dir, st));
        spec::Process proc = TRY(exec_process(options, config));
        if (proc.terminal && options.console_socket.empty() && !attached)
            return fail("cannot allocate tty if husk will detach without setting console socket");
        if (!proc.terminal && !options.console_socket.empty())
            return fail("cannot use console socket if husk will not detach or allocate tty");
        TRY(process::check_lsm(proc, {}));
        auto filter = TRY(seccomp::compile_cached(config.linux.seccomp_json, seccomp::default_cache_dir()));

        int pidfd = sys::pidfd_open(st.pid);
        if (pidfd < 0)
            return fail("cannot exec in a stopped container");
        Fd init_pidfd(pidfd);
        if (!state::init_alive(st))
            return fail("cannot exec in a stopped container");

        std::unique_ptr<cgroups::Manager> cg;
        if (!st.cgroup_dirs.empty())
            cg = TRY(cgroups::reopen_manager(st.cgroup_dirs));

        std::optional<terminal::ConsolePair> pair;
        Fd console;
        if (proc.terminal) {
            if (options.console_socket.empty())
                pair.emplace(TRY(terminal::ConsolePair::make()));
            else
                console = TRY(terminal::connect_console_socket(options.console_socket));
        }

        process::ExecOptions eo;
        eo.config = &config;
        eo.process = &proc;
        eo.init_pidfd = init_pidfd.borrow();
        eo.cgroup = cg.get();
        eo.console_socket = pair ? pair->child_end() : console.borrow();
        eo.preserve_fds = options.preserve_fds;
        eo.seccomp = filter.code.empty() ? nullptr : &filter;
        if (filter.needs_listener) {
            auto status = status_of(dir, st);
            eo.state_json = hooks::state_json(hook_state_of(st, std::string(state::status_name(status)).c_str(), st.pid));
        }
        child.emplace(TRY(process::spawn_exec(eo)));
        if (pair) {
            pair->close_child_end();
            master = TRY(pair->receive_master());
        }
        if (!options.pid_file.empty())
            TRY(write_pid_file(options.pid_file, child->pid()));
        TRY(child->commit());
    }
    if (!attached)
        return 0;
    return terminal::attach_and_wait(child->pid(), child->pidfd(), std::move(master));
}

Result<> Runtime::pause(const std::string& id)
{
    state::ContainerDir dir = TRY(m_store.open(id));
    auto st = TRY(load_state(dir, id));
    auto status = status_of(dir, st);
    if (status == state::Status::Paused)
        return fail("container " + id + " is already paused");
    if (status != state::Status::Running && status != state::Status::Created)
        return fail("container not running");
    auto cg = TRY(cgroups::reopen_manager(st.cgroup_dirs));
    return cg->set_frozen(true);
}

Result<> Runtime::resume(const std::string& id)
{
    state::ContainerDir dir = TRY(m_store.open(id));
    auto st = TRY(load_state(dir, id));
    if (status_of(dir, st) != state::Status::Paused)
        return fail("container not paused");
    auto cg = TRY(cgroups::reopen_manager(st.cgroup_dirs));
    return cg->set_frozen(false);
}

Result<> Runtime::update(const std::string& id, const std::string& resources_json)
{
    auto resources = TRY(spec::parse_resources(resources_json));
    state::ContainerDir dir = TRY(m_store.open(id));
    auto st = TRY(load_state(dir, id));
    auto cg = TRY(live_cgroup(dir, st));
    TRY(cg->update(to_limits(resources)));

    // The saved config takes the new values, so that a later update of devices starts
    // from the container's own rules, and so does anything reading the config.
    auto text = TRY(fs::read_file(dir.file("config.json")));
    auto doc = nlohmann::json::parse(text, nullptr, false);
    auto patch = nlohmann::json::parse(resources_json, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        return fail("saved config of " + id + " is not a JSON object");
    doc["linux"]["resources"].merge_patch(patch);
    std::string merged = doc.dump();
    if (patch.contains("devices")) {
        auto config = TRY_CTX(spec::parse_config(merged, st.bundle), "updated config of " + id);
        TRY(cg->set_device_rules(device_rules(config)));
    }
    return fs::write_file_atomic(dir.fd(), "config.json", merged, 0600);
}

Result<std::unique_ptr<cgroups::Manager>> Runtime::cgroup(const std::string& id)
{
    state::ContainerDir dir = TRY(m_store.open(id, state::Lock::Shared));
    auto st = TRY(load_state(dir, id));
    return live_cgroup(dir, st);
}

Result<std::vector<pid_t>> Runtime::pids(const std::string& id)
{
    state::ContainerDir dir = TRY(m_store.open(id, state::Lock::Shared));
    auto st = TRY(load_state(dir, id));
    if (status_of(dir, st) == state::Status::Stopped)
        return std::vector<pid_t> {};
    if (st.cgroup_dirs.empty())
        return std::vector<pid_t> { st.pid };
    auto cg = TRY(cgroups::reopen_manager(st.cgroup_dirs));
    return cg->pids();
}

Result<StateView> Runtime::state(const std::string& id)
{
    state::ContainerDir dir = TRY(m_store.open(id, state::Lock::Shared));
    auto st = TRY(load_state(dir, id));
    return view_of(dir, st);
}

Result<> Runtime::kill(const std::string& id, int sig, bool all)
{
    state::ContainerDir dir = TRY(m_store.open(id));
    auto st = TRY(load_state(dir, id));
    auto status = status_of(dir, st);
    if (status == state::Status::Stopped)
        return fail("container not running");
    if (all && !st.cgroup_dirs.empty()) {
        auto cg = TRY(cgroups::reopen_manager(st.cgroup_dirs));
        return cg->signal_all(sig);
    }
    int pidfd = sys::pidfd_open(st.pid);
    if (pidfd < 0)
        return fail("container not running");
    Fd owned(pidfd);
    if (!state::init_alive(st))
        return fail("container not running");
    if (sys::pidfd_send_signal(owned.get(), sig) < 0)
        return fail_errno("send signal " + std::to_string(sig));
    return {};
}

Result<> Runtime::remove(const std::string& id, bool force)
{
    state::ContainerDir dir = TRY(m_store.open(id));
    auto st = TRY(load_state(dir, id));
    auto status = status_of(dir, st);
    if (status == state::Status::Running || status == state::Status::Paused) {
        if (!force)
            return fail("cannot delete container " + id + " that is not stopped: "
                        + std::string(state::status_name(status)));
    }
    return destroy(m_store, dir, st);
}

Result<std::vector<StateView>> Runtime::list()
{
    std::vector<StateView> out;
    for (const auto& id : TRY(m_store.list())) {
        auto dir = m_store.open(id, state::Lock::Shared);
        if (!dir)
            continue; // deleted meanwhile
        auto st = load_state(*dir, id);
        if (!st)
            continue;
        out.push_back(view_of(*dir, *st));
    }
    return out;
}

} // namespace husk
