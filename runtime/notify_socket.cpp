#include "runtime/notify_socket.hpp"

#include "common/fs.hpp"
#include "common/unix_socket.hpp"

#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace husk::notify {


std::optional<std::string> caller_socket()
{
    const char* s = std::getenv("NOTIFY_SOCKET");
    if (!s || !*s)
        return std::nullopt;
    return std::string(s);
}

Result<> prepare(spec::Config& config, const std::string& state_dir)
{
    std::string dir = state_dir + "/notify";
    if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST)
        return fail_errno("create " + dir);
    spec::Mount m;
    m.destination = container_dir;
    m.type = "bind";
    m.source = dir;
    m.flags = MS_BIND | MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY;
    m.options = { "bind", "nosuid", "noexec", "nodev", "ro" };
    config.mounts.push_back(std::move(m));
    std::erase_if(config.process.env, [](const std::string& e) { return e.starts_with("NOTIFY_SOCKET="); });
    config.process.env.push_back(std::string("NOTIFY_SOCKET=") + container_socket);
    return {};
}

Result<Fd> listen(const std::string& state_dir)
{
    std::string path = state_dir + "/notify/notify.sock";
    Fd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock)
        return fail_errno("notify socket");
    sockaddr_un addr;
    socklen_t len = TRY(unix_address(path, addr));
    ::unlink(path.c_str());
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0)
        return fail_errno("bind " + path);
    // Any user in the container may notify.
    if (::chmod(path.c_str(), 0777) < 0)
        return fail_errno("chmod " + path);
    return sock;
}

Result<> forward_ready(BorrowedFd sock, BorrowedFd init_pidfd, pid_t init_pid, const std::string& caller)
{
    char buf[4096];
    for (;;) {
        pollfd fds[2] = { { sock.get(), POLLIN, 0 }, { init_pidfd.get(), POLLIN, 0 } };
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return fail_errno("wait for the container's READY=1");
        }
        if (fds[0].revents & POLLIN) {
            ssize_t n = ::recv(sock.get(), buf, sizeof buf - 1, 0);
            if (n < 0)
                continue;
            std::string msg(buf, static_cast<size_t>(n));
            if (("\n" + msg + "\n").find("\nREADY=1\n") == std::string::npos)
                continue;
            Fd out(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            if (!out)
                return fail_errno("socket");
            sockaddr_un addr;
            socklen_t len = TRY(unix_address(caller, addr));
            std::string text = "MAINPID=" + std::to_string(init_pid) + "\n" + msg;
            if (::sendto(out.get(), text.data(), text.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len) < 0)
                return fail_errno("notify " + caller);
            return {};
        }
        if (fds[1].revents & POLLIN)
            return {}; // the container exited without READY=1
    }
}

} // namespace husk::notify
