// A ttrpc client for the husk-agent API (sandbox/proto/agent.proto) over one connected
// stream (a unix socket to QEMU's virtio-serial chardev, a monitor's socket, or a
// socketpair in tests). Calls are synchronous: one request is written and frames are read
// until its response arrives. Responses to other stream ids are an error (a synchronous
// client has no other requests outstanding).
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace google::protobuf {
class MessageLite;
}

namespace husk::sandbox {

inline constexpr std::string_view agent_service = "husk.sandbox.v1.Agent";

class AgentClient {
public:
    explicit AgentClient(Fd channel) : m_fd(std::move(channel)) {}

    // Calls METHOD with REQUEST and parses the reply into RESPONSE. timeout_ms < 0 waits
    // without limit. A non-OK ttrpc status becomes an Error "agent METHOD: MESSAGE" with
    // status_code() telling the gRPC code.
    Result<> call(std::string_view method, const google::protobuf::MessageLite& request,
                  google::protobuf::MessageLite& response, int timeout_ms = -1);

    BorrowedFd fd() const { return m_fd.borrow(); }
    // The gRPC code of the last call's status (0 when it succeeded or failed on the wire).
    std::int32_t last_status_code() const { return m_last_code; }

private:
    Fd m_fd;
    std::uint32_t m_next_stream = 1;
    std::int32_t m_last_code = 0;
};

} // namespace husk::sandbox
