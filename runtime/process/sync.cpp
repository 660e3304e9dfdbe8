#include "runtime/process/sync.hpp"

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
    iovec iov { &msg, sizeof msg };
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    std::memset(control, 0, sizeof control);
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
    for (;;) {
        ssize_t n = ::sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(sizeof msg))
            return true;
        if (n < 0 && errno == EINTR)
            continue;
        return false;
    }
}

bool sync_recv_fd(int fd, SyncMsg& msg, int* received)
{
    if (received)
        *received = -1;
    for (;;) {
        iovec iov { &msg, sizeof msg };
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        msghdr mh {};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control;
        mh.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        for (cmsghdr* c = n > 0 ? CMSG_FIRSTHDR(&mh) : nullptr; c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
                continue;
            int got;
            std::memcpy(&got, CMSG_DATA(c), sizeof got);
            if (received && *received < 0)
                *received = got;
            else
                ::close(got);
        }
        if (n < 0 && errno == EINTR)
            continue;
        return finish_recv(n, msg);
    }
}

} // namespace husk::process
