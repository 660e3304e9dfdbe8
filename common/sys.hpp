// Thin wrappers for the system calls glibc 2.36 does not wrap (clone3, openat2,
// pidfd_*, pivot_root, close_range) and /proc readers for process identity.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cstdint>
#include <linux/openat2.h>
#include <optional>
#include <string>
#include <sys/types.h>

namespace husk::sys {

// clone3 flags glibc's <sched.h> does not define (values from <linux/sched.h>, which
// cannot be included beside it everywhere).
inline constexpr uint64_t clone_into_cgroup = 0x200000000ULL;

struct CloneArgs {
    uint64_t flags = 0;       // CLONE_* (namespaces, CLONE_INTO_CGROUP, CLONE_PIDFD)
    int exit_signal = 17;     // SIGCHLD
    int cgroup_fd = -1;       // with CLONE_INTO_CGROUP
    int* pidfd_out = nullptr; // with CLONE_PIDFD
};

// clone3 without a new stack: fork semantics (returns 0 in the child, the pid in the
// parent). Falls back to clone(2) when the kernel lacks clone3 (ENOSYS), in which case
// CLONE_INTO_CGROUP cannot be honoured and is reported as ENOSYS to the caller.
pid_t clone3_fork(const CloneArgs& args);

int openat2(int dirfd, const char* path, const open_how& how);
// openat2 as path lookups below a root want it: `flags | O_CLOEXEC`, `resolve |
// RESOLVE_NO_MAGICLINKS`, "" for dirfd itself, and the call repeated on EAGAIN (the kernel's
// answer to a rename or mount racing a RESOLVE_BENEATH/IN_ROOT lookup).
int openat2_resolved(int dirfd, const std::string& path, int flags, uint64_t resolve);
int pidfd_open(pid_t pid);
int pidfd_send_signal(int pidfd, int sig);
int pivot_root(const char* new_root, const char* put_old);
int close_range(unsigned first, unsigned last, unsigned flags);

// Identity of a live process: its start time in clock ticks since boot (field 22 of
// /proc/PID/stat) and its state letter. A pid whose start time differs is another process.
struct ProcStat {
    char state = '?';
    uint64_t start_time = 0;
};
std::optional<ProcStat> proc_stat(pid_t pid);

// The user name of UID from the password database, or the number when it has none (the
// OWNER that list shows).
std::string user_name(uid_t uid);

} // namespace husk::sys
