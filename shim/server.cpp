#include "shim/server.hpp"

#include "common/log.hpp"
#include "common/unix_socket.hpp"

#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cerrno>

namespace husk::shim {

namespace {
constexpr const char* task_service = "containerd.task.v2.Task";
constexpr int event_timeout_ms = 5000;
} // namespace

void EventForwarder::publish(std::string topic, std::string type, std::string event)
{
    containerd::services::events::ttrpc::v1::ForwardRequest req;
    auto* env = req.mutable_envelope();
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    env->mutable_timestamp()->set_seconds(ts.tv_sec);
    env->mutable_timestamp()->set_nanos(static_cast<std::int32_t>(ts.tv_nsec));
    env->set_namespace_(m_ns);
    env->set_topic(topic);
    env->mutable_event()->set_type_url(type);
    env->mutable_event()->set_value(event);
    m_queue.push_back(req.SerializeAsString());
}

Result<> EventForwarder::send(const std::string& payload)
{
    if (!m_conn) {
        if (m_address.empty())
            return fail("no TTRPC_ADDRESS to send events to");
        // Non-blocking connect: a containerd whose backlog is full must not stop the shim.
        Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!s)
            return fail_errno("socket");
        sockaddr_un addr{};
        std::string path = m_address.starts_with("unix://") ? m_address.substr(7) : m_address;
        socklen_t len = TRY(unix_address(path, addr));
        if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0) {
            if (errno != EAGAIN && errno != EINPROGRESS)
                return fail_errno("connect " + path);
            pollfd p{s.get(), POLLOUT, 0};
            int err = 0;
            socklen_t elen = sizeof err;
            if (::poll(&p, 1, event_timeout_ms) <= 0 ||
                ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0)
                return fail_errno(err ? err : ETIMEDOUT, "connect " + path);
        }
        m_conn = std::move(s);
    }
    ttrpc::Request r;
    r.service = "containerd.services.events.ttrpc.v1.Events";
    r.method = "Forward";
    r.payload = payload;
    r.timeout_nano = std::int64_t(event_timeout_ms) * 1000000;
    r.metadata.push_back({"containerd-namespace-ttrpc", m_ns});
    const std::uint32_t stream = m_ids.next();
    TRY(ttrpc::write_frame(m_conn.borrow(), {0, stream, ttrpc::MessageType::request, 0}, ttrpc::encode_request(r)));
    // The answer, bounded: a stuck containerd must not stop the shim.
    for (;;) {
        pollfd p{m_conn.get(), POLLIN, 0};
        int n = ::poll(&p, 1, event_timeout_ms);
        if (n == 0)
            return fail("no answer from containerd's event service");
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail_errno("poll");
        auto frame = TRY(ttrpc::read_frame(m_conn.borrow()));
        if (frame.header.stream_id != stream)
            continue; // an answer to an earlier call we gave up on
        auto resp = TRY(ttrpc::decode_response(frame.payload));
        if (resp.status.code != 0)
            return fail("containerd refused the event: " + resp.status.message);
        return {};
    }
}

void EventForwarder::flush()
{
    while (!m_queue.empty()) {
        auto r = send(m_queue.front());
        if (!r) {
            // One retry on a fresh connection (containerd may have restarted).
            m_conn.reset();
            r = send(m_queue.front());
        }
        if (!r) {
            // containerd is not taking events: drop what is queued rather than wait on each.
            m_conn.reset();
            m_dropped += m_queue.size();
            log::warn("events dropped (" + std::to_string(m_queue.size()) + "): " + r.error().message());
            m_queue.clear();
            return;
        }
        m_queue.pop_front();
    }
}

Result<> Server::start()
{
    return m_loop.add(m_listener.get(), EPOLLIN, [this](std::uint32_t) { on_accept(); });
}

void Server::on_accept()
{
    for (;;) {
        int fd = ::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            return; // EAGAIN: no more; anything else: try again on the next wakeup
        const std::uint64_t serial = m_next_serial++;
        m_conns[fd] = Conn{Fd(fd), serial};
        if (!m_loop.add(fd, EPOLLIN, [this, fd](std::uint32_t) { on_readable(fd); }))
            m_conns.erase(fd);
    }
}

void Server::close_conn(int fd)
{
    m_loop.remove(fd);
    m_conns.erase(fd);
}

void Server::respond(int fd, std::uint64_t serial, std::uint32_t stream, const ttrpc::Status& status,
                     const std::string& payload)
{
    // A parked reply (Wait) outlives its connection when containerd hung up meanwhile; the
    // serial tells a reused descriptor number from the connection that asked.
    auto it = m_conns.find(fd);
    if (it == m_conns.end() || it->second.serial != serial)
        return;
    ttrpc::Response r;
    r.status = status;
    if (status.code == 0)
        r.payload = payload;
    if (!ttrpc::write_frame(it->second.fd.borrow(), {0, stream, ttrpc::MessageType::response, 0},
                            ttrpc::encode_response(r)))
        close_conn(fd);
}

void Server::on_readable(int fd)
{
    auto it = m_conns.find(fd);
    if (it == m_conns.end())
        return;
    const std::uint64_t serial = it->second.serial;
    auto in = ttrpc::read_request(it->second.fd.borrow(), task_service);
    if (in.kind == ttrpc::ServerRead::Kind::closed) {
        close_conn(fd);
        return;
    }
    const std::uint32_t stream = in.stream;
    if (in.kind == ttrpc::ServerRead::Kind::refused) {
        respond(fd, serial, stream, in.refusal, {});
        return;
    }
    m_service.handle(in.request.method, in.request.payload,
                     [this, fd, serial, stream](const ttrpc::Status& st, const std::string& payload) {
                         respond(fd, serial, stream, st, payload);
                     });
}

} // namespace husk::shim
