#include "image/digest.hpp"

#include <openssl/evp.h>

#include <unistd.h>
#include <vector>

namespace husk::image {

Result<Digest> parse_digest(std::string_view text)
{
    size_t colon = text.find(':');
    if (colon == std::string_view::npos)
        return fail("digest \"" + std::string(text) + "\": no algorithm");
    std::string_view alg = text.substr(0, colon);
    std::string_view hex = text.substr(colon + 1);
    size_t want = 0;
    if (alg == "sha256")
        want = 64;
    else if (alg == "sha512")
        want = 128;
    else
        return fail("digest \"" + std::string(text) + "\": unsupported algorithm");
    if (hex.size() != want)
        return fail("digest \"" + std::string(text) + "\": wrong length");
    for (char c : hex)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return fail("digest \"" + std::string(text) + "\": not lowercase hex");
    return Digest {std::string(alg), std::string(hex)};
}

struct Hasher::Impl {
    EVP_MD_CTX* ctx = nullptr;
    ~Impl() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

Result<Hasher> Hasher::create(std::string_view algorithm)
{
    const EVP_MD* md = algorithm == "sha256" ? EVP_sha256() : algorithm == "sha512" ? EVP_sha512() : nullptr;
    if (md == nullptr)
        return fail("unsupported digest algorithm " + std::string(algorithm));
    auto impl = std::make_unique<Impl>();
    impl->ctx = EVP_MD_CTX_new();
    if (impl->ctx == nullptr || EVP_DigestInit_ex(impl->ctx, md, nullptr) != 1)
        return fail("libcrypto: cannot start a " + std::string(algorithm) + " digest");
    return Hasher(std::move(impl));
}

void Hasher::update(const void* data, size_t size) { EVP_DigestUpdate(m_impl->ctx, data, size); }

std::string Hasher::hex_final()
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(m_impl->ctx, md, &len);
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        out.push_back(digits[md[i] >> 4]);
        out.push_back(digits[md[i] & 15]);
    }
    return out;
}

namespace {

Result<> check(Hasher& h, uint64_t got_size, const Digest& expected, uint64_t expected_size)
{
    if (got_size != expected_size)
        return fail("blob " + expected.str() + ": size is " + std::to_string(got_size) + " bytes, the descriptor says " +
                    std::to_string(expected_size));
    std::string got = h.hex_final();
    if (got != expected.hex)
        return fail("blob " + expected.str() + ": content hashes to " + expected.algorithm + ":" + got +
                    " (corrupt or tampered blob)");
    return {};
}

} // namespace

Result<> verify_stream(BorrowedFd fd, const Digest& expected, uint64_t expected_size)
{
    Hasher h = TRY(Hasher::create(expected.algorithm));
    std::vector<char> buf(1 << 20);
    uint64_t total = 0;
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail_errno("read blob " + expected.str());
        }
        if (n == 0)
            break;
        total += static_cast<uint64_t>(n);
        if (total > expected_size) // no need to read a huge file to the end to know
            return fail("blob " + expected.str() + ": larger than the descriptor's " + std::to_string(expected_size) +
                        " bytes");
        h.update(buf.data(), static_cast<size_t>(n));
    }
    return check(h, total, expected, expected_size);
}

Result<> verify_bytes(std::string_view data, const Digest& expected, uint64_t expected_size)
{
    Hasher h = TRY(Hasher::create(expected.algorithm));
    h.update(data.data(), data.size());
    return check(h, data.size(), expected, expected_size);
}

} // namespace husk::image
