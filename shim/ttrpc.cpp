#include "shim/ttrpc.hpp"

#include "ttrpc_envelope.pb.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace husk::shim::ttrpc {

namespace {

void put_u32be(std::uint8_t* p, std::uint32_t v)
{
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

std::uint32_t get_u32be(const std::uint8_t* p)
{
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8)
        | std::uint32_t(p[3]);
}

// Blocks until fd is ready for `events`. Used after EAGAIN, so a non-blocking socket behaves
// like a blocking one here; an event loop that wants to avoid blocking only calls in when
// poll said a frame has started.
Result<> wait_for(BorrowedFd fd, short events)
{
    pollfd p{.fd = fd.get(), .events = events, .revents = 0};
    while (::poll(&p, 1, -1) < 0) {
        if (errno != EINTR)
            return fail_errno("ttrpc: poll");
    }
    return {};
}

// Reads until `len` bytes or end of file; the number read (short only at end of file).
Result<std::size_t> read_up_to(BorrowedFd fd, char* buf, std::size_t len)
{
    std::size_t done = 0;
    while (done < len) {
        ssize_t n = ::read(fd.get(), buf + done, len - done);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n == 0) {
            break;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            TRY(wait_for(fd, POLLIN));
        } else {
            return fail_errno("ttrpc: read");
        }
    }
    return done;
}

Result<> read_exactly(BorrowedFd fd, char* buf, std::size_t len, std::string_view what)
{
    std::size_t n = TRY(read_up_to(fd, buf, len));
    if (n != len)
        return fail("ttrpc: end of file in " + std::string(what) + " after " + std::to_string(n) + " of "
                    + std::to_string(len) + " bytes");
    return {};
}

std::string bytes_of(const google::protobuf::MessageLite& message)
{
    std::string out;
    message.SerializeToString(&out);
    return out;
}

std::unexpected<Error> oversized(std::uint32_t stream_id, std::size_t length)
{
    return fail_errno(EMSGSIZE, "ttrpc: stream " + std::to_string(stream_id) + ": message length "
                                    + std::to_string(length) + " exceeds the maximum of "
                                    + std::to_string(max_message_size));
}

template <typename Message>
Result<> parse(Message& message, std::string_view bytes, std::string_view what)
{
    if (bytes.size() > INT_MAX || !message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
        return fail("ttrpc: malformed " + std::string(what) + " (" + std::to_string(bytes.size()) + " bytes)");
    return {};
}

} // namespace

std::array<std::uint8_t, header_size> encode_header(const FrameHeader& header)
{
    std::array<std::uint8_t, header_size> out{};
    put_u32be(out.data(), header.length);
    put_u32be(out.data() + 4, header.stream_id);
    out[8] = static_cast<std::uint8_t>(header.type);
    out[9] = header.flags;
    return out;
}

FrameHeader decode_header(std::span<const std::uint8_t, header_size> bytes)
{
    return FrameHeader{
        .length = get_u32be(bytes.data()),
        .stream_id = get_u32be(bytes.data() + 4),
        .type = static_cast<MessageType>(bytes[8]),
        .flags = bytes[9],
    };
}

Result<FrameHeader> read_header(BorrowedFd fd)
{
    std::array<std::uint8_t, header_size> buf{};
    std::size_t n = TRY(read_up_to(fd, reinterpret_cast<char*>(buf.data()), buf.size()));
    if (n == 0)
        return fail_errno(ENODATA, "ttrpc: connection closed");
    if (n != buf.size())
        return fail("ttrpc: end of file in frame header after " + std::to_string(n) + " of "
                    + std::to_string(header_size) + " bytes");
    return decode_header(buf);
}

Result<std::string> read_payload(BorrowedFd fd, const FrameHeader& header)
{
    if (header.length > max_message_size)
        return oversized(header.stream_id, header.length);
    std::string payload(header.length, '\0');
    TRY(read_exactly(fd, payload.data(), payload.size(), "frame payload"));
    return payload;
}

Result<> discard_payload(BorrowedFd fd, std::uint32_t length)
{
    char buf[16 * 1024];
    std::uint32_t left = length;
    while (left > 0) {
        std::size_t chunk = std::min<std::size_t>(left, sizeof buf);
        TRY(read_exactly(fd, buf, chunk, "discarded frame payload"));
        left -= static_cast<std::uint32_t>(chunk);
    }
    return {};
}

Result<Frame> read_frame(BorrowedFd fd)
{
    FrameHeader header = TRY(read_header(fd));
    if (header.length > max_message_size) {
        TRY(discard_payload(fd, header.length));
        return oversized(header.stream_id, header.length);
    }
    std::string payload = TRY(read_payload(fd, header));
    return Frame{header, std::move(payload)};
}

Result<> write_frame(BorrowedFd fd, const FrameHeader& header, std::string_view payload)
{
    if (payload.size() > max_message_size)
        return oversized(header.stream_id, payload.size());
    FrameHeader sent = header;
    sent.length = static_cast<std::uint32_t>(payload.size());
    auto head = encode_header(sent);

    iovec iov[2] = {
        {.iov_base = head.data(), .iov_len = head.size()},
        {.iov_base = const_cast<char*>(payload.data()), .iov_len = payload.size()},
    };
    iovec* cur = iov;
    std::size_t count = payload.empty() ? 1 : 2;
    bool socket = true;
    while (count > 0) {
        msghdr msg{};
        msg.msg_iov = cur;
        msg.msg_iovlen = count;
        ssize_t n = socket ? ::sendmsg(fd.get(), &msg, MSG_NOSIGNAL) : ::writev(fd.get(), cur, int(count));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOTSOCK && socket) {
                socket = false;
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                TRY(wait_for(fd, POLLOUT));
                continue;
            }
            return fail_errno("ttrpc: write frame on stream " + std::to_string(header.stream_id));
        }
        auto left = static_cast<std::size_t>(n);
        while (count > 0 && left >= cur->iov_len) {
            left -= cur->iov_len;
            ++cur;
            --count;
        }
        if (count > 0) {
            cur->iov_base = static_cast<char*>(cur->iov_base) + left;
            cur->iov_len -= left;
        }
    }
    return {};
}

std::string encode_request(const Request& request)
{
    husk::ttrpc::Request m;
    m.set_service(request.service);
    m.set_method(request.method);
    m.set_payload(request.payload);
    m.set_timeout_nano(request.timeout_nano);
    for (const auto& kv : request.metadata) {
        auto* e = m.add_metadata();
        e->set_key(kv.key);
        e->set_value(kv.value);
    }
    return bytes_of(m);
}

Result<Request> decode_request(std::string_view bytes)
{
    husk::ttrpc::Request m;
    TRY(parse(m, bytes, "request"));
    Request out{
        .service = m.service(),
        .method = m.method(),
        .payload = m.payload(),
        .timeout_nano = m.timeout_nano(),
        .metadata = {},
    };
    out.metadata.reserve(static_cast<std::size_t>(m.metadata_size()));
    for (const auto& kv : m.metadata())
        out.metadata.push_back(KeyValue{kv.key(), kv.value()});
    return out;
}

std::string encode_response(const Response& response)
{
    husk::ttrpc::Response m;
    // A ttrpc server leaves the status out on success (containerd's replies to an OK call
    // are just the payload field, or zero bytes); only a non-default status is written.
    if (response.status != Status{}) {
        auto* status = m.mutable_status();
        status->set_code(response.status.code);
        status->set_message(response.status.message);
        for (const auto& d : response.status.details) {
            auto* any = status->add_details();
            any->set_type_url(d.type_url);
            any->set_value(d.value);
        }
    }
    m.set_payload(response.payload);
    return bytes_of(m);
}

Result<Response> decode_response(std::string_view bytes)
{
    husk::ttrpc::Response m;
    TRY(parse(m, bytes, "response"));
    // An absent status reads as OK with no message, which is what its default values say.
    Response out;
    out.status.code = m.status().code();
    out.status.message = m.status().message();
    for (const auto& d : m.status().details())
        out.status.details.push_back(AnyMessage{d.type_url(), d.value()});
    out.payload = m.payload();
    return out;
}

ServerRead read_request(BorrowedFd fd, std::string_view service)
{
    ServerRead out;
    auto refuse = [&](std::uint32_t stream, Code code, std::string message) {
        out.kind = ServerRead::Kind::refused;
        out.stream = stream;
        out.refusal = Status{static_cast<std::int32_t>(code), std::move(message), {}};
        return std::move(out);
    };
    auto frame = read_frame(fd);
    if (!frame) {
        if (frame.error().code() != EMSGSIZE)
            return out; // end of file, or out of step
        // read_frame skipped the frame whole and names its stream in the message.
        const std::string& what = frame.error().what();
        auto at = what.find("stream ");
        auto stream = at == std::string::npos ? 0u
                                              : static_cast<std::uint32_t>(std::strtoul(what.c_str() + at + 7, nullptr, 10));
        return refuse(stream, Code::resource_exhausted, "message larger than 4 MiB");
    }
    const std::uint32_t stream = frame->header.stream_id;
    if (frame->header.type != MessageType::request)
        return refuse(stream, Code::invalid_argument, "not a request");
    if (!is_client_stream(stream))
        return refuse(stream, Code::invalid_argument, "stream id must be odd for client-initiated streams");
    auto req = decode_request(frame->payload);
    if (!req)
        return refuse(stream, Code::invalid_argument, req.error().message());
    if (req->service != service)
        return refuse(stream, Code::unimplemented, "service " + req->service + " is not served here");
    out.kind = ServerRead::Kind::request;
    out.stream = stream;
    out.request = std::move(*req);
    return out;
}

} // namespace husk::shim::ttrpc
