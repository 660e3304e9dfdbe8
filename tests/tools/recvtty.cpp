// recvtty SOCKET [--input TEXT]: a console-socket receiver for the integration tests.
// Listens on SOCKET, takes one pty master passed with SCM_RIGHTS, optionally writes TEXT
// to it, and copies everything the container prints to stdout until the pty closes.
// It prints the name that came with the fd on stderr as "recvtty: got NAME".
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: recvtty SOCKET [--input TEXT]\n");
        return 2;
    }
    std::string input;
    if (argc >= 4 && std::string(argv[2]) == "--input")
        input = argv[3];
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", argv[1]);
    unlink(argv[1]);
    if (bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(ls, 1) < 0) {
        std::perror("recvtty: bind/listen");
        return 1;
    }
    int conn = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
        std::perror("recvtty: accept");
        return 1;
    }
    char name[4096] = {};
    char control[CMSG_SPACE(sizeof(int))] = {};
    iovec iov { name, sizeof name - 1 };
    msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (recvmsg(conn, &msg, 0) < 0) {
        std::perror("recvtty: recvmsg");
        return 1;
    }
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS) {
        std::fprintf(stderr, "recvtty: no fd received\n");
        return 1;
    }
    int master;
    std::memcpy(&master, CMSG_DATA(cmsg), sizeof master);
    std::fprintf(stderr, "recvtty: got %s\n", name);
    if (!input.empty() && write(master, input.data(), input.size()) < 0)
        std::perror("recvtty: write");
    char buf[4096];
    for (;;) {
        ssize_t n = read(master, buf, sizeof buf);
        if (n > 0) {
            if (write(STDOUT_FILENO, buf, static_cast<size_t>(n)) < 0)
                return 1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break; // EIO: the last slave fd closed
    }
    return 0;
}
