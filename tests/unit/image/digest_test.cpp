#include "common/fs.hpp"
#include "image/digest.hpp"

#include <doctest.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace husk;
using namespace husk::image;

namespace {
// sha256("abc"), FIPS 180-2 appendix B.1.
const std::string kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
} // namespace

TEST_CASE("image digest: only well-formed digests parse, so they can name files")
{
    auto d = parse_digest("sha256:" + kAbc);
    REQUIRE(d);
    CHECK(d->algorithm == "sha256");
    CHECK(d->hex == kAbc);
    CHECK(d->str() == "sha256:" + kAbc);
    CHECK(parse_digest("sha512:" + std::string(128, 'a')));
    CHECK_FALSE(parse_digest(kAbc));                                  // no algorithm
    CHECK_FALSE(parse_digest("md5:" + kAbc));                         // unsupported
    CHECK_FALSE(parse_digest("sha256:" + kAbc.substr(1)));            // short
    CHECK_FALSE(parse_digest("sha256:" + kAbc + "0"));                // long
    std::string upper = kAbc;
    upper[0] = 'B';
    CHECK_FALSE(parse_digest("sha256:" + upper));                     // uppercase
    CHECK_FALSE(parse_digest("sha256:../../../../etc/passwd" + std::string(37, 'a')));
}

TEST_CASE("image digest: content and size are both checked")
{
    Digest d = parse_digest("sha256:" + kAbc).value();
    CHECK(verify_bytes("abc", d, 3));
    auto wrong_size = verify_bytes("abc", d, 4);
    REQUIRE_FALSE(wrong_size);
    CHECK(wrong_size.error().what().find("size") != std::string::npos);
    auto wrong_content = verify_bytes("abd", d, 3);
    REQUIRE_FALSE(wrong_content);
    CHECK(wrong_content.error().what().find("hashes to") != std::string::npos);
}

TEST_CASE("image digest: a stream is verified to its end, and a longer one stops early")
{
    Digest d = parse_digest("sha256:" + kAbc).value();
    int fd = ::memfd_create("blob", MFD_CLOEXEC);
    Fd blob(fd);
    REQUIRE(::write(fd, "abc", 3) == 3);
    ::lseek(fd, 0, SEEK_SET);
    CHECK(verify_stream(blob.borrow(), d, 3));
    REQUIRE(::write(fd, "more", 4) == 4);
    ::lseek(fd, 0, SEEK_SET);
    auto longer = verify_stream(blob.borrow(), d, 3);
    REQUIRE_FALSE(longer);
    CHECK(longer.error().what().find("larger") != std::string::npos);
}
