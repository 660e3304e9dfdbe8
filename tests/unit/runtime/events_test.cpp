// `husk events` output: runc's field names and its rules for leaving fields out.
#include "runtime/events/events.hpp"

#include <doctest.h>
#include <nlohmann/json.hpp>

using namespace husk;
using nlohmann::json;

TEST_CASE("events: a stats event has runc's shape")
{
    cgroups::Stats s;
    s.cpu.total = 1000;
    s.cpu.percpu = { 600, 400 };
    s.memory.usage = { 4096, 1024, 2048, 0 };
    s.memory.raw["rss"] = 7;
    s.pids.current = 2;
    s.blkio.service_bytes.push_back({ 8, 0, "Read", 512 });
    s.hugetlb["2MB"] = { 0, 0, 0 };
    auto ev = json::parse(events::stats_event("c1", s));
    CHECK(ev["type"] == "stats");
    CHECK(ev["id"] == "c1");
    const auto& d = ev["data"];
    CHECK(d["cpu"]["usage"]["total"] == 1000);
    CHECK(d["cpu"]["usage"]["percpu"] == json::array({ 600, 400 }));
    CHECK(d["cpu"]["usage"]["kernel"] == 0); // always there
    CHECK_FALSE(d["cpu"]["usage"].contains("percpu_kernel")); // empty: left out
    CHECK(d["cpu"]["throttling"] == json::object());
    CHECK(d["memory"]["usage"] == json { { "limit", 4096 }, { "usage", 1024 }, { "max", 2048 }, { "failcnt", 0 } });
    CHECK(d["memory"]["swap"] == json { { "limit", 0 }, { "failcnt", 0 } });
    CHECK(d["memory"]["raw"]["rss"] == 7);
    CHECK_FALSE(d["memory"].contains("cache"));
    CHECK(d["pids"] == json { { "current", 2 } });
    CHECK(d["blkio"]["ioServiceBytesRecursive"][0] == json { { "major", 8 }, { "op", "Read" }, { "value", 512 } });
    CHECK(d["hugetlb"]["2MB"] == json { { "failcnt", 0 } });
    CHECK(d["network_interfaces"].is_null());
    CHECK(d["intel_rdt"] == json::object());
}

TEST_CASE("events: an oom event")
{
    auto ev = json::parse(events::oom_event("c1"));
    CHECK(ev == json { { "type", "oom" }, { "id", "c1" } });
}

TEST_CASE("events: Go durations")
{
    using namespace std::chrono;
    CHECK(events::parse_duration("5s") == seconds(5));
    CHECK(events::parse_duration("100ms") == milliseconds(100));
    CHECK(events::parse_duration("1m30s") == seconds(90));
    CHECK(events::parse_duration("1.5s") == milliseconds(1500));
    CHECK(events::parse_duration("2h") == hours(2));
    CHECK(events::parse_duration("250us") == microseconds(250));
    CHECK(events::parse_duration("0") == nanoseconds(0));
    CHECK_FALSE(events::parse_duration(""));
    CHECK_FALSE(events::parse_duration("5"));
    CHECK_FALSE(events::parse_duration("soon"));
    CHECK_FALSE(events::parse_duration("-5s"));
    CHECK_FALSE(events::parse_duration("5x"));
}
