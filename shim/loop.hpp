// The shim's one event loop: epoll over every descriptor it waits on (the task socket and its
// connections, SIGCHLD through a signalfd, stdio copies, OOM notifications), one callback per
// descriptor. The shim has no threads: a Task call runs to its end, or parks a reply (Wait)
// that a later event sends.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

namespace husk::shim {

class Loop {
public:
    using Callback = std::function<void(std::uint32_t events)>;

    static Result<Loop> create();

    // Watch `fd` for `events` (EPOLLIN, EPOLLOUT...). The fd must stay open until remove().
    Result<> add(int fd, std::uint32_t events, Callback cb);
    Result<> modify(int fd, std::uint32_t events);
    void remove(int fd);
    bool watching(int fd) const { return m_callbacks.contains(fd); }

    // Waits once (at most timeout_ms; -1 forever) and runs the callbacks of what is ready.
    Result<> run_once(int timeout_ms);

private:
    Fd m_epoll;
    struct Entry {
        std::uint32_t generation;
        // shared_ptr: a callback may remove (and so destroy) its own entry while it runs.
        std::shared_ptr<Callback> cb;
    };
    // The generation goes into each epoll event with the fd: an event for a descriptor that
    // was closed and whose number was reused within the same round reaches nobody.
    std::map<int, Entry> m_callbacks;
    std::uint32_t m_generation = 0;
};

} // namespace husk::shim
