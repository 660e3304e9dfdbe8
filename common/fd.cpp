#include "common/fd.hpp"

#include <unistd.h>

namespace husk {

void Fd::reset(int fd)
{
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = fd;
}

void close_raw(int fd)
{
    if (fd >= 0)
        ::close(fd);
}

} // namespace husk
