// Starting a new process in a running container (`husk exec`): clone3 into the
// container's cgroup, join every namespace of its init through a pidfd (pid and time via
// the parent, since those apply to children), then the same pre-exec steps as the init.
// Uses the Go/Ready/Commit part of the sync protocol; no exec fifo.
#pragma once

#include "cgroups/manager.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/seccomp/seccomp.hpp"
#include "runtime/spec/config.hpp"

#include <sys/types.h>

namespace husk::process {

struct ExecOptions {
    const spec::Config* config = nullptr; // the container's, for its namespaces
    const spec::Process* process = nullptr;
    BorrowedFd init_pidfd;              // the container's init, identity already checked
    cgroups::Manager* cgroup = nullptr;
    BorrowedFd console_socket;          // process->terminal: the pty master goes there
    int preserve_fds = 0;
    const seccomp::Program* seccomp = nullptr;
    // The container's state, for a seccomp notify agent (linux.seccomp.listenerPath).
    std::string state_json;
};

// The started process. Until commit(), destroying it kills and reaps it.
class ExecProcess {
public:
    ExecProcess(pid_t pid, Fd pidfd, Fd sync) : m_pid(pid), m_pidfd(std::move(pidfd)), m_sync(std::move(sync)) {}
    ExecProcess(ExecProcess&& o) noexcept;
    ExecProcess& operator=(ExecProcess&&) = delete;
    ~ExecProcess();

    pid_t pid() const { return m_pid; }
    BorrowedFd pidfd() const { return m_pidfd.borrow(); }
    // Lets the process exec its program.
    Result<> commit();

private:
    pid_t m_pid = -1;
    Fd m_pidfd;
    Fd m_sync;
    bool m_committed = false;
};

Result<ExecProcess> spawn_exec(const ExecOptions& options);

} // namespace husk::process
