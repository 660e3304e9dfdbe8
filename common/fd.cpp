#include "common/fd.hpp"

#include <charconv>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
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

ssize_t send_with_fd(int sock, const void* data, size_t len, int passed)
{
    iovec iov { const_cast<void*>(data), len };
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr mh {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &passed, sizeof(int));
    ssize_t n;
    while ((n = ::sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    return n;
}

ssize_t recv_with_fd(int sock, void* data, size_t len, int* received)
{
    *received = -1;
    iovec iov { data, len };
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msghdr mh {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (n < 0)
        return n;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*received < 0)
                *received = fd;
            else
                ::close(fd);
        }
    }
    return n;
}

} // namespace husk
