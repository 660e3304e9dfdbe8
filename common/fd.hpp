// Fd: an owned file descriptor (move-only, closed on destruction). BorrowedFd: a
// non-owning view. This is the only place outside common/ that is allowed to close().
#pragma once

#include <sys/types.h>

#include <utility>

namespace husk {

class BorrowedFd {
public:
    constexpr BorrowedFd() = default;
    constexpr explicit BorrowedFd(int fd) : m_fd(fd) {}
    constexpr int get() const { return m_fd; }
    constexpr bool valid() const { return m_fd >= 0; }

private:
    int m_fd = -1;
};

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : m_fd(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Fd& operator=(Fd&& other) noexcept
    {
        if (this != &other) {
            reset();
            m_fd = std::exchange(other.m_fd, -1);
        }
        return *this;
    }
    ~Fd() { reset(); }

    int get() const { return m_fd; }
    bool valid() const { return m_fd >= 0; }
    explicit operator bool() const { return valid(); }
    BorrowedFd borrow() const { return BorrowedFd(m_fd); }
    // Give up ownership (e.g. the descriptor is handed to exec).
    int release() { return std::exchange(m_fd, -1); }
    void reset(int fd = -1);

private:
    int m_fd = -1;
};

// Closes a raw descriptor the caller does not own through an Fd (the container init
// dropping descriptors it inherited by number).
void close_raw(int fd);

// Which descriptors above stdio the process was started with. husk records this first
// thing, so that "preserve N fds" can never hand the container a descriptor husk opened
// itself at a number the caller left free.
void record_inherited_fds();

// One sendmsg(MSG_NOSIGNAL) of `len` bytes with descriptor `passed` attached (SCM_RIGHTS),
// retried on EINTR; the bytes sent, or -1 with errno. Allocates nothing (cloned children
// use it).
ssize_t send_with_fd(int sock, const void* data, size_t len, int passed);
// One recvmsg(MSG_CMSG_CLOEXEC), retried on EINTR; the bytes received, or -1 with errno.
// The first descriptor that came with them goes to *received (-1 when none); any other is
// closed.
ssize_t recv_with_fd(int sock, void* data, size_t len, int* received);
bool fd_was_inherited(int fd);

} // namespace husk
