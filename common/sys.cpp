#include "common/sys.hpp"

#include <pwd.h>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace husk::sys {

pid_t clone3_fork(const CloneArgs& args)
{
    clone_args ca {};
    ca.flags = args.flags;
    ca.exit_signal = static_cast<uint64_t>(args.exit_signal);
    ca.cgroup = args.cgroup_fd >= 0 ? static_cast<uint64_t>(args.cgroup_fd) : 0;
    ca.pidfd = reinterpret_cast<uint64_t>(args.pidfd_out);
    long r = ::syscall(SYS_clone3, &ca, sizeof ca);
    if (r >= 0 || errno != ENOSYS)
        return static_cast<pid_t>(r);
    // Old kernel: plain clone. Neither CLONE_INTO_CGROUP nor CLONE_NEWTIME exist there.
    if (args.flags & (CLONE_INTO_CGROUP | CLONE_NEWTIME)) {
        errno = ENOSYS;
        return -1;
    }
    return static_cast<pid_t>(
        ::syscall(SYS_clone, (args.flags & ~0xffULL) | static_cast<uint64_t>(args.exit_signal), nullptr,
                  args.pidfd_out, nullptr, 0));
}

int openat2(int dirfd, const char* path, const open_how& how)
{
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

int openat2_resolved(int dirfd, const std::string& path, int flags, uint64_t resolve)
{
    open_how how {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = resolve | RESOLVE_NO_MAGICLINKS;
    for (;;) {
        int fd = openat2(dirfd, path.empty() ? "." : path.c_str(), how);
        if (fd >= 0 || errno != EAGAIN)
            return fd;
    }
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int pidfd_send_signal(int pidfd, int sig)
{
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

int pivot_root(const char* new_root, const char* put_old)
{
    return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}

int close_range(unsigned first, unsigned last, unsigned flags)
{
    return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
}

std::optional<ProcStat> proc_stat(pid_t pid)
{
    if (pid <= 0)
        return std::nullopt;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0)
        return std::nullopt;
    buf[n] = '\0';
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    char* p = std::strrchr(buf, ')');
    if (!p || p[1] == '\0')
        return std::nullopt;
    p += 2;
    ProcStat st;
    st.state = *p;
    // Fields from 3 (state) on; the start time is field 22.
    int field = 3;
    char* save = nullptr;
    for (char* tok = strtok_r(p, " ", &save); tok; tok = strtok_r(nullptr, " ", &save), ++field) {
        if (field == 22) {
            st.start_time = std::strtoull(tok, nullptr, 10);
            return st;
        }
    }
    return std::nullopt;
}

std::string user_name(uid_t uid)
{
    passwd pw {};
    passwd* result = nullptr;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &result) == 0 && result)
        return result->pw_name;
    return std::to_string(uid);
}

} // namespace husk::sys
