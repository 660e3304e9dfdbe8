#include "shim/loop.hpp"

#include <sys/epoll.h>

#include <cerrno>

namespace husk::shim {

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

Result<> Loop::run_once(int timeout_ms)
{
    epoll_event events[32];
    int n = ::epoll_wait(m_epoll.get(), events, 32, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return {};
        return fail_errno("epoll_wait");
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
    return {};
}

} // namespace husk::shim
