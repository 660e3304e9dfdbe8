// One event loop for a single-threaded server: epoll over every descriptor it waits on, one
// callback per descriptor, and timers for delayed work. The shim (task socket, SIGCHLD through
// a signalfd, stdio copies, OOM notifications) and husk-agent (its ttrpc channel, the guest's
// children) run on it. A call runs to its end, or parks a reply (Wait) that a later event sends.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace husk {

class Loop {
public:
    using Callback = std::function<void(std::uint32_t events)>;

    static Result<Loop> create();

    // Watch `fd` for `events` (EPOLLIN, EPOLLOUT...). The fd must stay open until remove().
    Result<> add(int fd, std::uint32_t events, Callback cb);
    Result<> modify(int fd, std::uint32_t events);
    void remove(int fd);
    bool watching(int fd) const { return m_callbacks.contains(fd); }

    // Runs `fn` once, from run_once, when `delay_ms` have passed.
    void after(int delay_ms, std::function<void()> fn);

    // Waits once (at most timeout_ms, -1 forever, shortened to the next timer) and runs the
    // callbacks of what is ready, then the timers that are due.
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
    struct Timer {
        std::chrono::steady_clock::time_point when;
        std::function<void()> fn;
    };
    std::vector<Timer> m_timers;
};

} // namespace husk
