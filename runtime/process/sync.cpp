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

bool sync_recv(int fd, SyncMsg& msg)
{
    for (;;) {
        ssize_t n = ::read(fd, &msg, sizeof msg);
        if (n == static_cast<ssize_t>(sizeof msg)) {
            msg.text[sizeof msg.text - 1] = '\0';
            return true;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = 0;
        else if (n > 0)
            errno = EPROTO;
        return false;
    }
}

} // namespace husk::process
