// The container init, from clone to execve. Runs in the cloned child of a single-threaded
// husk, on the plan the parent prepared; it reports the first failure to the parent over
// the sync socket and exits, so the parent can clean up and tell the user what went wrong.
#include "common/fs.hpp"
#include "common/sys.hpp"
#include "netns/loopback.hpp"
#include "runtime/caps/caps.hpp"
#include "runtime/process/init_plan.hpp"
#include "runtime/process/setup.hpp"
#include "runtime/process/sync.hpp"
#include "runtime/terminal/console.hpp"

#include <climits>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <linux/keyctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace husk::process {

namespace {

Result<> join_namespaces(const InitPlan& plan)
{
    if (plan.join_user_fd >= 0) {
        TRY(sys_check(::setns(plan.join_user_fd, CLONE_NEWUSER), "join user namespace"));
    }
    if (plan.in_user_ns) {
        // Become root of the user namespace: the rest of the setup needs its capabilities.
        TRY(sys_check(::setresgid(0, 0, 0), "setresgid(0) in the user namespace"));
        TRY(sys_check(::setresuid(0, 0, 0), "setresuid(0) in the user namespace"));
        TRY(arm_parent_death(plan.parent_pid));
    }
    for (const auto& j : plan.joins) {
        const char* what = j.nstype == CLONE_NEWNET ? "join network namespace"
            : j.nstype == CLONE_NEWIPC              ? "join ipc namespace"
            : j.nstype == CLONE_NEWUTS              ? "join uts namespace"
            : j.nstype == CLONE_NEWNS               ? "join mount namespace"
            : j.nstype == CLONE_NEWCGROUP           ? "join cgroup namespace"
                                                    : "join namespace";
        TRY(sys_check(::setns(j.fd, j.nstype), what));
    }
    if (plan.unshare_flags)
        TRY(sys_check(::unshare(plan.unshare_flags), "unshare namespaces"));
    return {};
}

// A session keyring of its own keeps the container from reading husk's (or the host
// session's) keys.
Result<> join_session_keyring(const InitPlan& plan)
{
    if (plan.session_keyring.empty())
        return {};
    if (::syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, plan.session_keyring.c_str()) >= 0)
        return {};
    // Kernels without keys, or user namespaces where the keyring quota is not ours.
    if (errno == ENOSYS || (plan.in_user_ns && (errno == EACCES || errno == EPERM || errno == EDQUOT)))
        return {};
    return fail_errno("join session keyring " + plan.session_keyring);
}

Result<> set_names(const spec::Config& config)
{
    if (!config.hostname.empty())
        TRY(sys_check(::sethostname(config.hostname.data(), config.hostname.size()), "sethostname"));
    if (!config.domainname.empty())
        TRY(sys_check(::setdomainname(config.domainname.data(), config.domainname.size()), "setdomainname"));
    return {};
}

} // namespace

void init_main(const InitPlan& plan)
{
    const spec::Config& config = *plan.config;
    const spec::Process& proc = config.process;
    close_raw(plan.parent_sync_fd);
    // Until execve (which resets it), no process in the container may reach into ours
    // through /proc/PID: we still hold husk's descriptors and run husk's binary.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // A session of its own: never the caller's controlling terminal (TIOCSTI) or its
    // process group (one ^C, delivered once, by husk's forwarding).
    ::setsid();
    ::umask(0022);
    CHILD_TRY(plan, arm_parent_death(plan.parent_pid));

    SyncMsg msg;
    if (!sync_recv(plan.sync_fd, msg) || msg.type != MsgType::Go)
        ::_exit(1);
    hooks::HookState hook_state = plan.hook_state;
    hook_state.pid = static_cast<pid_t>(msg.value);

    CHILD_TRY(plan, join_namespaces(plan));
    CHILD_TRY(plan, join_session_keyring(plan));
    if (plan.new_net_ns)
        CHILD_TRY(plan, netns::loopback_up());
    if (plan.new_uts_ns)
        CHILD_TRY(plan, set_names(config));
    if (plan.new_mount_ns) {
        auto before_pivot = [&]() -> Result<> {
            if (plan.parent_hooks) {
                SyncMsg reply;
                if (!sync_send(plan.sync_fd, MsgType::CreateRuntimeHooks, 0, nullptr, 0, Side::Child) || !sync_recv(plan.sync_fd, reply)
                    || reply.type != MsgType::HooksDone)
                    ::_exit(1); // the parent failed a hook and reports it
            }
            hook_state.status = "creating";
            // Hooks in the container's namespaces see the pid as the container does.
            hooks::HookState in_container = hook_state;
            in_container.pid = ::getpid();
            return hooks::run(config.hooks.create_container, "createContainer", hooks::state_json(in_container));
        };
        CHILD_TRY(plan, rootfs::setup(plan.rootfs, before_pivot));
        CHILD_TRY(plan, rootfs::finalize(plan.rootfs));
    }

    if (plan.console_socket_fd >= 0) {
        CHILD_TRY(plan, terminal::setup_console(BorrowedFd(plan.console_socket_fd), proc.console_size, proc.user.uid));
        close_raw(plan.console_socket_fd);
    }
    ExecPlan exec = CHILD_TRY(plan, finish_process(proc, plan.seccomp, plan.parent_pid, plan.sync_fd));

    ready_and_commit(plan.sync_fd);
    int fifo = move_above_preserved(plan.exec_fifo_fd, plan.preserve_fds);
    close_inherited(plan.preserve_fds, fifo);

    // Created: wait for start's byte on the exec fifo.
    char byte;
    ssize_t n;
    while ((n = ::read(fifo, &byte, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1)
        ::_exit(1);
    // The fifo stays open (close-on-exec) until execve: start waits for it to close.

    if (!config.hooks.start_container.empty()) {
        hook_state.status = "created";
        hook_state.pid = ::getpid();
        auto r = hooks::run(config.hooks.start_container, "startContainer", hooks::state_json(hook_state));
        if (!r) {
            std::string text = "husk: " + r.error().message() + "\n";
            (void)!::write(STDERR_FILENO, text.data(), text.size());
            ::_exit(1);
        }
    }

    exec_or_die(exec);
}

} // namespace husk::process
