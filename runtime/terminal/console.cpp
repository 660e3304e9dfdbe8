#include "runtime/terminal/console.hpp"

#include "common/fs.hpp"
#include "common/unix_socket.hpp"

#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

namespace husk::terminal {

Result<Fd> connect_console_socket(const std::string& path)
{
    sockaddr_un addr;
    socklen_t len = TRY_CTX(unix_address(path, addr), "console socket");
    int raw = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (raw < 0)
        return fail_errno("socket");
    Fd fd(raw);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0)
        return fail_errno("connect to console socket " + path);
    return fd;
}

Result<> send_fd(BorrowedFd socket, BorrowedFd fd, const std::string& name)
{
    if (send_with_fd(socket.get(), name.data(), name.size(), fd.get()) < 0)
        return fail_errno("send the pty master over the console socket");
    return {};
}

Result<> setup_console(BorrowedFd socket, const std::optional<spec::ConsoleSize>& size, uint32_t uid)
{
    Fd master = TRY(fs::open("/dev/ptmx", O_RDWR | O_NOCTTY));
    int unlock = 0;
    if (::ioctl(master.get(), TIOCSPTLCK, &unlock) < 0)
        return fail_errno("unlock pty");
    int number = 0;
    if (::ioctl(master.get(), TIOCGPTN, &number) < 0)
        return fail_errno("get pty number");
    std::string slave_path = "/dev/pts/" + std::to_string(number);
    Fd slave = TRY(fs::open(slave_path, O_RDWR | O_NOCTTY));
    if (::fchown(slave.get(), uid, static_cast<gid_t>(-1)) < 0)
        return fail_errno("chown " + slave_path);
    if (size && size->height && size->width) {
        winsize ws {};
        ws.ws_row = static_cast<unsigned short>(size->height);
        ws.ws_col = static_cast<unsigned short>(size->width);
        if (::ioctl(slave.get(), TIOCSWINSZ, &ws) < 0)
            return fail_errno("set console size");
    }
    TRY(send_fd(socket, master.borrow(), slave_path));
    master.reset();

    if (::getsid(0) != ::getpid() && ::setsid() < 0)
        return fail_errno("setsid");
    if (::ioctl(slave.get(), TIOCSCTTY, 0) < 0)
        return fail_errno("make " + slave_path + " the controlling terminal");
    for (int target = 0; target <= 2; ++target)
        if (::dup2(slave.get(), target) < 0)
            return fail_errno("dup2 the console");
    return {};
}

} // namespace husk::terminal
