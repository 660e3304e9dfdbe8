// The keeper: a host process that stands for one process in a VM sandbox's guest (the
// container's own, or one exec'd into it), so that whoever started it sees what a runc
// container's process would give them:
//
//   - its stdio: the keeper holds the fds 0-2 it was given (a terminal, pipes, containerd's
//     FIFOs) and relays them to and from the guest's process (relay.hpp);
//   - its exit: the keeper exits when the guest's process has exited and its output is all
//     written, with the same status (killed by the same signal, or the same exit code); a
//     VM that dies under it counts as SIGKILL;
//   - signals: every signal sent to the keeper that it can catch goes on to the process;
//   - a terminal: when the guest's process has one (a pty in the guest), the keeper holds the
//     slave of a host pty as its stdio and controlling terminal, whose master went to the
//     caller's console socket (or stays with an attached husk); a window size set on that
//     master reaches the keeper as SIGWINCH and the guest's pty as ResizePty.
//
// Its pid is what `create --pid-file`, `exec --pid-file` and `state` report. Detached, it is
// forked twice, so the caller's subreaper (containerd's shim waits for that pid) or init
// adopts it; attached (`run`), it is the caller's child.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <string>
#include <sys/types.h>

namespace husk::sandbox {

struct KeeperPlan {
    std::string state_dir; // absolute: the container's state directory (monitor.sock)
    std::string id;
    std::string exec_id; // "" for the container's own process
    bool relay_stdin = false;
    int terminal_slave = -1; // the process has a terminal: the host pty's slave (HostPty)
};

// A host pty for a guest process with a terminal: the master for the caller, the slave for
// the keeper, in raw mode (the guest's pty does the line discipline), with SIZE if non-zero.
struct HostPty {
    Fd master, slave;
};
Result<HostPty> open_host_pty(unsigned short rows, unsigned short cols);

Result<pid_t> spawn_keeper(const KeeperPlan& plan, bool attached);

// An exit status from the guest (128+N for a signal) as a wait(2) status would show it is
// what the keeper makes of it: N when the process was killed by a signal that kills, else -1.
int keeper_exit_signal(unsigned exit_status);

} // namespace husk::sandbox
