// The shim's ttrpc side: the server that containerd calls on the task socket, and the client
// that forwards task events to containerd's Events service (TTRPC_ADDRESS).
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/loop.hpp"
#include "shim/service.hpp"
#include "shim/ttrpc.hpp"

#include <deque>
#include <map>
#include <memory>
#include <string>

namespace husk::shim {

// Forwards events as containerd.services.events.ttrpc.v1.Events/Forward calls, in order, one
// at a time, on one connection it opens when first needed (and again after a failure). An
// event that cannot be delivered is logged and dropped: containerd learns exits from Wait too.
class EventForwarder : public EventSink {
public:
    EventForwarder(std::string address, std::string ns) : m_address(std::move(address)), m_ns(std::move(ns)) {}
    void publish(std::string topic, std::string type, std::string event) override;
    // Sends what is queued. The shim calls it after each round of its loop, when the replies
    // of that round are written: an event never overtakes the reply to the call behind it.
    void flush();
    std::size_t dropped() const { return m_dropped; }

private:
    Result<> send(const std::string& payload);

    std::string m_address;
    std::string m_ns;
    Fd m_conn;
    ttrpc::ClientStreamIds m_ids;
    std::deque<std::string> m_queue; // serialized ForwardRequests
    std::size_t m_dropped = 0;
};

// Serves containerd.task.v2.Task on the listening socket. Requests on a connection are read
// whole and answered in order, except Wait, whose answer comes when the process exits; other
// calls go on meanwhile. Unknown services and methods get Unimplemented; a request on an
// even stream id InvalidArgument; an oversized one ResourceExhausted (the connection stays
// usable).
class Server {
public:
    Server(Loop& loop, Fd listener, TaskService& service, EventForwarder& events)
        : m_loop(loop), m_listener(std::move(listener)), m_service(service), m_events(events)
    {
    }
    Result<> start();

private:
    struct Conn {
        Fd fd;
        std::uint64_t serial;
    };
    void on_accept();
    void on_readable(int fd);
    void close_conn(int fd);
    void respond(int fd, std::uint64_t serial, std::uint32_t stream, const ttrpc::Status& status,
                 const std::string& payload);

    Loop& m_loop;
    Fd m_listener;
    TaskService& m_service;
    EventForwarder& m_events;
    std::map<int, Conn> m_conns;
    std::uint64_t m_next_serial = 1;
};

} // namespace husk::shim
