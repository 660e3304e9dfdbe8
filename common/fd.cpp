#include "common/fd.hpp"

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
