// sdnotify: both ends of the sd_notify protocol, for the integration tests.
//
//   sdnotify send [TEXT...]   sends each TEXT (default "READY=1") as one datagram to the
//                             AF_UNIX socket named by $NOTIFY_SOCKET ("@name": abstract).
//   sdnotify listen SOCKET    binds a datagram socket at SOCKET (replacing a stale one) and
//                             prints every datagram it receives on stdout, each followed by a
//                             newline unless it ends with one, until it is killed. File
//                             descriptors that come with a datagram (sd_notify_barrier's pipe)
//                             are closed at once, which is the barrier's acknowledgement; a
//                             datagram that carried some is followed by a line "(fds N)".
//
// It is linked statically so that it also runs inside the busybox root file system of the
// tests (copied into the bundle), where there is no C library to load.
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

bool make_address(const char* path, sockaddr_un& addr, socklen_t& len)
{
    size_t n = std::strlen(path);
    if (n == 0 || n >= sizeof addr.sun_path) {
        std::fprintf(stderr, "sdnotify: bad socket path '%s'\n", path);
        return false;
    }
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path, n);
    if (path[0] == '@')
        addr.sun_path[0] = '\0';
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
    return true;
}

bool write_all(int fd, const char* data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

int do_send(int argc, char** argv)
{
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path) {
        std::fprintf(stderr, "sdnotify: NOTIFY_SOCKET is not set\n");
        return 1;
    }
    sockaddr_un addr;
    socklen_t len;
    if (!make_address(path, addr, len))
        return 1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        std::perror("sdnotify: socket");
        return 1;
    }
    const char* deflt[] = { "READY=1" };
    const char* const* texts = argc > 0 ? argv : deflt;
    int count = argc > 0 ? argc : 1;
    for (int i = 0; i < count; i++) {
        if (sendto(fd, texts[i], std::strlen(texts[i]), 0, reinterpret_cast<sockaddr*>(&addr), len) < 0) {
            std::fprintf(stderr, "sdnotify: send to %s: %s\n", path, std::strerror(errno));
            return 1;
        }
    }
    close(fd);
    return 0;
}

int do_listen(const char* path)
{
    sockaddr_un addr;
    socklen_t len;
    if (!make_address(path, addr, len))
        return 1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        std::perror("sdnotify: socket");
        return 1;
    }
    if (path[0] != '@')
        unlink(path);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0) {
        std::fprintf(stderr, "sdnotify: bind %s: %s\n", path, std::strerror(errno));
        return 1;
    }
    static char buf[65536];
    alignas(cmsghdr) static char control[CMSG_SPACE(sizeof(int) * 64)];
    for (;;) {
        iovec iov { buf, sizeof buf };
        msghdr msg {};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            std::perror("sdnotify: recvmsg");
            return 1;
        }
        int fds = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int passed;
                std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
                close(passed);
                fds++;
            }
        }
        size_t size = static_cast<size_t>(n);
        bool ok = write_all(STDOUT_FILENO, buf, size);
        if (ok && (size == 0 || buf[size - 1] != '\n'))
            ok = write_all(STDOUT_FILENO, "\n", 1);
        if (ok && fds > 0) {
            char line[32];
            int m = std::snprintf(line, sizeof line, "(fds %d)\n", fds);
            ok = write_all(STDOUT_FILENO, line, static_cast<size_t>(m));
        }
        if (!ok)
            return 1;
    }
}

} // namespace

int main(int argc, char** argv)
{
    if (argc >= 2 && std::strcmp(argv[1], "send") == 0)
        return do_send(argc - 2, argv + 2);
    if (argc == 3 && std::strcmp(argv[1], "listen") == 0)
        return do_listen(argv[2]);
    std::fprintf(stderr, "usage: sdnotify send [TEXT...] | sdnotify listen SOCKET\n");
    return 2;
}
