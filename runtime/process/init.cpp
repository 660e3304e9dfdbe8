#include "runtime/process/init.hpp"

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/sys.hpp"
#include "runtime/caps/caps.hpp"
#include "runtime/cgroup_limits.hpp"
#include "runtime/process/init_plan.hpp"
#include "runtime/process/parent_ns.hpp"
#include "runtime/process/setup.hpp"
#include "runtime/process/sync.hpp"

#include <csignal>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace husk::process {

namespace {


std::string id_map_text(const std::vector<spec::IdMapping>& maps)
{
    std::string out;
    for (const auto& m : maps)
        out += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " + std::to_string(m.size) + "\n";
    return out;
}

void reap(pid_t pid)
{
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
}

std::string describe_exit(pid_t pid)
{
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (r != pid)
        return "container init exited unexpectedly";
    if (WIFSIGNALED(status))
        return "container init was killed by signal " + std::to_string(WTERMSIG(status));
    return "container init exited unexpectedly with status " + std::to_string(WEXITSTATUS(status));
}

// Only sysctls of a namespace the container has of its own may be set: anything else
// would change the host.
Result<> check_sysctls(const spec::Linux& linux)
{
    // A namespace of its own: new, or joined by a path that is not husk's own namespace.
    auto owns = [&](spec::NamespaceType t) {
        const spec::Namespace* ns = linux.find_namespace(t);
        if (!ns)
            return false;
        if (ns->path.empty())
            return true;
        struct stat theirs {}, ours {};
        std::string mine = std::string("/proc/self/ns/") + (t == spec::NamespaceType::Network ? "net"
                                                            : t == spec::NamespaceType::Ipc   ? "ipc"
                                                                                              : "uts");
        if (::stat(ns->path.c_str(), &theirs) < 0 || ::stat(mine.c_str(), &ours) < 0)
            return true; // a bad path fails later, clearly, when it is joined
        return theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino;
    };
    static const char* ipc_keys[] = { "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                      "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced" };
    for (const auto& [key, value] : linux.sysctl) {
        bool ipc = key.starts_with("fs.mqueue.");
        for (const char* k : ipc_keys)
            ipc |= key == k;
        if (ipc) {
            if (!owns(spec::NamespaceType::Ipc))
                return fail("sysctl \"" + key + "\" is not allowed in the host's ipc namespace");
            continue;
        }
        if (key.starts_with("net.")) {
            if (!owns(spec::NamespaceType::Network))
                return fail("sysctl \"" + key + "\" is not allowed in the host's network namespace");
            continue;
        }
        if (key == "kernel.hostname" || key == "kernel.domainname") {
            if (!owns(spec::NamespaceType::Uts))
                return fail("sysctl \"" + key + "\" is not allowed in the host's uts namespace");
            continue;
        }
        return fail("sysctl \"" + key + "\" is not in a separate kernel namespace");
    }
    return {};
}

} // namespace

InitProcess::InitProcess(InitProcess&& o) noexcept
    : m_pid(std::exchange(o.m_pid, -1)), m_pidfd(std::move(o.m_pidfd)), m_sync(std::move(o.m_sync)),
      m_committed(o.m_committed)
{
}

InitProcess::~InitProcess()
{
    if (!m_committed)
        abort();
}

void InitProcess::abort()
{
    if (m_pid <= 0)
        return;
    if (m_pidfd)
        sys::pidfd_send_signal(m_pidfd.get(), SIGKILL);
    else
        ::kill(m_pid, SIGKILL);
    reap(m_pid);
    m_pid = -1;
}

Result<> InitProcess::commit()
{
    if (!sync_send(m_sync.get(), MsgType::Commit))
        return fail_errno("commit container init");
    SyncMsg msg;
    if (!sync_recv(m_sync.get(), msg) || msg.type != MsgType::Committed)
        return fail(describe_exit(m_pid));
    m_committed = true;
    m_sync.reset();
    return {};
}

Result<InitProcess> spawn_init(const InitOptions& options)
{
    const spec::Config& config = *options.config;
    const spec::Linux& linux = config.linux;

    if (config.process.capabilities)
        TRY(caps::check_available(*config.process.capabilities));

    InitPlan plan;
    plan.config = options.config;
    plan.exec_fifo_fd = options.exec_fifo.get();
    plan.preserve_fds = options.preserve_fds;
    plan.session_keyring = options.session_keyring;
    plan.console_socket_fd = options.console_socket.get();
    plan.parent_hooks = !config.hooks.prestart.empty() || !config.hooks.create_runtime.empty();
    plan.hook_state = options.hook_state;
    plan.seccomp = options.seccomp;
    plan.parent_pid = ::getpid();

    // Open every namespace to join now: a bad path fails here, clearly, before any clone.
    std::vector<Fd> ns_fds;
    const spec::Namespace* user = linux.find_namespace(spec::NamespaceType::User);
    bool join_user = user && !user->path.empty();
    int clone_flags = 0;
    ParentNamespaceSwitch parent_ns;
    for (const auto& ns : linux.namespaces) {
        if (ns.type == spec::NamespaceType::Time) {
            TRY(parent_ns.enter_time(ns, linux.time_offsets));
            continue;
        }
        if (ns.path.empty()) {
            if (ns.type == spec::NamespaceType::Cgroup) {
                // After the init has been moved into its cgroup, so that is the ns root.
                plan.unshare_flags |= CLONE_NEWCGROUP;
            } else if (join_user) {
                if (ns.type == spec::NamespaceType::Pid)
                    return fail("linux.namespaces: a new pid namespace inside a joined user namespace is not supported yet");
                plan.unshare_flags |= clone_flag(ns.type);
            } else {
                clone_flags |= clone_flag(ns.type);
            }
            continue;
        }
        if (ns.type == spec::NamespaceType::Pid) {
            TRY(parent_ns.enter_pid(ns.path));
            continue;
        }
        Fd fd = TRY_CTX(fs::open(ns.path, O_RDONLY), std::string(spec::namespace_type_name(ns.type)) + " namespace");
        if (ns.type == spec::NamespaceType::User)
            plan.join_user_fd = fd.get();
        else
            plan.joins.push_back({ fd.get(), clone_flag(ns.type) });
        ns_fds.push_back(std::move(fd));
    }
    if (!linux.time_offsets.empty() && !linux.has_namespace(spec::NamespaceType::Time))
        return fail("linux.timeOffsets: requires a time namespace");
    plan.in_user_ns = user != nullptr;
    const spec::Namespace* mnt = linux.find_namespace(spec::NamespaceType::Mount);
    plan.new_mount_ns = mnt && mnt->path.empty();
    const spec::Namespace* uts = linux.find_namespace(spec::NamespaceType::Uts);
    plan.new_uts_ns = uts != nullptr;
    const spec::Namespace* net = linux.find_namespace(spec::NamespaceType::Network);
    plan.new_net_ns = net && net->path.empty();
    if (user && user->path.empty()) {
        if (linux.uid_mappings.empty())
            return fail("user namespaces enabled, but no uid mappings found (linux.uidMappings)");
        if (linux.gid_mappings.empty())
            return fail("user namespaces enabled, but no gid mappings found (linux.gidMappings)");
    }
    TRY(check_sysctls(linux));
    if ((!config.hostname.empty() || !config.domainname.empty()) && !uts)
        return fail("hostname: setting the hostname needs a new uts namespace");
    if (!mnt)
        return fail("linux.namespaces: husk needs a mount namespace to build the container root");

    plan.rootfs.config = options.config;
    plan.rootfs.pivot = options.pivot;
    plan.rootfs.in_user_ns = plan.in_user_ns;
    plan.rootfs.new_cgroup_ns = plan.unshare_flags & CLONE_NEWCGROUP;
    if (options.cgroup) {
        plan.rootfs.cgroup_mode = options.cgroup->mode();
        plan.rootfs.cgroups = options.cgroup->hierarchies();
    }

    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return fail_errno("socketpair");
    Fd parent_sync(sv[0]);
    Fd child_sync(sv[1]);
    plan.sync_fd = child_sync.get();
    plan.parent_sync_fd = parent_sync.get();

    Fd cgroup_fd;
    if (options.cgroup)
        cgroup_fd = TRY(options.cgroup->open_for_clone());

    sys::CloneArgs args;
    int pidfd = -1;
    args.flags = static_cast<uint64_t>(clone_flags) | CLONE_PIDFD;
    args.pidfd_out = &pidfd;
    if (cgroup_fd) {
        args.flags |= sys::clone_into_cgroup;
        args.cgroup_fd = cgroup_fd.get();
    }
    pid_t pid = sys::clone3_fork(args);
    if (pid < 0 && errno == ENOSYS && cgroup_fd) {
        args.flags &= ~sys::clone_into_cgroup;
        cgroup_fd.reset();
        pid = sys::clone3_fork(args);
    }
    if (pid < 0)
        return fail_errno("clone container init");
    if (pid == 0)
        init_main(plan);
    // Hooks and anything else husk starts from here on run in husk's own namespaces.
    parent_ns.restore();

    InitProcess init(pid, Fd(pidfd), std::move(parent_sync));
    child_sync.reset();
    ns_fds.clear();

    if (user && user->path.empty()) {
        std::string base = "/proc/" + std::to_string(pid);
        TRY_CTX(fs::write_file(base + "/uid_map", id_map_text(linux.uid_mappings)), "write uid mappings");
        TRY_CTX(fs::write_file(base + "/gid_map", id_map_text(linux.gid_mappings)), "write gid mappings");
    }
    if (options.cgroup && !cgroup_fd)
        TRY(options.cgroup->add(pid));
    if (config.process.oom_score_adj)
        TRY_CTX(fs::write_file("/proc/" + std::to_string(pid) + "/oom_score_adj",
                               std::to_string(*config.process.oom_score_adj)),
                "set oom_score_adj");

    BorrowedFd sync(plan.parent_sync_fd);
    if (!sync_send(sync.get(), MsgType::Go, 0, nullptr, pid))
        return fail(describe_exit(pid));
    hooks::HookState creating = options.hook_state;
    creating.pid = pid;
    creating.status = "creating";
    ListenerHandoff handoff { options.seccomp, pid, options.seccomp && options.seccomp->needs_listener ? hooks::state_json(creating) : std::string() };
    auto receive = [&](SyncMsg& m) -> Result<bool> {
        auto r = recv_from_child(sync.get(), m, handoff);
        if (!r)
            init.abort();
        return r;
    };
    SyncMsg msg;
    bool got = TRY(receive(msg));
    // Limits go on once the init is in its cgroup and has built its root (so a limit
    // below what it already uses fails here, clearly, not as an OOM kill later).
    if (got && options.cgroup && (msg.type == MsgType::CreateRuntimeHooks || msg.type == MsgType::Ready)) {
        if (auto r = options.cgroup->apply(to_limits(config.linux.resources)); !r) {
            init.abort();
            return std::unexpected(r.error().prefix("apply cgroup limits"));
        }
        if (auto r = options.cgroup->set_device_rules(device_rules(config)); !r) {
            init.abort();
            return std::unexpected(r.error());
        }
    }
    if (got && msg.type == MsgType::CreateRuntimeHooks) {
        std::string state = hooks::state_json(creating);
        TRY(hooks::run(config.hooks.prestart, "prestart", state));
        TRY(hooks::run(config.hooks.create_runtime, "createRuntime", state));
        if (!sync_send(sync.get(), MsgType::HooksDone))
            return fail(describe_exit(pid));
        got = TRY(receive(msg));
    }
    if (!got) {
        std::string why = describe_exit(pid);
        init.abort();
        return fail(why);
    }
    if (msg.type == MsgType::Error) {
        Error err(msg.err, msg.text);
        init.abort();
        return std::unexpected(err);
    }
    if (msg.type != MsgType::Ready)
        return fail("container init: unexpected message " + std::to_string(static_cast<uint32_t>(msg.type)));
    return init;
}

} // namespace husk::process
