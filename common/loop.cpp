#include "common/loop.hpp"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>

namespace husk {

Result<Loop> Loop::create()
{
    Loop l;
    l.m_epoll = Fd(::epoll_create1(EPOLL_CLOEXEC));
    if (!l.m_epoll)
        return fail_errno("epoll_create1");
    return l;
}

namespace {
std::uint64_t tag(int fd, std::uint32_t generation)
{
    return std::uint64_t(generation) << 32 | static_cast<std::uint32_t>(fd);
}
} // namespace

Result<> Loop::add(int fd, std::uint32_t events, Callback cb)
{
    const std::uint32_t generation = ++m_generation;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag(fd, generation);
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
        return fail_errno("epoll add fd " + std::to_string(fd));
    m_callbacks[fd] = Entry{generation, std::make_shared<Callback>(std::move(cb))};
    return {};
}

Result<> Loop::modify(int fd, std::uint32_t events)
{
    auto it = m_callbacks.find(fd);
    if (it == m_callbacks.end())
        return fail("epoll modify fd " + std::to_string(fd) + ": not watched");
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag(fd, it->second.generation);
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev) < 0)
        return fail_errno("epoll modify fd " + std::to_string(fd));
    return {};
}

void Loop::remove(int fd)
{
    if (m_callbacks.erase(fd) > 0)
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void Loop::after(int delay_ms, std::function<void()> fn)
{
    m_timers.push_back(Timer{std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms), std::move(fn)});
}

Result<> Loop::run_once(int timeout_ms)
{
    using namespace std::chrono;
    for (const auto& t : m_timers) {
        // Rounded up: a wait that ends a fraction of a millisecond early would spin.
        auto left = ceil<milliseconds>(t.when - steady_clock::now()).count();
        int wait = int(std::clamp<long long>(left, 0, 1LL << 30));
        if (timeout_ms < 0 || wait < timeout_ms)
            timeout_ms = wait;
    }
    epoll_event events[32];
    int n = ::epoll_wait(m_epoll.get(), events, 32, timeout_ms);
    if (n < 0) {
        if (errno != EINTR)
            return fail_errno("epoll_wait");
        n = 0;
    }
    for (int i = 0; i < n; ++i) {
        const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
        const auto generation = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
        auto it = m_callbacks.find(fd);
        if (it == m_callbacks.end() || it->second.generation != generation)
            continue; // removed (or replaced) by an earlier callback of this round
        auto cb = it->second.cb;
        (*cb)(events[i].events);
    }
    if (!m_timers.empty()) {
        // Due timers leave the list before they run: one may add another.
        const auto now = steady_clock::now();
        std::vector<Timer> due;
        std::erase_if(m_timers, [&](Timer& t) {
            if (t.when > now)
                return false;
            due.push_back(std::move(t));
            return true;
        });
        for (auto& t : due)
            t.fn();
    }
    return {};
}

} // namespace husk
