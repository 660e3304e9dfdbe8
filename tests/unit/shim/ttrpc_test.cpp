#include "shim/ttrpc.hpp"

#include <atomic>
#include <csignal>
#include <cstring>
#include <doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace husk;
using namespace husk::shim::ttrpc;

namespace {

struct SocketPair {
    Fd a;
    Fd b;
};

SocketPair socket_pair(int extra_flags = 0)
{
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | extra_flags, 0, fds) == 0);
    return {Fd(fds[0]), Fd(fds[1])};
}

void write_raw(const Fd& fd, std::string_view bytes)
{
    REQUIRE(::write(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
}

std::string as_string(const std::array<std::uint8_t, header_size>& h)
{
    return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

// A length-delimited protobuf field with a one-byte key and a one-byte length.
std::string field(int number, std::string_view value)
{
    REQUIRE(value.size() < 128);
    std::string out;
    out += static_cast<char>((number << 3) | 2);
    out += static_cast<char>(value.size());
    out += value;
    return out;
}

} // namespace

TEST_CASE("ttrpc header: encoding byte for byte")
{
    FrameHeader h{.length = 0x01020304, .stream_id = 0x0a0b0c0d, .type = MessageType::response, .flags = 0x7f};
    auto bytes = encode_header(h);
    const std::array<std::uint8_t, header_size> expect = {0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d, 0x02, 0x7f};
    CHECK(bytes == expect);
    CHECK(decode_header(bytes) == h);

    // A request on stream 1 with a 5-byte payload, as a client's first call looks.
    auto first = encode_header({.length = 5, .stream_id = 1, .type = MessageType::request, .flags = 0});
    CHECK(as_string(first) == std::string("\0\0\0\x05\0\0\0\x01\x01\0", 10));
    CHECK(max_message_size == 4194304);
}

TEST_CASE("ttrpc frame: round trip over a socketpair")
{
    auto sp = socket_pair();
    REQUIRE(write_frame(sp.a.borrow(), {.stream_id = 3, .type = MessageType::request}, "hello"));
    REQUIRE(write_frame(sp.a.borrow(), {.length = 999, .stream_id = 3, .type = MessageType::response}, ""));

    auto f1 = read_frame(sp.b.borrow());
    REQUIRE(f1);
    CHECK(f1->header == FrameHeader{.length = 5, .stream_id = 3, .type = MessageType::request, .flags = 0});
    CHECK(f1->payload == "hello");

    // header.length is not trusted on write: the payload decides.
    auto f2 = read_frame(sp.b.borrow());
    REQUIRE(f2);
    CHECK(f2->header.length == 0);
    CHECK(f2->header.type == MessageType::response);
    CHECK(f2->payload.empty());

    sp.a.reset();
    auto eof = read_frame(sp.b.borrow());
    REQUIRE_FALSE(eof);
    CHECK(eof.error().code() == ENODATA);
}

TEST_CASE("ttrpc frame: bytes arriving one at a time")
{
    auto sp = socket_pair();
    std::string payload = "a payload that arrives in pieces";
    auto head = encode_header({.length = static_cast<std::uint32_t>(payload.size()), .stream_id = 7,
                               .type = MessageType::request});
    std::string wire = as_string(head) + payload;

    std::thread writer([&] {
        for (char c : wire) {
            if (::write(sp.a.get(), &c, 1) != 1)
                return;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    });
    auto f = read_frame(sp.b.borrow());
    writer.join();
    REQUIRE(f);
    CHECK(f->header.stream_id == 7);
    CHECK(f->payload == payload);
}

TEST_CASE("ttrpc frame: short writes and EAGAIN on a non-blocking socket")
{
    auto sp = socket_pair(SOCK_NONBLOCK);
    int small = 4096;
    REQUIRE(::setsockopt(sp.a.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    std::string payload(max_message_size, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i)
        payload[i] = static_cast<char>(i * 7 + i / 251);

    // The reader takes its time, so the writer meets a full buffer again and again.
    Result<Frame> got = fail("not read");
    std::thread reader([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        got = read_frame(sp.b.borrow());
    });
    auto wrote = write_frame(sp.a.borrow(), {.stream_id = 9, .type = MessageType::response}, payload);
    reader.join();
    REQUIRE(wrote);
    REQUIRE(got);
    CHECK(got->header.length == max_message_size);
    CHECK(got->payload == payload);
}

TEST_CASE("ttrpc frame: reads survive EINTR")
{
    auto sp = socket_pair();
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::usleep(100 * 1000);
        auto head = encode_header({.length = 2, .stream_id = 5, .type = MessageType::request});
        (void)::write(sp.a.get(), head.data(), head.size());
        ::usleep(50 * 1000);
        (void)::write(sp.a.get(), "ok", 2);
        ::_exit(0);
    }

    // No SA_RESTART: every tick interrupts the blocked read with EINTR.
    static std::atomic<int> ticks{0};
    struct sigaction sa{};
    sa.sa_handler = [](int) { ticks.fetch_add(1); };
    struct sigaction old{};
    REQUIRE(::sigaction(SIGALRM, &sa, &old) == 0);
    itimerval every_5ms{.it_interval = {0, 5000}, .it_value = {0, 5000}};
    REQUIRE(::setitimer(ITIMER_REAL, &every_5ms, nullptr) == 0);

    auto f = read_frame(sp.b.borrow());

    itimerval off{};
    ::setitimer(ITIMER_REAL, &off, nullptr);
    ::sigaction(SIGALRM, &old, nullptr);
    int status = 0;
    ::waitpid(child, &status, 0);

    REQUIRE(f);
    CHECK(f->payload == "ok");
    CHECK(ticks.load() > 0);
}

TEST_CASE("ttrpc frame: an oversized frame is discarded and the next one read")
{
    auto sp = socket_pair();
    std::uint32_t too_big = max_message_size + 1;
    std::thread writer([&] {
        auto head = encode_header({.length = too_big, .stream_id = 11, .type = MessageType::request});
        std::string junk(too_big, 'x');
        std::string wire = as_string(head) + junk;
        auto next = encode_header({.length = 3, .stream_id = 13, .type = MessageType::request});
        wire += as_string(next) + "abc";
        std::size_t done = 0;
        while (done < wire.size()) {
            ssize_t n = ::write(sp.a.get(), wire.data() + done, wire.size() - done);
            if (n <= 0)
                return;
            done += static_cast<std::size_t>(n);
        }
    });
    auto bad = read_frame(sp.b.borrow());
    auto good = read_frame(sp.b.borrow());
    writer.join();

    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == EMSGSIZE);
    CHECK(bad.error().what().find("stream 11") != std::string::npos);
    REQUIRE(good);
    CHECK(good->header.stream_id == 13);
    CHECK(good->payload == "abc");

    // read_payload alone refuses without reading, and write_frame refuses to send.
    auto refused = read_payload(sp.b.borrow(), {.length = too_big, .stream_id = 15});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == EMSGSIZE);
    std::string big(too_big, 'y');
    auto not_sent = write_frame(sp.a.borrow(), {.stream_id = 17}, big);
    REQUIRE_FALSE(not_sent);
    CHECK(not_sent.error().code() == EMSGSIZE);
}

TEST_CASE("ttrpc frame: a huge declared length allocates nothing")
{
    // In a child with its address space capped 64 MiB above what it uses: had the reader
    // allocated the declared 4 GiB, it would die of bad_alloc instead of exiting 0.
    auto sp = socket_pair();
    auto head = encode_header({.length = 0xffffffff, .stream_id = 1, .type = MessageType::request});
    write_raw(sp.a, as_string(head) + "only a few bytes");
    sp.a.reset();

    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        long pages = 0;
        if (FILE* f = ::fopen("/proc/self/statm", "r")) {
            if (::fscanf(f, "%ld", &pages) != 1)
                pages = 0;
            ::fclose(f);
        }
        rlim_t cap = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + (64u << 20);
        rlimit lim{cap, cap};
        if (pages == 0 || ::setrlimit(RLIMIT_AS, &lim) != 0)
            ::_exit(2);
        // The child must never return into doctest (it would run the rest of the suite).
        try {
            auto f = read_frame(sp.b.borrow());
            // Discarding runs into end of file long before 4 GiB: an error, not a frame.
            ::_exit(!f && f.error().what().find("end of file") != std::string::npos ? 0 : 1);
        } catch (...) {
            ::_exit(3);
        }
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("ttrpc frame: end of file inside a frame is an error")
{
    SUBCASE("mid-header")
    {
        auto sp = socket_pair();
        write_raw(sp.a, std::string("\0\0\0\x05\0", 5));
        sp.a.reset();
        auto f = read_frame(sp.b.borrow());
        REQUIRE_FALSE(f);
        CHECK(f.error().code() != ENODATA);
        CHECK(f.error().what().find("frame header after 5 of 10") != std::string::npos);
    }
    SUBCASE("mid-payload")
    {
        auto sp = socket_pair();
        auto head = encode_header({.length = 8, .stream_id = 1, .type = MessageType::request});
        write_raw(sp.a, as_string(head) + "abc");
        sp.a.reset();
        auto f = read_frame(sp.b.borrow());
        REQUIRE_FALSE(f);
        CHECK(f.error().what().find("frame payload after 3 of 8") != std::string::npos);
    }
}

TEST_CASE("ttrpc envelope: request round trip with metadata")
{
    Request r{
        .service = "containerd.task.v2.Task",
        .method = "Create",
        .payload = std::string("\x0a\x03" "abc\0\xff", 7),
        .timeout_nano = 5'000'000'000,
        .metadata = {{"containerd-namespace", "k8s.io"}, {"traceparent", "00-x"}, {"traceparent", "00-y"}},
    };
    auto back = decode_request(encode_request(r));
    REQUIRE(back);
    CHECK(*back == r);

    // Not valid UTF-8 in a text field: still readable (the envelope declares them bytes).
    Request odd{.service = "s", .method = "m", .payload = {}, .timeout_nano = 0, .metadata = {{"k", "\xff\xfe"}}};
    auto odd_back = decode_request(encode_request(odd));
    REQUIRE(odd_back);
    CHECK(odd_back->metadata.at(0).value == "\xff\xfe");

    CHECK_FALSE(decode_request(std::string("\x0a\x10short", 7)));
}

TEST_CASE("ttrpc envelope: response round trip")
{
    Response ok{.status = {}, .payload = "state bytes"};
    auto ok_bytes = encode_response(ok);
    // OK: no status field (1) at all, only the payload (2); an OK reply to a method that
    // returns Empty is zero bytes.
    CHECK(ok_bytes == field(2, "state bytes"));
    CHECK(encode_response(Response{}).empty());
    auto ok_back = decode_response(ok_bytes);
    REQUIRE(ok_back);
    CHECK(*ok_back == ok);

    Response err{
        .status = {.code = static_cast<std::int32_t>(Code::not_found),
                   .message = "container x: not found",
                   .details = {{"type.googleapis.com/x.Y", std::string("\x08\x01", 2)}}},
        .payload = {},
    };
    auto err_back = decode_response(encode_response(err));
    REQUIRE(err_back);
    CHECK(*err_back == err);

    // An explicit empty status (0a 00) reads as OK too.
    auto explicit_ok = decode_response(std::string("\x0a\x00", 2) + field(2, "p"));
    REQUIRE(explicit_ok);
    CHECK(explicit_ok->status == Status{});
    CHECK(explicit_ok->payload == "p");

    // code 5 (varint) and a message inside status.
    auto err_bytes = encode_response({.status = {.code = 5, .message = "gone", .details = {}}, .payload = {}});
    CHECK(err_bytes == field(1, std::string("\x08\x05", 2) + field(2, "gone")));
}

TEST_CASE("ttrpc envelope: golden bytes of a State request")
{
    // Hand-built from the field numbers and wire types: key = (number << 3) | wire type.
    // StateRequest{id: "c1"} is field 1 (string) -> 0a 02 'c' '1'.
    std::string state_request = "\x0a\x02" "c1";
    std::string expect;
    expect += "\x0a\x17" "containerd.task.v2.Task"; // 1 service, bytes, 23 long
    expect += "\x12\x05" "State";                   // 2 method, bytes
    expect += "\x1a\x04" + state_request;           // 3 payload, bytes
    expect += "\x20\x80\xe8\xed\xa1\xba\x01";       // 4 timeout_nano, varint 50'000'000'000
    // 5 metadata: KeyValue{1 key, 2 value}
    expect += "\x2a\x22" "\x0a\x14" "containerd-namespace" "\x12\x0a" "default-ns";

    Request r{
        .service = "containerd.task.v2.Task",
        .method = "State",
        .payload = state_request,
        .timeout_nano = 50'000'000'000,
        .metadata = {{"containerd-namespace", "default-ns"}},
    };
    CHECK(encode_request(r) == expect);
    // containerd 1.6.20's State call for task "t1" (no deadline, no metadata) was a
    // 38-byte frame payload: 25 + 7 + 6 bytes for the three fields.
    CHECK(encode_request({.service = "containerd.task.v2.Task", .method = "State", .payload = "\x0a\x02t1",
                          .timeout_nano = 0, .metadata = {}})
              .size()
          == 38);
    auto back = decode_request(expect);
    REQUIRE(back);
    CHECK(*back == r);

    // The same request framed as a client's first call: 10 header bytes, then the above.
    auto sp = socket_pair();
    ClientStreamIds ids;
    REQUIRE(write_frame(sp.a.borrow(), {.stream_id = ids.next(), .type = MessageType::request}, expect));
    sp.a.reset();
    std::string wire(header_size + expect.size(), '\0');
    REQUIRE(::read(sp.b.get(), wire.data(), wire.size()) == static_cast<ssize_t>(wire.size()));
    std::string head = {0, 0, 0, static_cast<char>(expect.size()), 0, 0, 0, 1, 1, 0};
    CHECK(wire == head + expect);
}

TEST_CASE("ttrpc stream ids: client ids are odd and go up by two")
{
    ClientStreamIds ids;
    CHECK(ids.next() == 1);
    CHECK(ids.next() == 3);
    CHECK(ids.next() == 5);
    CHECK(is_client_stream(1));
    CHECK(is_client_stream(0xffffffff));
    CHECK_FALSE(is_client_stream(0));
    CHECK_FALSE(is_client_stream(2));
}

TEST_CASE("ttrpc server read: requests, refusals that keep the stream in step, and the end")
{
    auto sp = socket_pair();
    auto send = [&](std::uint32_t stream, MessageType type, const std::string& payload) {
        REQUIRE(write_frame(sp.a.borrow(), {.stream_id = stream, .type = type}, payload));
    };
    Request call;
    call.service = "svc.A";
    call.method = "Ping";
    call.payload = "p";
    Request other = call;
    other.service = "svc.B";

    send(1, MessageType::request, encode_request(call));
    send(2, MessageType::request, encode_request(call));      // even: not the client's
    send(3, MessageType::response, encode_response({}));      // not a request
    send(5, MessageType::request, std::string("\xff\xff", 2)); // does not decode
    send(7, MessageType::request, encode_request(other));     // another service
    send(9, MessageType::request, encode_request(call));
    sp.a.reset();

    auto first = read_request(sp.b.borrow(), "svc.A");
    REQUIRE(first.kind == ServerRead::Kind::request);
    CHECK(first.stream == 1);
    CHECK(first.request.method == "Ping");
    CHECK(first.request.payload == "p");

    struct Want {
        std::uint32_t stream;
        Code code;
    };
    for (auto want : {Want{2, Code::invalid_argument}, Want{3, Code::invalid_argument}, Want{5, Code::invalid_argument},
                      Want{7, Code::unimplemented}}) {
        auto r = read_request(sp.b.borrow(), "svc.A");
        CAPTURE(want.stream);
        REQUIRE(r.kind == ServerRead::Kind::refused);
        CHECK(r.stream == want.stream);
        CHECK(r.refusal.code == static_cast<std::int32_t>(want.code));
        CHECK_FALSE(r.refusal.message.empty());
    }
    auto last = read_request(sp.b.borrow(), "svc.A");
    REQUIRE(last.kind == ServerRead::Kind::request);
    CHECK(last.stream == 9);
    CHECK(read_request(sp.b.borrow(), "svc.A").kind == ServerRead::Kind::closed);
}

TEST_CASE("ttrpc frame: written to a descriptor that is not a socket")
{
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    Fd rd(p[0]), wr(p[1]);
    REQUIRE(write_frame(wr.borrow(), {.stream_id = 3, .type = MessageType::response}, "hello"));
    wr.reset();
    auto f = read_frame(rd.borrow());
    REQUIRE(f);
    CHECK(f->header.stream_id == 3);
    CHECK(f->payload == "hello");
}
