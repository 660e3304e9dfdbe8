// The stdio of a process in a VM sandbox, copied between host fds and the guest's agent.
// Each relay opens a connection of its own to the sandbox's monitor (monitor.hpp) and blocks
// in its calls, so it runs on a thread of its own.
#pragma once

#include "common/fd.hpp"
#include "sandbox/proto/agent.pb.h"

#include <string>

namespace husk::sandbox {

// Copies STREAM of the process (EXEC_ID, or "" for the container's own) to OUT_FD until its
// end. A reader of OUT_FD that went away does not stop the copy: the output is still
// drained, or the process would block on a full buffer in the guest.
void relay_output(BorrowedFd state_dir, const std::string& id, const std::string& exec_id, v1::Stream stream,
                  int out_fd);

// Copies the caller's fd 0 into the process's stdin until end of file, then closes it.
void relay_input(BorrowedFd state_dir, const std::string& id, const std::string& exec_id);

} // namespace husk::sandbox
