#include "runtime/state/container_id.hpp"

#include <doctest.h>

using husk::validate_container_id;

TEST_CASE("valid container ids")
{
    for (const char* id : { "a", "c1", "my-container_2.0+x", "ABC", "0" })
        CHECK_MESSAGE(validate_container_id(id), id);
    CHECK(validate_container_id(std::string(1024, 'x')));
}

TEST_CASE("hostile container ids are refused with a clear error")
{
    for (const char* id : { "", ".", "..", "../x", "a/b", "/abs", "x y", "tab\there", "new\nline", "semi;colon", "ü" }) {
        auto r = validate_container_id(id);
        CHECK_MESSAGE(!r, id);
        if (!r)
            CHECK(r.error().message().find("invalid container ID format") == 0);
    }
    CHECK_FALSE(validate_container_id(std::string(1025, 'x')));
}
