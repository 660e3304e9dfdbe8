#include "sandbox/host/relay.hpp"

#include "common/fs.hpp"
#include "common/log.hpp"
#include "sandbox/host/agent_client.hpp"
#include "sandbox/host/monitor.hpp"

#include <cerrno>
#include <unistd.h>

namespace husk::sandbox {

namespace pb = husk::sandbox::v1;

void relay_output(BorrowedFd state_dir, const std::string& id, const std::string& exec_id, pb::Stream stream,
                  int out_fd)
{
    auto conn = connect_monitor(state_dir);
    if (!conn) {
        log::warn("container " + id + ": output relay: " + conn.error().message());
        return;
    }
    AgentClient client(std::move(*conn));
    bool out_ok = true;
    for (;;) {
        pb::ReadStreamRequest req;
        req.set_container_id(id);
        req.set_exec_id(exec_id);
        req.set_stream(stream);
        pb::ReadStreamResponse resp;
        if (auto c = client.call("ReadStream", req, resp); !c) {
            log::warn("container " + id + ": output relay: " + c.error().message());
            return;
        }
        if (out_ok && !resp.data().empty() && !fs::write_all(BorrowedFd(out_fd), resp.data()))
            out_ok = false;
        if (resp.eof())
            return;
    }
}

void relay_input(BorrowedFd state_dir, const std::string& id, const std::string& exec_id)
{
    auto conn = connect_monitor(state_dir);
    if (!conn)
        return;
    AgentClient client(std::move(*conn));
    std::string buf(64 * 1024, '\0');
    for (;;) {
        ssize_t n = ::read(0, buf.data(), buf.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        pb::WriteStdinRequest req;
        req.set_container_id(id);
        req.set_exec_id(exec_id);
        req.set_data(buf.data(), size_t(n));
        pb::WriteStdinResponse resp;
        if (!client.call("WriteStdin", req, resp) || resp.written() < uint32_t(n))
            return; // the process closed its stdin, or the sandbox is gone
    }
    pb::ProcessRequest req;
    req.set_container_id(id);
    req.set_exec_id(exec_id);
    pb::Empty resp;
    (void)client.call("CloseStdin", req, resp);
}

} // namespace husk::sandbox
