#include "sandbox/agent/server.hpp"

#include "common/log.hpp"
#include "common/unix_socket.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace husk::agent {

Result<> Server::listen(const std::string& path)
{
    sockaddr_un addr;
    socklen_t len = TRY(unix_address(path, addr));
    int raw = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (raw < 0)
        return fail_errno("socket");
    m_listener = Fd(raw);
    if (path[0] != '@')
        ::unlink(path.c_str());
    if (::bind(m_listener.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0)
        return fail_errno("bind " + path);
    if (::listen(m_listener.get(), 16) < 0)
        return fail_errno("listen on " + path);
    return m_loop.add(m_listener.get(), EPOLLIN, [this](std::uint32_t) {
        int c = ::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0)
            return;
        if (auto r = add_connection(Fd(c), {}); !r)
            log::warn("agent connection: " + r.error().message());
    });
}

Result<> Server::add_connection(Fd fd, std::function<void()> on_close)
{
    int raw = fd.get();
    std::uint64_t serial = m_next_serial++;
    TRY(m_loop.add(raw, EPOLLIN, [this, raw](std::uint32_t) { on_readable(raw); }));
    m_conns[raw] = Conn { std::move(fd), serial, std::move(on_close) };
    m_fd_of[serial] = raw;
    return {};
}

void Server::close_connection(int fd)
{
    auto it = m_conns.find(fd);
    if (it == m_conns.end())
        return;
    m_loop.remove(fd);
    auto on_close = std::move(it->second.on_close);
    m_fd_of.erase(it->second.serial);
    m_conns.erase(it); // closes it; parked replies to it are dropped
    if (on_close)
        on_close();
}

void Server::reply(const ReplyTo& to, const ttrpc::Status& status, const std::string& payload)
{
    auto at = m_fd_of.find(to.conn);
    if (at == m_fd_of.end())
        return; // the caller went away meanwhile
    ttrpc::Response r;
    r.status = status;
    if (status.code == 0)
        r.payload = payload;
    if (auto w = ttrpc::write_frame(BorrowedFd(at->second), {0, to.stream, ttrpc::MessageType::response, 0},
                                    ttrpc::encode_response(r));
        !w) {
        log::warn("agent reply: " + w.error().message());
        close_connection(at->second);
    }
}

void Server::on_readable(int fd)
{
    auto it = m_conns.find(fd);
    if (it == m_conns.end())
        return;
    const std::uint64_t serial = it->second.serial;
    auto in = ttrpc::read_request(it->second.fd.borrow(), "husk.sandbox.v1.Agent");
    if (in.kind == ttrpc::ServerRead::Kind::closed) {
        close_connection(fd); // end of file, or out of step
        return;
    }
    if (in.kind == ttrpc::ServerRead::Kind::refused) {
        reply(ReplyTo{serial, in.stream}, in.refusal, {});
        return;
    }
    m_service->handle(ReplyTo{serial, in.stream}, in.request.method, in.request.payload);
}

} // namespace husk::agent
