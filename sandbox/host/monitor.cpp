#include "sandbox/host/monitor.hpp"

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/sys.hpp"
#include "common/unix_socket.hpp"
#include "sandbox/host/agent_client.hpp"
#include "sandbox/proto/agent.pb.h"
#include "shim/ttrpc.hpp"

#include <atomic>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <map>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace husk::sandbox {

namespace ttrpc = husk::shim::ttrpc;
namespace pb = husk::sandbox::v1;

Result<Fd> connect_monitor(BorrowedFd state_dir)
{
    const std::string path = "/proc/self/fd/" + std::to_string(state_dir.get()) + "/" + monitor_socket_name;
    sockaddr_un addr{};
    socklen_t len = TRY(unix_address(path, addr));
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        return fail_errno("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0)
        return fail_errno("connect to the sandbox monitor");
    return fd;
}

namespace {

int64_t now_ms()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

void tell(int fd, const std::string& line)
{
    if (fd < 0)
        return;
    (void)fs::write_all(BorrowedFd(fd), line + "\n");
    ::close(fd);
}

// QEMU listens on agent.sock (server=on,wait=off) shortly after it starts.
Result<Fd> connect_agent(const std::string& path, int qemu_pidfd, int64_t deadline)
{
    sockaddr_un addr{};
    socklen_t len = TRY(unix_address(path, addr));
    for (;;) {
        Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd.valid())
            return fail_errno("socket");
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0)
            return fd;
        if (errno != ENOENT && errno != ECONNREFUSED)
            return fail_errno("connect to QEMU's agent port " + path);
        pollfd p{.fd = qemu_pidfd, .events = POLLIN, .revents = 0};
        if (::poll(&p, 1, 0) > 0)
            return fail("QEMU exited before it opened the agent port");
        if (now_ms() > deadline)
            return fail("QEMU did not open the agent port " + path + " in time");
        ::usleep(5000);
    }
}

// The proxy between the monitor's clients and the agent.
class Proxy {
public:
    Proxy(Fd agent, Fd listener, Fd qemu_pidfd)
        : m_agent(std::move(agent)), m_listener(std::move(listener)), m_qemu(std::move(qemu_pidfd))
    {
    }

    // Serves until Shutdown completed or QEMU died.
    void run();

private:
    struct Pending {
        int client = -1;
        uint32_t stream = 0;
        bool shutdown = false;
    };

    void add(int fd)
    {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev);
    }
    void drop_client(int fd);
    void on_client(int fd);
    void on_agent();
    void answer(int client, uint32_t stream, const ttrpc::Response& resp);
    void fail_all(const std::string& why);

    Fd m_agent, m_listener, m_qemu;
    Fd m_epoll;
    std::map<int, Fd> m_clients;
    std::map<uint32_t, Pending> m_pending; // by the proxy's stream id towards the agent
    // Odd, as a client's must be, and above the streams the boot used on this connection.
    uint32_t m_next_stream = 101;
    bool m_done = false;
};

void Proxy::answer(int client, uint32_t stream, const ttrpc::Response& resp)
{
    if (!m_clients.contains(client))
        return; // the client left; its answer is dropped
    ttrpc::FrameHeader h{.length = 0, .stream_id = stream, .type = ttrpc::MessageType::response, .flags = 0};
    if (!ttrpc::write_frame(BorrowedFd(client), h, ttrpc::encode_response(resp)))
        drop_client(client);
}

void Proxy::fail_all(const std::string& why)
{
    ttrpc::Response resp;
    resp.status.code = int32_t(ttrpc::Code::unavailable);
    resp.status.message = why;
    for (auto& [_, p] : m_pending)
        answer(p.client, p.stream, resp);
    m_pending.clear();
}

void Proxy::drop_client(int fd)
{
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
    m_clients.erase(fd);
    for (auto& [_, p] : m_pending) {
        if (p.client == fd)
            p.client = -1;
    }
}

void Proxy::on_client(int fd)
{
    auto frame = ttrpc::read_frame(BorrowedFd(fd));
    if (!frame) {
        drop_client(fd);
        return;
    }
    if (frame->header.type != ttrpc::MessageType::request) {
        drop_client(fd);
        return;
    }
    Pending p{.client = fd, .stream = frame->header.stream_id};
    if (auto req = ttrpc::decode_request(frame->payload); req)
        p.shutdown = req->method == "Shutdown";
    uint32_t stream = m_next_stream;
    m_next_stream += 2;
    ttrpc::FrameHeader h{.length = 0, .stream_id = stream, .type = ttrpc::MessageType::request, .flags = 0};
    if (auto w = ttrpc::write_frame(m_agent.borrow(), h, frame->payload); !w) {
        ttrpc::Response resp;
        resp.status.code = int32_t(ttrpc::Code::unavailable);
        resp.status.message = "the sandbox's agent is unreachable: " + w.error().message();
        answer(fd, p.stream, resp);
        return;
    }
    m_pending[stream] = p;
}

void Proxy::on_agent()
{
    auto frame = ttrpc::read_frame(m_agent.borrow());
    if (!frame) {
        log::error("sandbox monitor: agent connection: " + frame.error().message());
        fail_all("the sandbox's agent connection ended");
        m_done = true;
        return;
    }
    auto it = m_pending.find(frame->header.stream_id);
    if (frame->header.type != ttrpc::MessageType::response || it == m_pending.end())
        return; // nothing asked for it
    Pending p = it->second;
    m_pending.erase(it);
    auto resp = ttrpc::decode_response(frame->payload);
    if (!resp)
        return;
    if (p.shutdown && resp->status.code == 0) {
        // Answered once QEMU is gone: the caller may then remove the state directory.
        pollfd q{.fd = m_qemu.get(), .events = POLLIN, .revents = 0};
        if (::poll(&q, 1, 10'000) <= 0)
            sys::pidfd_send_signal(m_qemu.get(), SIGKILL);
        m_done = true;
    }
    answer(p.client, p.stream, *resp);
}

void Proxy::run()
{
    m_epoll = Fd(::epoll_create1(EPOLL_CLOEXEC));
    add(m_agent.get());
    add(m_listener.get());
    add(m_qemu.get());
    while (!m_done) {
        epoll_event evs[16];
        int n = ::epoll_wait(m_epoll.get(), evs, 16, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log::error("sandbox monitor: epoll_wait: " + std::string(std::strerror(errno)));
            break;
        }
        for (int i = 0; i < n && !m_done; i++) {
            int fd = evs[i].data.fd;
            if (fd == m_agent.get()) {
                on_agent();
            } else if (fd == m_listener.get()) {
                int c = ::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
                if (c >= 0) {
                    m_clients.emplace(c, Fd(c));
                    add(c);
                }
            } else if (fd == m_qemu.get()) {
                log::warn("sandbox monitor: QEMU exited");
                fail_all("the sandbox VM exited");
                m_done = true;
            } else if (m_clients.contains(fd)) {
                on_client(fd);
            }
        }
    }
}

Result<Fd> listen_here(const std::string& name)
{
    sockaddr_un addr{};
    socklen_t len = TRY(unix_address(name, addr));
    ::unlink(name.c_str());
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        return fail_errno("socket");
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0)
        return fail_errno("bind " + name);
    if (::listen(fd.get(), 64) < 0)
        return fail_errno("listen on " + name);
    return fd;
}

} // namespace

void run_monitor(MonitorPlan plan)
{
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    ::prctl(PR_SET_NAME, "husk-sandbox");
    int ready = plan.ready_fd;
    auto fatal = [&](const std::string& msg) {
        log::error("sandbox " + plan.id + ": " + msg);
        // Cleaned up first, and the ready pipe closes only as the process exits: when husk
        // create reads the end of the line, nothing of the monitor is left to race with.
        ::unlink(monitor_socket_name);
        ::unlink(agent_socket_name);
        if (ready >= 0)
            (void)fs::write_all(BorrowedFd(ready), "error " + msg + "\n");
        ::_exit(1);
    };
    if (::chdir(plan.state_dir.c_str()) < 0)
        fatal("chdir " + plan.state_dir + ": " + std::strerror(errno));
    int64_t deadline = now_ms() + plan.boot_timeout_ms;

    auto listener = listen_here(monitor_socket_name);
    if (!listener)
        fatal(listener.error().message());
    auto qemu = launch(plan.vm);
    for (const auto& net : plan.vm.nets) // QEMU holds the taps now: they go when it does
        ::close(net.fd);
    if (!qemu)
        fatal("start QEMU: " + qemu.error().message());
    Fd qemu_pidfd(sys::pidfd_open(*qemu));
    if (!qemu_pidfd.valid())
        fatal("pidfd_open QEMU: " + std::string(std::strerror(errno)));
    auto kill_qemu = [&] {
        sys::pidfd_send_signal(qemu_pidfd.get(), SIGKILL);
        ::waitpid(*qemu, nullptr, 0);
    };
    auto agent = connect_agent(plan.vm.agent_socket, qemu_pidfd.get(), deadline);
    if (!agent) {
        kill_qemu();
        fatal(agent.error().message() + " (console: " + plan.state_dir + "/" + plan.vm.console_log + ")");
    }
    {
        // Boot: the agent answers Ping once it serves; until the guest opens its port,
        // QEMU leaves the request in the socket.
        Fd dup(::fcntl(agent->get(), F_DUPFD_CLOEXEC, 3));
        AgentClient client(std::move(dup));
        pb::PingRequest ping;
        pb::PingResponse pong;
        int left = int(std::max<int64_t>(1, deadline - now_ms()));
        if (auto r = client.call("Ping", ping, pong, left); !r) {
            kill_qemu();
            fatal("the sandbox VM did not come up: " + r.error().message() + " (console: " + plan.state_dir + "/"
                  + plan.vm.console_log + ")");
        }
        log::info("sandbox " + plan.id + ": agent " + pong.agent_version() + " ready, guest kernel "
                  + pong.kernel_release() + ", guest uptime " + std::to_string(pong.uptime_seconds()) + " s");
        pb::CreateContainerRequest create;
        create.ParseFromString(plan.create_request);
        pb::Empty empty;
        if (auto r = client.call("CreateContainer", create, empty, 60'000); !r) {
            kill_qemu();
            fatal(r.error().message());
        }
        plan.create_request.clear();
    }
    tell(ready, "ok " + std::to_string(*qemu) + " " + std::to_string(::getpid()));
    ready = -1;

    Proxy proxy(std::move(*agent), std::move(*listener), std::move(qemu_pidfd));
    proxy.run();

    ::unlink(monitor_socket_name);
    ::unlink(agent_socket_name);
    ::kill(*qemu, SIGKILL); // a no-op after a clean shutdown
    ::waitpid(*qemu, nullptr, 0);
    ::_exit(0);
}

} // namespace husk::sandbox
