#include "common/fd.hpp"

#include <charconv>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace husk {

void Fd::reset(int fd)
{
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = fd;
}

namespace {
constexpr int tracked_fds = 4096;
bool g_inherited[tracked_fds];
} // namespace

void record_inherited_fds()
{
    // One directory read instead of a probe of every possible number (4093 fcntl calls,
    // most of a millisecond on every husk invocation).
    if (DIR* d = ::opendir("/proc/self/fd")) {
        int own = ::dirfd(d);
        while (dirent* e = ::readdir(d)) {
            int fd = 0;
            auto [end, ec] = std::from_chars(e->d_name, e->d_name + std::strlen(e->d_name), fd);
            if (ec == std::errc() && *end == '\0' && fd >= 3 && fd < tracked_fds && fd != own)
                g_inherited[fd] = true;
        }
        ::closedir(d);
        return;
    }
    for (int fd = 3; fd < tracked_fds; ++fd)
        g_inherited[fd] = ::fcntl(fd, F_GETFD) >= 0;
}

bool fd_was_inherited(int fd) { return fd >= 0 && fd < tracked_fds && g_inherited[fd]; }

void close_raw(int fd)
{
    if (fd >= 0)
        ::close(fd);
}

} // namespace husk
