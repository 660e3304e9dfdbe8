// The cgroup file parsers behind cgroups::Stats, on text as the kernel writes it.
#include "cgroups/stats.hpp"

#include <doctest.h>

using namespace husk::cgroups;

TEST_CASE("stats: flat keyed files")
{
    auto m = parse_flat_keyed("usage_usec 1200\nuser_usec 700\nsystem_usec 500\nnr_periods 0\n");
    CHECK(m.size() == 4);
    CHECK(m["usage_usec"] == 1200);
    CHECK(m["system_usec"] == 500);
    // memory.oom_control mixes flags and counters; odd lines are skipped, "max" is kept.
    auto o = parse_flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\nbroken\nlimit max\nx y\n");
    CHECK(o["oom_kill"] == 3);
    CHECK(o["limit"] == UINT64_MAX);
    CHECK(o.count("broken") == 0);
    CHECK(o.count("x") == 0);
    CHECK(parse_flat_keyed("").empty());
}

TEST_CASE("stats: single values")
{
    CHECK(parse_value("42") == 42u);
    CHECK(parse_value("max") == UINT64_MAX);
    CHECK_FALSE(parse_value(""));
    CHECK_FALSE(parse_value("-1"));
    CHECK_FALSE(parse_value("12abc"));
    CHECK(parse_numbers("10 20 30 \n") == std::vector<uint64_t> { 10, 20, 30 });
}

TEST_CASE("stats: cpu lists")
{
    CHECK(parse_cpu_list("0-3,5\n") == std::vector<uint64_t> { 0, 1, 2, 3, 5 });
    CHECK(parse_cpu_list("1") == std::vector<uint64_t> { 1 });
    CHECK(parse_cpu_list("\n").empty());
    CHECK(parse_cpu_list("3-1").empty()); // backwards: nothing
}

TEST_CASE("stats: v1 blkio files")
{
    auto e = parse_blkio_v1("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n");
    REQUIRE(e.size() == 5);
    CHECK(e[0].major == 8);
    CHECK(e[0].minor == 0);
    CHECK(e[0].op == "Read");
    CHECK(e[0].value == 4096);
    CHECK(e[4].op == "Total");
    // sectors and time: no operation column.
    auto s = parse_blkio_v1("259:0 1024\n");
    REQUIRE(s.size() == 1);
    CHECK(s[0].major == 259);
    CHECK(s[0].op.empty());
    CHECK(s[0].value == 1024);
    CHECK(parse_blkio_v1("Total 0\n").empty());
}

TEST_CASE("stats: v2 io.stat")
{
    std::vector<BlkioEntry> bytes, ios;
    parse_io_stat("8:16 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n254:0 rbytes=10 wbytes=0 rios=1 wios=0\n", bytes, ios);
    REQUIRE(bytes.size() == 4);
    REQUIRE(ios.size() == 4);
    CHECK(bytes[0].major == 8);
    CHECK(bytes[0].minor == 16);
    CHECK(bytes[0].op == "Read");
    CHECK(bytes[0].value == 1);
    CHECK(bytes[1].op == "Write");
    CHECK(bytes[1].value == 2);
    CHECK(ios[1].value == 4);
    CHECK(bytes[2].major == 254);
    CHECK(bytes[2].value == 10);
}
