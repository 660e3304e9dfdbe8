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

// The signals an attached husk passes on. Block them (block_forwarded) before the
// process exists so none is lost in between.
sigset_t forwarded_signals();
void block_forwarded(sigset_t& old);

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

// Waits for `pid` (a child of husk) while forwarding signals, relaying `pty_master` if
// valid. Restores `old_mask` before returning. Returns the exit code (128+signal if killed).
int attach_and_wait(pid_t pid, BorrowedFd pidfd, Fd pty_master, const sigset_t& old_mask);

} // namespace husk::terminal
