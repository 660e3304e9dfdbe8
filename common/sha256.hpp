// SHA-256 (FIPS 180-4), for names that must not collide by accident or on purpose: the
// shim's socket per pod, content digests of images.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace husk {

class Sha256 {
public:
    Sha256();
    void update(std::string_view data);
    // The digest; the object must not be updated afterwards.
    std::array<std::uint8_t, 32> finish();
    // Lowercase hex of finish().
    std::string hex();

private:
    void block(const std::uint8_t* p);

    std::array<std::uint32_t, 8> m_h;
    std::array<std::uint8_t, 64> m_buf{};
    std::size_t m_used = 0;
    std::uint64_t m_bytes = 0;
};

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

} // namespace husk
