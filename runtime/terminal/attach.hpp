// Attached run and exec: husk waits for the container process, forwards the signals it
// receives to it, and, when the process has a terminal but the caller gave no console
// socket, relays a pty between the caller's stdio and the process (raw mode, window size
// and SIGWINCH, the caller's terminal restored afterwards).
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <csignal>
#include <sys/types.h>

namespace husk::terminal {

// The signals an attached husk passes on, blocked (so none is lost and none kills husk
// before it has cleaned up) from before the process exists until the object is
// destroyed; their dispositions are reset to the default meanwhile, so a signal the
// caller left ignored (SIGINT for a background job) is still queued for forwarding.
// Both are restored on destruction.
class SignalForwarding {
public:
    enum class Active { No, Yes };
    explicit SignalForwarding(Active active);
    SignalForwarding(const SignalForwarding&) = delete;
    SignalForwarding& operator=(const SignalForwarding&) = delete;
    ~SignalForwarding();

private:
    bool m_active;
    sigset_t m_old_mask {};
    struct sigaction m_old_actions[NSIG] {};
};

sigset_t forwarded_signals();

// A socketpair standing in for --console-socket: the child end goes to the process, which
// sends its pty master back.
class ConsolePair {
public:
    static Result<ConsolePair> make();
    BorrowedFd child_end() const { return m_child.borrow(); }
    void close_child_end() { m_child.reset(); }
    Result<Fd> receive_master();

private:
    ConsolePair(Fd ours, Fd child) : m_ours(std::move(ours)), m_child(std::move(child)) {}
    Fd m_ours;
    Fd m_child;
};

// Waits for `pid` (a child of husk) while forwarding signals (a SignalForwarding must be
// active), relaying `pty_master` if valid. Returns the exit code (128+signal if killed).
int attach_and_wait(pid_t pid, BorrowedFd pidfd, Fd pty_master);

} // namespace husk::terminal
