#include "runtime/process/exec.hpp"

#include "common/sys.hpp"
#include "runtime/caps/caps.hpp"
#include "runtime/process/parent_ns.hpp"
#include "runtime/process/setup.hpp"
#include "runtime/process/sync.hpp"
#include "runtime/terminal/console.hpp"

#include <csignal>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace husk::process {

namespace {

struct ExecPlanForChild {
    const spec::Process* process;
    int sync_fd;
    int parent_sync_fd;
    int init_pidfd;
    int join_flags; // namespaces joined in the child through the init's pidfd
    int console_socket_fd;
    int preserve_fds;
    pid_t parent_pid;
    const seccomp::Program* seccomp;
};

[[noreturn]] void exec_main(const ExecPlanForChild& plan)
{
    const spec::Process& proc = *plan.process;
    close_raw(plan.parent_sync_fd);
    // As for the init: nothing in the container reaches into us through /proc until execve.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    CHILD_TRY(plan, arm_parent_death(plan.parent_pid));
    SyncMsg msg;
    if (!sync_recv(plan.sync_fd, msg) || msg.type != MsgType::Go)
        ::_exit(1);

    // All at once through the pidfd: user first is implied, and the mount namespace
    // change puts our root and cwd at the container's root.
    if (plan.join_flags)
        CHILD_TRY(plan, sys_check(::setns(plan.init_pidfd, plan.join_flags), "join the container's namespaces"));
    close_raw(plan.init_pidfd);
    if (plan.join_flags & CLONE_NEWUSER) {
        CHILD_TRY(plan, sys_check(::setresgid(0, 0, 0), "setresgid(0) in the user namespace"));
        CHILD_TRY(plan, sys_check(::setresuid(0, 0, 0), "setresuid(0) in the user namespace"));
        CHILD_TRY(plan, arm_parent_death(plan.parent_pid));
    }
    if (plan.console_socket_fd >= 0) {
        CHILD_TRY(plan, terminal::setup_console(BorrowedFd(plan.console_socket_fd), proc.console_size, proc.user.uid));
        close_raw(plan.console_socket_fd);
    } else {
        // Its own session, like a process started from a shell, not husk's process group.
        ::setsid();
    }
    ExecPlan exec = CHILD_TRY(plan, finish_process(proc, plan.seccomp, plan.parent_pid, plan.sync_fd));

    ready_and_commit(plan.sync_fd); // exec -d outlives husk from here
    close_inherited(plan.preserve_fds, -1);
    exec_or_die(exec);
}



} // namespace

ExecProcess::ExecProcess(ExecProcess&& o) noexcept
    : m_pid(std::exchange(o.m_pid, -1)), m_pidfd(std::move(o.m_pidfd)), m_sync(std::move(o.m_sync)),
      m_committed(o.m_committed)
{
}

ExecProcess::~ExecProcess()
{
    if (m_committed || m_pid <= 0)
        return;
    sys::pidfd_send_signal(m_pidfd.get(), SIGKILL);
    while (::waitpid(m_pid, nullptr, 0) < 0 && errno == EINTR) {
    }
}

Result<> ExecProcess::commit()
{
    if (!sync_send(m_sync.get(), MsgType::Commit))
        return fail_errno("start the exec'd process");
    SyncMsg msg;
    if (!sync_recv(m_sync.get(), msg) || msg.type != MsgType::Committed)
        return fail("the exec'd process exited before it could start");
    m_committed = true;
    m_sync.reset();
    return {};
}


Result<ExecProcess> spawn_exec(const ExecOptions& options)
{
    const spec::Process& proc = *options.process;
    if (proc.capabilities)
        TRY(caps::check_available(*proc.capabilities));

    int parent_flags = 0, child_flags = 0;
    for (const auto& ns : options.config->linux.namespaces) {
        int f = clone_flag(ns.type);
        if (f == CLONE_NEWPID || f == CLONE_NEWTIME)
            parent_flags |= f;
        else
            child_flags |= f;
    }
    ParentNamespaceSwitch parent_ns;
    TRY(parent_ns.enter_of_process(options.init_pidfd, parent_flags));

    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return fail_errno("socketpair");
    Fd parent_sync(sv[0]);
    Fd child_sync(sv[1]);

    ExecPlanForChild plan {
        &proc, child_sync.get(), parent_sync.get(), options.init_pidfd.get(), child_flags,
        options.console_socket.get(), options.preserve_fds, ::getpid(), options.seccomp,
    };

    Fd cgroup_fd;
    if (options.cgroup)
        cgroup_fd = TRY(options.cgroup->open_for_clone());
    sys::CloneArgs args;
    int pidfd = -1;
    args.flags = CLONE_PIDFD;
    args.pidfd_out = &pidfd;
    if (cgroup_fd) {
        args.flags |= sys::clone_into_cgroup;
        args.cgroup_fd = cgroup_fd.get();
    }
    pid_t pid = sys::clone3_fork(args);
    if (pid < 0)
        return fail_errno("clone exec process");
    if (pid == 0)
        exec_main(plan);
    parent_ns.restore();

    ExecProcess child(pid, Fd(pidfd), std::move(parent_sync));
    child_sync.reset();
    if (options.cgroup && !cgroup_fd)
        TRY(options.cgroup->add(pid));
    if (!sync_send(plan.parent_sync_fd, MsgType::Go))
        return fail("the exec'd process died before it started");
    SyncMsg msg;
    ListenerHandoff handoff { options.seccomp, pid, options.state_json };
    if (!TRY(recv_from_child(plan.parent_sync_fd, msg, handoff)))
        return fail("the exec'd process died before it started");
    if (msg.type == MsgType::Error)
        return std::unexpected(Error(msg.err, msg.text));
    if (msg.type != MsgType::Ready)
        return fail("exec: unexpected message from the new process");
    return child;
}

} // namespace husk::process
