// A tiny seccomp notify agent for the integration tests (linux.seccomp.listenerPath).
//
//   seccomp_agent SOCKET LOG
//
// Listens on SOCKET. Every runtime connection brings one listener fd (SCM_RIGHTS) and the
// container process state JSON; the JSON goes to LOG as one line. It then answers the
// notifications of every listener it holds:
//   - mkdir and mkdirat "succeed" without creating anything (so a test can tell the agent,
//     not the kernel, handled them), and the path is appended to LOG as "mkdir PATH" when
//     it can be read from the process's memory;
//   - everything else is let through with SECCOMP_USER_NOTIF_FLAG_CONTINUE.
// Runs until killed.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace {

FILE* g_log = nullptr;

void log_line(const std::string& line)
{
    std::fprintf(g_log, "%s\n", line.c_str());
    std::fflush(g_log);
}

// True once `text` holds one whole JSON object (braces balanced outside strings): the
// runtime may keep the connection open after its message, so EOF cannot mark the end.
bool complete(const std::string& text)
{
    int depth = 0;
    bool in_string = false, escaped = false, opened = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{') {
            ++depth;
            opened = true;
        } else if (c == '}') {
            --depth;
        }
    }
    return opened && depth == 0;
}

// Reads one message (the JSON document, the fd with it); returns the fd (or -1).
int receive(int conn, std::string& text)
{
    int fd = -1;
    while (!complete(text)) {
        char buf[4096];
        iovec iov { buf, sizeof buf };
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
        msghdr mh {};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control;
        mh.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fd;
        for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && fd < 0)
                std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        text.append(buf, static_cast<size_t>(n));
    }
    return fd;
}

std::string read_path(pid_t pid, unsigned long long addr)
{
    std::string path = "/proc/" + std::to_string(pid) + "/mem";
    int mem = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (mem < 0)
        return "?";
    char buf[256] = {};
    ssize_t n = ::pread(mem, buf, sizeof buf - 1, static_cast<off_t>(addr));
    ::close(mem);
    return n > 0 ? std::string(buf) : "?";
}

void answer(int listener)
{
    seccomp_notif req {};
    if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
        return;
    seccomp_notif_resp resp {};
    resp.id = req.id;
    if (req.data.nr == SYS_mkdir || req.data.nr == SYS_mkdirat) {
        unsigned long long addr = req.data.nr == SYS_mkdir ? req.data.args[0] : req.data.args[1];
        std::string path = read_path(static_cast<pid_t>(req.pid), addr);
        // The id is still valid only if the process has not died meanwhile: then the path is.
        if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) == 0)
            log_line("mkdir " + path);
        resp.val = 0;
        resp.error = 0;
    } else {
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    }
    ::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: seccomp_agent SOCKET LOG\n");
        return 2;
    }
    g_log = std::fopen(argv[2], "a");
    if (!g_log) {
        std::perror(argv[2]);
        return 1;
    }
    int srv = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", argv[1]);
    ::unlink(argv[1]);
    if (::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(srv, 16) < 0) {
        std::perror(argv[1]);
        return 1;
    }

    std::vector<pollfd> fds { { srv, POLLIN, 0 } };
    for (;;) {
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        for (size_t i = fds.size(); i-- > 0;) {
            if (!fds[i].revents)
                continue;
            if (fds[i].fd == srv) {
                int conn = ::accept4(srv, nullptr, nullptr, SOCK_CLOEXEC);
                if (conn < 0)
                    continue;
                std::string text;
                int listener = receive(conn, text);
                ::close(conn);
                log_line(text + (listener < 0 ? " (no fd)" : ""));
                if (listener >= 0)
                    fds.push_back({ listener, POLLIN, 0 });
            } else if (fds[i].revents & (POLLHUP | POLLERR)) {
                // Every process using the filter is gone.
                ::close(fds[i].fd);
                fds.erase(fds.begin() + static_cast<long>(i));
            } else {
                answer(fds[i].fd);
            }
        }
    }
}
