#include "sandbox/host/keeper.hpp"

#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/sys.hpp"
#include "sandbox/host/agent_client.hpp"
#include "sandbox/host/monitor.hpp"
#include "sandbox/host/relay.hpp"
#include "sandbox/proto/agent.pb.h"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <cstdlib>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <termios.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace husk::sandbox {

namespace pb = husk::sandbox::v1;

int keeper_exit_signal(unsigned exit_status)
{
    if (exit_status <= 128 || exit_status >= 128 + unsigned(NSIG))
        return -1;
    int sig = int(exit_status - 128);
    // Signals whose default action does not end a process cannot reproduce the status.
    switch (sig) {
    case SIGCHLD:
    case SIGCONT:
    case SIGURG:
    case SIGWINCH:
    case SIGSTOP:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
        return -1;
    default:
        return sig;
    }
}

namespace {

// The window size of the keeper's terminal (fd 0) onto the guest process's pty.
void resize_guest_pty(int state_dir, const KeeperPlan& plan)
{
    winsize ws {};
    if (::ioctl(0, TIOCGWINSZ, &ws) < 0 || (ws.ws_row == 0 && ws.ws_col == 0))
        return;
    auto conn = connect_monitor(BorrowedFd(state_dir));
    if (!conn)
        return;
    AgentClient client(std::move(*conn));
    pb::ResizePtyRequest req;
    req.set_container_id(plan.id);
    req.set_exec_id(plan.exec_id);
    req.set_height(ws.ws_row);
    req.set_width(ws.ws_col);
    pb::Empty resp;
    if (auto r = client.call("ResizePty", req, resp, 10'000); !r)
        log::debug("keeper " + plan.id + ": resize: " + r.error().message());
}

// Forwards what the keeper is sent to the guest's process, on a connection of its own; with
// a terminal, SIGWINCH is a new window size instead.
void forward_signals(int state_dir, KeeperPlan plan, sigset_t set)
{
    if (plan.terminal_slave >= 0)
        resize_guest_pty(state_dir, plan);
    for (;;) {
        siginfo_t si;
        int sig = ::sigwaitinfo(&set, &si);
        if (sig < 0)
            continue;
        if (sig == SIGCHLD || sig == SIGPIPE)
            continue;
        if (sig == SIGWINCH && plan.terminal_slave >= 0) {
            resize_guest_pty(state_dir, plan);
            continue;
        }
        auto conn = connect_monitor(BorrowedFd(state_dir));
        if (!conn)
            continue; // the sandbox is gone: the wait ends the keeper soon
        AgentClient client(std::move(*conn));
        pb::SignalProcessRequest req;
        req.set_container_id(plan.id);
        req.set_exec_id(plan.exec_id);
        req.set_signal(uint32_t(sig));
        pb::Empty resp;
        if (auto r = client.call("SignalProcess", req, resp, 10'000); !r)
            log::debug("keeper " + plan.id + ": forward signal " + std::to_string(sig) + ": " + r.error().message());
    }
}

[[noreturn]] void run_keeper(const KeeperPlan& plan)
{
    ::prctl(PR_SET_NAME, "husk-keeper");
    if (plan.terminal_slave >= 0) {
        // The pty is the keeper's controlling terminal: a resize of its master signals us.
        ::setsid();
        (void)::ioctl(0, TIOCSCTTY, 0);
    }
    (void)log::set_file(plan.state_dir + "/monitor.log");
    int dir = ::open(plan.state_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        ::_exit(255);
    // Every signal waits for the forwarding thread; the threads inherit the mask.
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    sigset_t forwarded = all;
    sigdelset(&forwarded, SIGKILL);
    sigdelset(&forwarded, SIGSTOP);
    std::thread(forward_signals, dir, plan, forwarded).detach();

    std::thread out(relay_output, BorrowedFd(dir), plan.id, plan.exec_id, pb::STDOUT, 1);
    std::thread err(relay_output, BorrowedFd(dir), plan.id, plan.exec_id, pb::STDERR, 2);
    if (plan.relay_stdin)
        std::thread(relay_input, BorrowedFd(dir), plan.id, plan.exec_id).detach();

    unsigned status = 128 + SIGKILL; // the VM went away before an answer
    if (auto conn = connect_monitor(BorrowedFd(dir)); conn) {
        AgentClient client(std::move(*conn));
        pb::ProcessRequest req;
        req.set_container_id(plan.id);
        req.set_exec_id(plan.exec_id);
        pb::WaitProcessResponse resp;
        if (auto r = client.call("WaitProcess", req, resp); r)
            status = resp.exit_status();
        else
            log::debug("keeper " + plan.id + ": wait: " + r.error().message());
    }
    // All of the output before the exit: the waiter reads to end of file, then reaps.
    out.join();
    err.join();
    if (int sig = keeper_exit_signal(status); sig > 0) {
        ::signal(sig, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        // Raised on this thread, where it is then unblocked: the forwarding thread never sees it.
        ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
        ::raise(sig);
    }
    ::_exit(int(status & 0xff));
}

} // namespace

Result<HostPty> open_host_pty(unsigned short rows, unsigned short cols)
{
    Fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master)
        return fail_errno("open a pty");
    if (::grantpt(master.get()) < 0 || ::unlockpt(master.get()) < 0)
        return fail_errno("unlock the pty");
    char name[64];
    if (::ptsname_r(master.get(), name, sizeof name) != 0)
        return fail_errno("name of the pty");
    Fd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave)
        return fail_errno(std::string("open ") + name);
    termios t {};
    if (::tcgetattr(slave.get(), &t) < 0)
        return fail_errno("terminal settings of the pty");
    ::cfmakeraw(&t);
    if (::tcsetattr(slave.get(), TCSANOW, &t) < 0)
        return fail_errno("raw mode on the pty");
    if (rows || cols) {
        winsize ws {.ws_row = rows, .ws_col = cols, .ws_xpixel = 0, .ws_ypixel = 0};
        (void)::ioctl(master.get(), TIOCSWINSZ, &ws);
    }
    return HostPty{std::move(master), std::move(slave)};
}

Result<pid_t> spawn_keeper(const KeeperPlan& plan, bool attached)
{
    // The detached keeper's pid comes back through a pipe from the middle process.
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0)
        return fail_errno("pipe");
    Fd rd(p[0]), wr(p[1]);
    pid_t child = ::fork();
    if (child < 0)
        return fail_errno("fork");
    if (child == 0) {
        rd.reset();
        if (!attached) {
            pid_t keeper = ::fork();
            if (keeper != 0) {
                (void)!::write(wr.get(), &keeper, sizeof keeper);
                ::_exit(keeper < 0 ? 1 : 0);
            }
        }
        wr.reset();
        if (plan.terminal_slave >= 0) {
            for (int fd = 0; fd < 3; fd++)
                if (::dup2(plan.terminal_slave, fd) < 0)
                    ::_exit(255);
        }
        // Only the stdio the process is to have: nothing else of the caller's stays open.
        sys::close_range(3, ~0U, 0);
        log::forget_file();
        run_keeper(plan);
    }
    wr.reset();
    if (attached)
        return child;
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    pid_t keeper = -1;
    ssize_t n;
    while ((n = ::read(rd.get(), &keeper, sizeof keeper)) < 0 && errno == EINTR) {
    }
    if (n != sizeof keeper || keeper <= 0)
        return fail("fork the sandbox process keeper");
    return keeper;
}

} // namespace husk::sandbox
