// The ttrpc side of husk-agent: connections (a unix socket's in the test mode, the
// virtio-serial port in the guest), frames read from them and handed to the Service, and
// the replies written back. Frames are written with write(2), not sendmsg: the guest's
// channel is a character device.
#pragma once

#include "common/loop.hpp"
#include "sandbox/agent/service.hpp"

#include <functional>
#include <map>
#include <string>

namespace husk::agent {

class Server : public Replier {
public:
    explicit Server(Loop& loop) : m_loop(loop) {}
    void set_service(Service* service) { m_service = service; }

    // Test mode: accepts connections on a listening unix socket, as many as come.
    Result<> listen(const std::string& path);
    // Serves one connected stream; on_close runs when it reaches its end or breaks.
    Result<> add_connection(Fd fd, std::function<void()> on_close);

    void reply(const ReplyTo& to, const ttrpc::Status& status, const std::string& payload) override;

private:
    struct Conn {
        Fd fd;
        std::uint64_t serial = 0;
        std::function<void()> on_close;
    };
    void on_readable(int fd);
    void close_connection(int fd);

    Loop& m_loop;
    Service* m_service = nullptr;
    Fd m_listener;
    std::map<int, Conn> m_conns;
    std::map<std::uint64_t, int> m_fd_of;
    std::uint64_t m_next_serial = 1;
};

} // namespace husk::agent
