// NOTIFY_SOCKET passthrough (sd_notify): when husk is started with NOTIFY_SOCKET, the
// container gets a socket of its own at /run/notify/notify.sock (a read-only bind of a
// directory in its state directory), and start/run wait for its READY=1 to pass it on,
// with MAINPID set to the container's init, to the caller's socket.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/spec/config.hpp"

#include <optional>
#include <string>
#include <sys/types.h>

namespace husk::notify {

inline constexpr const char* container_dir = "/run/notify";
inline constexpr const char* container_socket = "/run/notify/notify.sock";

// The caller's NOTIFY_SOCKET, if set.
std::optional<std::string> caller_socket();

// At create: makes STATE_DIR/notify and adds its mount and NOTIFY_SOCKET to the config.
Result<> prepare(spec::Config& config, const std::string& state_dir);

// At start: binds the container's socket (before the init is released).
Result<Fd> listen(const std::string& state_dir);

// Waits for READY=1 from the container (or its init's exit) and forwards it.
Result<> forward_ready(BorrowedFd sock, BorrowedFd init_pidfd, pid_t init_pid, const std::string& caller);

} // namespace husk::notify
