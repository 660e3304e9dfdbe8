// Terminals for container processes: a pty made inside the container's own devpts, its
// master sent to the caller's --console-socket (SCM_RIGHTS, the protocol containerd and
// conmon speak), the slave made the process's controlling terminal and stdio.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/spec/config.hpp"

#include <optional>
#include <string>

namespace husk::terminal {

// Connects to the caller's console socket (done before the container's root is entered).
Result<Fd> connect_console_socket(const std::string& path);

// In the container, after its /dev/pts is mounted: makes the pty, sends the master over
// `socket`, and makes the slave the controlling terminal and fds 0-2. `uid` owns the slave.
Result<> setup_console(BorrowedFd socket, const std::optional<spec::ConsoleSize>& size, uint32_t uid);

// Sends one fd with a name as payload over a unix socket.
Result<> send_fd(BorrowedFd socket, BorrowedFd fd, const std::string& name);

} // namespace husk::terminal
