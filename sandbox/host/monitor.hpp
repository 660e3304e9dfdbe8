// The sandbox monitor: one host process per VM sandbox, forked by `husk create`. It owns the
// QEMU process and the only connection to the guest's agent (a virtio-serial port is a single
// stream), and everything else reaches the agent through it:
//
//   husk start/state/kill/exec/delete/ps ──┐
//   the keepers (keeper.hpp: stdio, wait) ─┼─ monitor.sock ─ [monitor: ttrpc proxy] ─ agent.sock ─ QEMU ─ husk-agent
//                                          ┘
// The proxy forwards every request frame to the agent under a stream id of its own and routes
// the response back, so any number of clients may have calls outstanding (parked reads and
// waits included). The monitor holds none of the container's stdio (its fds 0-2 are
// /dev/null): the keepers do. Shutdown is answered after QEMU has exited. When QEMU dies,
// every outstanding call fails (Unavailable) and the monitor exits, removing its sockets; the
// state directory stays for `husk delete`.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"
#include "sandbox/host/vmm.hpp"

#include <string>

namespace husk::sandbox {

inline constexpr const char* monitor_socket_name = "monitor.sock";
inline constexpr const char* agent_socket_name = "agent.sock";

struct MonitorPlan {
    std::string id;
    std::string state_dir;       // absolute; the monitor's working directory
    VmSpec vm;                   // agent_socket and console_log relative to state_dir
    std::string create_request;  // a serialized CreateContainerRequest
    int boot_timeout_ms = 60'000;
    int ready_fd = -1;           // "ok QEMU_PID\n" or "error MESSAGE\n", then closed
};

// Runs the monitor in the calling process (already detached by the caller) and never returns.
[[noreturn]] void run_monitor(MonitorPlan plan);

// Connects to a sandbox's monitor through its state directory (the path may be longer than a
// socket address allows: the connection goes through /proc/self/fd).
Result<Fd> connect_monitor(BorrowedFd state_dir);

} // namespace husk::sandbox
