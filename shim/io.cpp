#include "shim/io.hpp"

#include "common/unix_socket.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace husk::shim {

namespace {

void set_nonblocking(int fd, bool on)
{
    int fl = ::fcntl(fd, F_GETFL);
    if (fl >= 0)
        ::fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

} // namespace

Result<Fd> open_fifo_writer(const std::string& path)
{
    Fd w(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!w && errno == ENXIO) {
        // No reader yet. Opened read-write (which Linux allows on a FIFO without waiting),
        // the descriptor is a reader itself: the open does not block and writes before
        // containerd's reader arrives are kept, not lost to EPIPE.
        w = Fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    }
    if (!w)
        return fail_errno("open " + path);
    set_nonblocking(w.get(), false);
    return w;
}

Result<Fd> open_fifo_reader(const std::string& path)
{
    Fd r(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!r)
        return fail_errno("open " + path);
    return r;
}

Pump::Pump(Loop& loop, Fd src, Fd dst, std::function<void()> on_done)
    : m_loop(loop), m_src(std::move(src)), m_dst(std::move(dst)), m_on_done(std::move(on_done))
{
}

Pump::~Pump()
{
    if (m_src)
        m_loop.remove(m_src.get());
    if (m_dst)
        m_loop.remove(m_dst.get());
}

Result<> Pump::start()
{
    set_nonblocking(m_src.get(), true);
    set_nonblocking(m_dst.get(), true);
    return m_loop.add(m_src.get(), EPOLLIN, [this](std::uint32_t ev) { on_src(ev); });
}

bool Pump::flush()
{
    while (!m_buf.empty()) {
        ssize_t n = ::write(m_dst.get(), m_buf.data(), m_buf.size());
        if (n > 0) {
            m_buf.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return false;
        // The reader went away: nothing more can be delivered.
        m_buf.clear();
        m_eof = true;
        return true;
    }
    return true;
}

void Pump::on_src(std::uint32_t)
{
    char buf[32768];
    // A bounded number of reads per wakeup: a producer that never pauses must not keep the
    // loop from everything else (epoll is level-triggered: the rest comes next round).
    for (int round = 0; round < 8; ++round) {
        ssize_t n = ::read(m_src.get(), buf, sizeof buf);
        if (n > 0) {
            m_buf.append(buf, static_cast<std::size_t>(n));
            if (!flush()) {
                // dst is full: stop reading until it drains.
                m_loop.remove(m_src.get());
                (void)m_loop.add(m_dst.get(), EPOLLOUT, [this](std::uint32_t e) { on_dst(e); });
                return;
            }
            if (m_eof)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        m_eof = true; // 0: EOF; EIO: the pty's other side closed; anything else: give up
        break;
    }
    if (m_eof)
        finish();
}

void Pump::on_dst(std::uint32_t)
{
    if (!flush())
        return;
    m_loop.remove(m_dst.get());
    if (m_eof) {
        finish();
        return;
    }
    (void)m_loop.add(m_src.get(), EPOLLIN, [this](std::uint32_t ev) { on_src(ev); });
}

void Pump::drain()
{
    if (m_done || !m_src)
        return;
    // Everything stays non-blocking: a reader that stops reading costs at most the deadline,
    // and what it has not taken yet is left to the loop (EPOLLOUT).
    timespec start{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    auto left_ms = [&] {
        timespec t{};
        ::clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - start.tv_sec) * 1000 + (t.tv_nsec - start.tv_nsec) / 1000000;
        return 1000 - ms;
    };
    char buf[32768];
    while (left_ms() > 0) {
        if (m_buf.size() < (1u << 20)) {
            ssize_t n = ::read(m_src.get(), buf, sizeof buf);
            if (n > 0)
                m_buf.append(buf, static_cast<std::size_t>(n));
            else if (m_buf.empty())
                break; // nothing more to read and nothing to write
        }
        if (flush()) {
            if (m_eof)
                break;
            continue;
        }
        pollfd p{m_dst.get(), POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(left_ms())) <= 0)
            break;
    }
    if (!m_buf.empty() && !m_loop.watching(m_dst.get())) {
        m_loop.remove(m_src.get());
        (void)m_loop.add(m_dst.get(), EPOLLOUT, [this](std::uint32_t e) { on_dst(e); });
    }
}

void Pump::finish()
{
    if (m_done)
        return;
    if (!m_buf.empty() && !flush()) {
        // Wait for dst to take the rest first.
        if (m_src)
            m_loop.remove(m_src.get());
        if (!m_loop.watching(m_dst.get()))
            (void)m_loop.add(m_dst.get(), EPOLLOUT, [this](std::uint32_t e) { on_dst(e); });
        return;
    }
    stop();
    if (m_on_done)
        m_on_done();
}

void Pump::stop()
{
    if (m_src) {
        m_loop.remove(m_src.get());
        m_src.reset();
    }
    if (m_dst) {
        m_loop.remove(m_dst.get());
        m_dst.reset();
    }
    m_done = true;
}

Result<ConsoleSocket> ConsoleSocket::create()
{
    ConsoleSocket c;
    char tmpl[] = "/tmp/husk-shim-pty.XXXXXX";
    if (!::mkdtemp(tmpl))
        return fail_errno("mkdtemp /tmp/husk-shim-pty.XXXXXX");
    c.m_dir = tmpl;
    c.m_path = c.m_dir + "/pty.sock";
    c.m_sock = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!c.m_sock)
        return fail_errno("console socket");
    sockaddr_un addr{};
    socklen_t len = TRY(unix_address(c.m_path, addr));
    if (::bind(c.m_sock.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0)
        return fail_errno("bind " + c.m_path);
    if (::listen(c.m_sock.get(), 1) < 0)
        return fail_errno("listen " + c.m_path);
    return c;
}

ConsoleSocket::~ConsoleSocket()
{
    if (!m_path.empty())
        ::unlink(m_path.c_str());
    if (!m_dir.empty())
        ::rmdir(m_dir.c_str());
}

Result<Fd> ConsoleSocket::receive_master()
{
    pollfd p{m_sock.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0)
        return fail("no terminal from the runtime on " + m_path);
    Fd conn(::accept4(m_sock.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn)
        return fail_errno("accept on " + m_path);
    char name[4096];
    int received = -1;
    p = pollfd{conn.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0)
        return fail("no terminal from the runtime on " + m_path);
    ssize_t n = recv_with_fd(conn.get(), name, sizeof name, &received);
    if (n < 0)
        return fail_errno("receive the terminal on " + m_path);
    if (received < 0)
        return fail("the runtime sent no terminal on " + m_path);
    Fd master(received);
    ::fcntl(master.get(), F_SETFD, FD_CLOEXEC);
    return master;
}

} // namespace husk::shim
