// Content digests of image blobs ("sha256:<64 hex>", "sha512:<128 hex>"): parsing, which also
// makes a digest safe to use as a file name, and verification of a blob's size and content
// (OpenSSL's libcrypto, for its SHA extensions). Nothing from a blob is used before it passed.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace husk::image {

struct Digest {
    std::string algorithm; // "sha256" or "sha512"
    std::string hex;       // lowercase, of the algorithm's length

    std::string str() const { return algorithm + ":" + hex; }
    bool operator==(const Digest&) const = default;
};

// Accepts only the registered algorithms with lowercase hex of the right length, so the
// result can name a file under blobs/<algorithm>/ without any path tricks.
Result<Digest> parse_digest(std::string_view text);

// Incremental hashing for a digest's algorithm.
class Hasher {
public:
    static Result<Hasher> create(std::string_view algorithm);
    Hasher(Hasher&&) noexcept;
    Hasher& operator=(Hasher&&) noexcept;
    ~Hasher();
    void update(const void* data, size_t size);
    std::string hex_final();

private:
    struct Impl;
    explicit Hasher(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// Reads `fd` from its current offset to the end: the content must be exactly
// `expected_size` bytes and hash to `expected`. The error names the digest and what differed.
Result<> verify_stream(BorrowedFd fd, const Digest& expected, uint64_t expected_size);
// The same over bytes in memory.
Result<> verify_bytes(std::string_view data, const Digest& expected, uint64_t expected_size);

} // namespace husk::image
