#include "common/sha256.hpp"

#include <doctest.h>

#include <string>

using namespace husk;

TEST_CASE("sha256: the FIPS 180-4 example messages")
{
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: the digest does not depend on how the input is split")
{
    std::string text;
    for (int i = 0; i < 300; ++i)
        text += char('a' + i % 26);
    const std::string whole = sha256_hex(text);
    // Every split point across several block boundaries, and byte-at-a-time.
    for (std::size_t cut : {1u, 55u, 56u, 63u, 64u, 65u, 119u, 128u, 299u}) {
        Sha256 h;
        h.update(std::string_view(text).substr(0, cut));
        h.update(std::string_view(text).substr(cut));
        CHECK(h.hex() == whole);
    }
    Sha256 bytes;
    for (char c : text)
        bytes.update(std::string_view(&c, 1));
    CHECK(bytes.hex() == whole);
}
