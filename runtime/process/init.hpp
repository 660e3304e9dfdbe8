// Creating the container's init process: the parent side (clone3 into the namespaces and
// cgroup, id maps, the sync protocol of sync.hpp) and the child side (everything from
// joining namespaces to blocking on the exec fifo, then execve of the user's program).
// Nothing here re-executes husk.
#pragma once

#include "cgroups/manager.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/hooks/hooks.hpp"
#include "runtime/rootfs/rootfs.hpp"
#include "runtime/seccomp/seccomp.hpp"
#include "runtime/spec/config.hpp"

#include <sys/types.h>

namespace husk::process {

struct InitOptions {
    const spec::Config* config = nullptr;
    rootfs::Pivot pivot = rootfs::Pivot::PivotRoot;
    cgroups::Manager* cgroup = nullptr; // created already; the init joins it before Go
    BorrowedFd exec_fifo;               // opened O_RDWR; the init blocks reading it
    int preserve_fds = 0;               // extra fds after stdio passed to the container
    std::string session_keyring;        // name of a new session keyring; empty: keep husk's
    BorrowedFd console_socket;          // connected; the pty master goes there (terminal: true)
    // What hooks see as the container's state (id, bundle, annotations; pid and status
    // are filled in per hook point).
    hooks::HookState hook_state;
    const seccomp::Program* seccomp = nullptr; // compiled linux.seccomp, if any
};

// The init between Ready and exec. Until commit() succeeds, destroying this kills and
// reaps the init (and so everything in its pid namespace).
class InitProcess {
public:
    InitProcess(pid_t pid, Fd pidfd, Fd sync) : m_pid(pid), m_pidfd(std::move(pidfd)), m_sync(std::move(sync)) {}
    InitProcess(InitProcess&& o) noexcept;
    InitProcess& operator=(InitProcess&&) = delete;
    ~InitProcess();

    pid_t pid() const { return m_pid; }
    BorrowedFd pidfd() const { return m_pidfd.borrow(); }
    // Tells the init that the container is recorded; it then outlives husk.
    Result<> commit();
    // Kills and reaps the init now.
    void abort();

private:
    pid_t m_pid = -1;
    Fd m_pidfd;
    Fd m_sync;
    bool m_committed = false;
};

// Clones the init and drives it until it is Ready (set up, waiting to be committed and
// then started). An error from any step inside the child comes back as this Error.
Result<InitProcess> spawn_init(const InitOptions& options);

} // namespace husk::process
