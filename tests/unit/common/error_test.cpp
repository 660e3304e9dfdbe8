#include "common/error.hpp"

#include <doctest.h>

using namespace husk;

namespace {

Result<int> parse_positive(int v)
{
    if (v <= 0)
        return fail("value must be positive");
    return v;
}

Result<int> doubled(int v)
{
    int x = TRY(parse_positive(v));
    return 2 * x;
}

Result<int> with_context(int v) { return TRY_CTX(parse_positive(v), "field x"); }

Result<> syscall_like() { return fail_errno(ENOENT, "open /nowhere"); }

} // namespace

TEST_CASE("TRY yields the value or propagates the error")
{
    CHECK(doubled(4).value() == 8);
    auto bad = doubled(-1);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message() == "value must be positive");
    CHECK(bad.error().code() == 0);
}

TEST_CASE("TRY_CTX prefixes context")
{
    auto bad = with_context(0);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message() == "field x: value must be positive");
}

TEST_CASE("errno errors carry strerror text")
{
    auto r = syscall_like();
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == ENOENT);
    CHECK(r.error().message() == "open /nowhere: No such file or directory");
}
