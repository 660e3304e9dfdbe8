#include "runtime/terminal/attach.hpp"

#include "common/sys.hpp"

#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

namespace husk::terminal {

sigset_t forwarded_signals()
{
    sigset_t set;
    sigemptyset(&set);
    for (int s : { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU })
        sigaddset(&set, s);
    return set;
}

SignalForwarding::SignalForwarding(Active active) : m_active(active == Active::Yes)
{
    if (!m_active)
        return;
    sigset_t set = forwarded_signals();
    sigprocmask(SIG_BLOCK, &set, &m_old_mask);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
        if (sigismember(&set, sig))
            ::sigaction(sig, &dfl, &m_old_actions[sig]);
}

SignalForwarding::~SignalForwarding()
{
    if (!m_active)
        return;
    sigset_t set = forwarded_signals();
    for (int sig = 1; sig < NSIG; ++sig)
        if (sigismember(&set, sig))
            ::sigaction(sig, &m_old_actions[sig], nullptr);
    sigprocmask(SIG_SETMASK, &m_old_mask, nullptr);
}

Result<ConsolePair> ConsolePair::make()
{
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return fail_errno("socketpair for the console");
    return ConsolePair(Fd(sv[0]), Fd(sv[1]));
}

Result<Fd> ConsolePair::receive_master()
{
    char name[256];
    int fd = -1;
    if (recv_with_fd(m_ours.get(), name, sizeof name, &fd) < 0)
        return fail_errno("receive the pty master");
    if (fd < 0)
        return fail("the container process sent no pty master");
    return Fd(fd);
}

namespace {

void copy_window_size(int from, int to)
{
    winsize ws {};
    if (::ioctl(from, TIOCGWINSZ, &ws) == 0)
        ::ioctl(to, TIOCSWINSZ, &ws);
}

// Writes all of buf to a possibly non-blocking fd, waiting for room as needed.
void write_fully(int fd, const char* buf, size_t len)
{
    while (len > 0) {
        ssize_t w = ::write(fd, buf, len);
        if (w > 0) {
            buf += w;
            len -= static_cast<size_t>(w);
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            pollfd p { fd, POLLOUT, 0 };
            ::poll(&p, 1, 1000);
        } else {
            return;
        }
    }
}

// Copies what the process printed to our stdout; false at EOF/EIO (no more slave fds).
bool drain(int master)
{
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(master, buf, sizeof buf);
        if (n > 0) {
            write_fully(STDOUT_FILENO, buf, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN;
    }
}

} // namespace

int attach_and_wait(pid_t pid, BorrowedFd pidfd, Fd pty_master)
{
    sigset_t set = forwarded_signals();
    Fd sigs(::signalfd(-1, &set, SFD_CLOEXEC));

    termios saved {};
    bool restore = false;
    int master = pty_master.get();
    if (master >= 0) {
        ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
        if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0) {
            termios raw = saved;
            ::cfmakeraw(&raw);
            restore = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
            copy_window_size(STDIN_FILENO, master);
        }
    }
    bool stdin_open = master >= 0;
    bool master_open = master >= 0;
    for (;;) {
        pollfd fds[4] = {
            { pidfd.get(), POLLIN, 0 },
            { sigs.get(), POLLIN, 0 },
            { master_open ? master : -1, POLLIN, 0 },
            { stdin_open ? STDIN_FILENO : -1, POLLIN, 0 },
        };
        if (::poll(fds, 4, -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents & POLLIN) {
            signalfd_siginfo si {};
            if (::read(sigs.get(), &si, sizeof si) == sizeof si) {
                int sig = static_cast<int>(si.ssi_signo);
                if (sig == SIGWINCH && master >= 0)
                    copy_window_size(STDIN_FILENO, master);
                else
                    sys::pidfd_send_signal(pidfd.get(), sig);
            }
        }
        if (fds[2].revents & (POLLIN | POLLHUP | POLLERR))
            master_open = drain(master);
        if (fds[3].revents & (POLLIN | POLLHUP)) {
            char buf[4096];
            ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
            if (n > 0)
                write_fully(master, buf, static_cast<size_t>(n));
            else
                stdin_open = false; // the process keeps running without input
        }
        if (fds[0].revents & POLLIN) {
            if (master_open)
                drain(master);
            break;
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (restore)
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

} // namespace husk::terminal
