#include "runtime/process/sync.hpp"

#include "common/fd.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>

namespace husk::process {

bool sync_send(int fd, MsgType type, int err, const char* text, int64_t value, Side side)
{
    SyncMsg msg;
    std::memset(&msg, 0, sizeof msg);
    msg.type = type;
    msg.err = err;
    msg.value = value;
    if (text) {
        std::strncpy(msg.text, text, sizeof msg.text - 1);
    }
    for (;;) {
        ssize_t n = side == Side::Parent ? ::send(fd, &msg, sizeof msg, MSG_NOSIGNAL) : ::write(fd, &msg, sizeof msg);
        if (n == static_cast<ssize_t>(sizeof msg))
            return true;
        if (n < 0 && errno == EINTR)
            continue;
        return false;
    }
}

namespace {

bool finish_recv(ssize_t n, SyncMsg& msg)
{
    if (n == static_cast<ssize_t>(sizeof msg)) {
        msg.text[sizeof msg.text - 1] = '\0';
        return true;
    }
    if (n == 0)
        errno = 0;
    else if (n > 0)
        errno = EPROTO;
    return false;
}

} // namespace

// Plain read(2): the child's last receive (Commit) passes after its seccomp filter is loaded.
bool sync_recv(int fd, SyncMsg& msg)
{
    ssize_t n;
    while ((n = ::read(fd, &msg, sizeof msg)) < 0 && errno == EINTR) {
    }
    return finish_recv(n, msg);
}

bool sync_send_fd(int fd, MsgType type, int passed)
{
    SyncMsg msg;
    std::memset(&msg, 0, sizeof msg);
    msg.type = type;
    return send_with_fd(fd, &msg, sizeof msg, passed) == static_cast<ssize_t>(sizeof msg);
}

bool sync_recv_fd(int fd, SyncMsg& msg, int* received)
{
    int got = -1;
    ssize_t n = recv_with_fd(fd, &msg, sizeof msg, &got);
    if (received)
        *received = got;
    else if (got >= 0)
        ::close(got);
    return finish_recv(n, msg);
}

} // namespace husk::process
