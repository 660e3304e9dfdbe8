#include "sandbox/host/agent_client.hpp"

#include "shim/ttrpc.hpp"

#include <google/protobuf/message_lite.h>
#include <poll.h>

namespace husk::sandbox {

namespace ttrpc = husk::shim::ttrpc;

Result<> AgentClient::call(std::string_view method, const google::protobuf::MessageLite& request,
                           google::protobuf::MessageLite& response, int timeout_ms)
{
    const std::string what = "agent " + std::string(method);
    m_last_code = 0;
    ttrpc::Request req;
    req.service = std::string(agent_service);
    req.method = std::string(method);
    if (!request.SerializeToString(&req.payload))
        return fail(what + ": cannot serialize the request");
    if (timeout_ms > 0)
        req.timeout_nano = std::int64_t(timeout_ms) * 1'000'000;

    const std::uint32_t stream = m_next_stream;
    m_next_stream += 2;
    ttrpc::FrameHeader header{.length = 0, .stream_id = stream, .type = ttrpc::MessageType::request, .flags = 0};
    TRY_CTX(ttrpc::write_frame(m_fd.borrow(), header, ttrpc::encode_request(req)), what);

    // The frame reader blocks once a frame has begun; the deadline covers the wait for it.
    if (timeout_ms >= 0) {
        pollfd p{.fd = m_fd.get(), .events = POLLIN, .revents = 0};
        int n;
        while ((n = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
        }
        if (n < 0)
            return fail_errno(what + ": poll");
        if (n == 0)
            return fail_errno(ETIMEDOUT, what + ": no answer within " + std::to_string(timeout_ms) + " ms");
    }
    ttrpc::Frame frame = TRY_CTX(ttrpc::read_frame(m_fd.borrow()), what);
    if (frame.header.type != ttrpc::MessageType::response || frame.header.stream_id != stream)
        return fail(what + ": unexpected frame (type " + std::to_string(int(frame.header.type)) + ", stream "
                    + std::to_string(frame.header.stream_id) + ", expected a response on "
                    + std::to_string(stream) + ")");
    ttrpc::Response resp = TRY_CTX(ttrpc::decode_response(frame.payload), what);
    if (resp.status.code != 0) {
        m_last_code = resp.status.code;
        return fail(what + ": " + resp.status.message);
    }
    if (!response.ParseFromString(resp.payload))
        return fail(what + ": malformed response");
    return {};
}

} // namespace husk::sandbox
