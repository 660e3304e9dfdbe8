// ttrpc framing: the wire format containerd speaks to a shim. This module owns the 10-byte
// frame header, reading and writing whole frames on a socket, and the Request/Response
// envelopes inside request and response frames. It holds no connection state beyond what a
// caller passes in, starts no threads and knows nothing about services: dispatching methods
// and the server loop are built on top of it. Protobuf stays inside ttrpc.cpp; nothing here
// exposes a generated type.
//
// The wire format (ttrpc 1.1, as used by containerd 1.6):
//   frame   = header payload
//   header  = length:u32be stream_id:u32be type:u8 flags:u8   (length excludes the header)
//   type    = 0x1 request (payload: Request) | 0x2 response (payload: Response)
//   flags   = reserved, 0
// A payload may be at most 4 MiB. Clients pick stream ids: odd, 1, 3, 5, ...
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace husk::shim::ttrpc {

inline constexpr std::size_t header_size = 10;
inline constexpr std::uint32_t max_message_size = 4u << 20;

enum class MessageType : std::uint8_t {
    request = 0x1,
    response = 0x2,
};

struct FrameHeader {
    std::uint32_t length = 0; // payload bytes; write_frame fills it in from the payload
    std::uint32_t stream_id = 0;
    MessageType type = MessageType::request;
    std::uint8_t flags = 0;

    bool operator==(const FrameHeader&) const = default;
};

struct Frame {
    FrameHeader header;
    std::string payload;
};

// Header <-> bytes. decode keeps an unknown type byte as is: what to do about it (ttrpc
// answers InvalidArgument) is the caller's decision.
std::array<std::uint8_t, header_size> encode_header(const FrameHeader& header);
FrameHeader decode_header(std::span<const std::uint8_t, header_size> bytes);

// Reading. Each call loops over short reads, retries EINTR and waits (poll) on EAGAIN, so
// blocking and non-blocking sockets both work. End of file before a whole header or payload
// is an error; read_header reports a clean end of file (zero bytes read) as ENODATA, so a
// server can tell "peer went away" from "peer broke off mid-frame".
Result<FrameHeader> read_header(BorrowedFd fd);
// The payload of `header`. Fails with EMSGSIZE, without reading, when the declared length
// is over max_message_size.
Result<std::string> read_payload(BorrowedFd fd, const FrameHeader& header);
// Reads and drops `length` bytes through a small fixed buffer: after an oversized header the
// stream is still in step and the next frame can be read.
Result<> discard_payload(BorrowedFd fd, std::uint32_t length);
// One whole frame. An oversized frame is discarded and reported as EMSGSIZE (nothing is
// allocated for it); the error says which stream, so the caller may answer it
// (ResourceExhausted) and go on reading. Any other error leaves the stream out of step:
// close the connection.
Result<Frame> read_frame(BorrowedFd fd);

// Writes header and payload with as many sendmsg calls as it takes (MSG_NOSIGNAL: a peer
// that went away is EPIPE, not a SIGPIPE), or writev calls when fd is not a socket (the
// virtio-serial port husk-agent serves on). header.length is ignored; the payload size is
// sent. A payload over max_message_size is refused before anything is written.
Result<> write_frame(BorrowedFd fd, const FrameHeader& header, std::string_view payload);

// gRPC status codes, the values of Status::code.
enum class Code : std::int32_t {
    ok = 0,
    cancelled = 1,
    unknown = 2,
    invalid_argument = 3,
    deadline_exceeded = 4,
    not_found = 5,
    already_exists = 6,
    permission_denied = 7,
    resource_exhausted = 8,
    failed_precondition = 9,
    aborted = 10,
    out_of_range = 11,
    unimplemented = 12,
    internal = 13,
    unavailable = 14,
    data_loss = 15,
    unauthenticated = 16,
};

struct KeyValue {
    std::string key;
    std::string value;
    bool operator==(const KeyValue&) const = default;
};

struct Request {
    std::string service; // "containerd.task.v2.Task"
    std::string method;  // "State"
    std::string payload; // the method's request message, serialized
    std::int64_t timeout_nano = 0;
    std::vector<KeyValue> metadata; // a key may repeat
    bool operator==(const Request&) const = default;
};

// A google.protobuf.Any: a type URL and the serialized message.
struct AnyMessage {
    std::string type_url;
    std::string value;
    bool operator==(const AnyMessage&) const = default;
};

struct Status {
    std::int32_t code = 0; // a Code; kept as a number so unknown codes survive decoding
    std::string message;
    std::vector<AnyMessage> details;
    bool operator==(const Status&) const = default;
};

struct Response {
    Status status; // OK (all defaults) is sent as no status field at all, as ttrpc servers do
    std::string payload;
    bool operator==(const Response&) const = default;
};

std::string encode_request(const Request& request);
Result<Request> decode_request(std::string_view bytes);
std::string encode_response(const Response& response);
Result<Response> decode_response(std::string_view bytes);

// Stream ids a client uses: 1, 3, 5, ... (wrapping past 2^32 back to 1, still odd).
class ClientStreamIds {
public:
    std::uint32_t next()
    {
        std::uint32_t id = m_next;
        m_next += 2;
        return id;
    }

private:
    std::uint32_t m_next = 1;
};

// A server refuses requests on even ids: those are not the client's to open.
constexpr bool is_client_stream(std::uint32_t stream_id) { return stream_id % 2 == 1; }

// What a server reads from a connection: a request for `service` on a client stream; or a
// frame to refuse, with the answer for its stream (an oversized message: ResourceExhausted;
// not a request, an even stream or a request that does not decode: InvalidArgument; another
// service: Unimplemented), after which the connection stays in step; or the end of the
// connection (end of file, or out of step: close it).
struct ServerRead {
    enum class Kind { request, refused, closed } kind = Kind::closed;
    std::uint32_t stream = 0;
    Request request;
    Status refusal;
};
ServerRead read_request(BorrowedFd fd, std::string_view service);

} // namespace husk::shim::ttrpc
