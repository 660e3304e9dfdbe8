// The parent/child sync protocol: one table of typed messages over a SOCK_SEQPACKET
// socketpair between husk and the container's init before it execs. Every message is one
// fixed-size datagram, so neither side allocates or parses.
//
//   parent                                   child (container init)
//   clone3 ----------------------------------> waits
//   writes id maps, joins cgroup, oom score
//   Go (with the init's host pid) ---------->  setns, hostname, mounts
//                          <-----------------  CreateRuntimeHooks (only when there are any)
//   runs prestart, createRuntime hooks
//   HooksDone ------------------------------>  createContainer hooks, pivot_root, process setup
//                          <-----------------  SeccompListener + fd (SCMP_ACT_NOTIFY only)
//   hands the fd and the state to the agent
//                          <-----------------  Ready (or Error, then exits)
//   writes state.json and the pid file
//   Commit --------------------------------->  clears its parent-death signal
//                          <-----------------  Committed; blocks on exec.fifo until start
//
// EOF on either side means the other died: the child has PR_SET_PDEATHSIG(SIGKILL) until
// Commit, so a killed husk never leaves a half-made container running.
#pragma once

#include <cstdint>
#include <sys/types.h>

namespace husk::process {

enum class MsgType : uint32_t {
    // parent -> child
    Go = 1,
    Commit = 2,
    HooksDone = 3,
    // child -> parent
    Ready = 100,
    Committed = 101,
    Error = 102,
    CreateRuntimeHooks = 103,
    // Carries the seccomp notify listener fd (SCM_RIGHTS), sent right after the filter is
    // loaded: the process may block on a notifying syscall from then on, until the agent
    // has the fd.
    SeccompListener = 104,
};

struct SyncMsg {
    MsgType type;
    int32_t err;       // errno for Error, 0 otherwise
    int64_t value;     // Go: the init's pid in husk's pid namespace
    char text[1024];   // NUL-terminated message for Error
};

// Send/receive one message; false on EOF or failure (errno says which; 0 for EOF).
// The child side uses plain write(2)/read(2), which any seccomp profile that lets a
// program run allows, since its last messages pass after the filter is loaded (a dead
// parent then kills it with SIGPIPE, which is what it should do anyway). husk itself uses
// send(MSG_NOSIGNAL)/recv and is never killed by a dead child.
enum class Side { Parent, Child };
bool sync_send(int fd, MsgType type, int err = 0, const char* text = nullptr, int64_t value = 0,
               Side side = Side::Parent);
bool sync_recv(int fd, SyncMsg& msg);

// The same with one descriptor attached (SCM_RIGHTS). The child side sends with sendmsg;
// the receiving side gets the descriptor close-on-exec in `*received` (-1 when the message
// carried none).
bool sync_send_fd(int fd, MsgType type, int passed);
bool sync_recv_fd(int fd, SyncMsg& msg, int* received);

} // namespace husk::process
