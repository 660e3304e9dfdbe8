// husk::Error and Result<T>: every fallible call in the libraries returns a Result.
// An Error carries errno (0 when the failure is not a syscall's) and a message that
// already says what was attempted on what ("mount proc on /x/proc"). Libraries never throw.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

namespace husk {

class Error {
public:
    Error() = default;
    Error(int err, std::string what) : m_errno(err), m_what(std::move(what)) {}

    // A failure of a system call: errno is taken now.
    static Error from_errno(std::string what) { return Error(errno, std::move(what)); }
    static Error from_errno(int err, std::string what) { return Error(err, std::move(what)); }
    // A failure with no errno behind it (validation, protocol).
    static Error plain(std::string what) { return Error(0, std::move(what)); }

    int code() const { return m_errno; }
    const std::string& what() const { return m_what; }
    // "what: strerror" for syscall failures, "what" otherwise.
    std::string message() const;

    // Prefix context from an outer layer: "create container x: " + inner.
    Error& prefix(std::string_view outer)
    {
        m_what.insert(0, std::string(outer) + ": ");
        return *this;
    }

private:
    int m_errno = 0;
    std::string m_what;
};

template <typename T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string what) { return std::unexpected(Error::plain(std::move(what))); }
inline std::unexpected<Error> fail_errno(std::string what) { return std::unexpected(Error::from_errno(std::move(what))); }
inline std::unexpected<Error> fail_errno(int err, std::string what)
{
    return std::unexpected(Error::from_errno(err, std::move(what)));
}

} // namespace husk

// TRY(expr): evaluate a Result; on error return it from the enclosing function, otherwise
// yield the value (a statement expression, GCC/Clang).
#define TRY(expr)                                                              \
    ({                                                                         \
        auto&& husk_try_result_ = (expr);                                      \
        if (!husk_try_result_) [[unlikely]]                                    \
            return std::unexpected(std::move(husk_try_result_).error());       \
        std::move(husk_try_result_).value();                                   \
    })

// TRY_CTX(expr, "context"): as TRY, but prefixes the error with context.
#define TRY_CTX(expr, ctx)                                                     \
    ({                                                                         \
        auto&& husk_try_result_ = (expr);                                      \
        if (!husk_try_result_) [[unlikely]] {                                  \
            auto husk_err_ = std::move(husk_try_result_).error();              \
            husk_err_.prefix(ctx);                                             \
            return std::unexpected(std::move(husk_err_));                      \
        }                                                                      \
        std::move(husk_try_result_).value();                                   \
    })
