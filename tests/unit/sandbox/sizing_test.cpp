// VM sizing beyond host_test.cpp: the edges of the quota and limit arithmetic, and resources
// objects that are odd but must not throw.
#include "sandbox/host/sizing.hpp"

#include <doctest.h>

#include <nlohmann/json.hpp>

using namespace husk::sandbox;
using nlohmann::json;

namespace {

SandboxConfig config(unsigned vcpus = 1, unsigned memory = 256, unsigned overhead = 64)
{
    SandboxConfig c;
    c.default_vcpus = vcpus;
    c.default_memory_mib = memory;
    c.overhead_mib = overhead;
    return c;
}

VmSize size(const char* resources, const SandboxConfig& c, unsigned host_cpus = 8)
{
    return size_vm(json::parse(resources), c, host_cpus);
}

} // namespace

TEST_CASE("sandbox sizing: vCPUs are ceil(quota / period), at least 1 and at most the host's")
{
    auto c = config();
    CHECK(size(R"({"cpu":{"quota":200000,"period":100000}})", c).vcpus == 2);
    CHECK(size(R"({"cpu":{"quota":200001,"period":100000}})", c).vcpus == 3);
    CHECK(size(R"({"cpu":{"quota":1,"period":100000}})", c).vcpus == 1);
    CHECK(size(R"({"cpu":{"quota":50000,"period":25000}})", c).vcpus == 2);
    // A period of 0 or none is the kernel's default of 100 ms.
    CHECK(size(R"({"cpu":{"quota":250000,"period":0}})", c).vcpus == 3);
    CHECK(size(R"({"cpu":{"quota":250000,"period":null}})", c).vcpus == 3);
    // No quota (0, -1, absent): the default.
    CHECK(size(R"({"cpu":{"quota":0,"period":100000}})", config(3)).vcpus == 3);
    CHECK(size(R"({"cpu":{"quota":-1,"period":100000}})", config(3)).vcpus == 3);
    CHECK(size(R"({"cpu":{"shares":1024}})", config(3)).vcpus == 3);
    // The cap, and a host that reports no CPUs still gets one.
    CHECK(size(R"({"cpu":{"quota":1000000000000}})", c, 4).vcpus == 4);
    CHECK(size(R"({"cpu":{"quota":18446744073709551615}})", c, 4).vcpus == 4);
    CHECK(size("{}", config(8), 2).vcpus == 2);
    CHECK(size("{}", config(0), 2).vcpus == 1);
    CHECK(size(R"({"cpu":{"quota":300000}})", c, 0).vcpus == 1);
}

TEST_CASE("sandbox sizing: memory is the limit in whole MiB, rounded up, plus the overhead")
{
    auto c = config(1, 256, 64);
    CHECK(size(R"({"memory":{"limit":1048576}})", c).memory_mib == 1 + 64);
    CHECK(size(R"({"memory":{"limit":1048577}})", c).memory_mib == 2 + 64);
    CHECK(size(R"({"memory":{"limit":1}})", c).memory_mib == 1 + 64);
    CHECK(size(R"({"memory":{"limit":536870912}})", config(1, 256, 0)).memory_mib == 512);
    // No limit (0, -1, null, absent, a reservation only): the default, without the overhead.
    CHECK(size(R"({"memory":{"limit":0}})", c).memory_mib == 256);
    CHECK(size(R"({"memory":{"limit":-1}})", c).memory_mib == 256);
    CHECK(size(R"({"memory":{"reservation":1073741824}})", c).memory_mib == 256);
    CHECK(size(R"({"memory":null})", c).memory_mib == 256);
    // An absurd limit does not wrap around.
    CHECK(size(R"({"memory":{"limit":9223372036854775807}})", c).memory_mib > 256);
}

TEST_CASE("sandbox sizing: resources of the wrong shape are no resources")
{
    auto c = config(2, 300, 64);
    for (const char* r : {"null", "[]", "\"x\"", "42", R"({"cpu":[],"memory":"1G"})",
                          R"({"cpu":{"quota":"200000"},"memory":{"limit":"1048576"}})",
                          R"({"cpu":{"quota":1.5e5},"memory":{"limit":true}})"}) {
        CAPTURE(r);
        VmSize s;
        CHECK_NOTHROW(s = size(r, c));
        CHECK(s.vcpus == 2);
        CHECK(s.memory_mib == 300);
    }
}

TEST_CASE("sandbox sizing: a pod's resources from CRI's sandbox annotations")
{
    json a = {{"io.kubernetes.cri.sandbox-cpu-quota", "250000"},
              {"io.kubernetes.cri.sandbox-cpu-period", "100000"},
              {"io.kubernetes.cri.sandbox-memory", "1073741824"},
              {"io.kubernetes.cri.sandbox-cpu-shares", "1024"}};
    json r = pod_resources(a);
    CHECK(r["cpu"]["quota"] == 250000);
    CHECK(r["cpu"]["period"] == 100000);
    CHECK(r["memory"]["limit"] == 1073741824);
    VmSize s = size_vm(r, config(), 8);
    CHECK(s.vcpus == 3);
    CHECK(s.memory_mib == 1024 + 64);
    // Absent, zero, negative, not decimal, too long, not a string: left out.
    for (json bad : {json("0"), json("-5"), json("12x"), json(""), json("1e9"), json("1234567890123456789"), json(42)}) {
        json r2 = pod_resources({{"io.kubernetes.cri.sandbox-memory", bad}, {"io.kubernetes.cri.sandbox-cpu-quota", bad}});
        CHECK_MESSAGE(r2.empty(), bad.dump());
    }
    CHECK(pod_resources(json::object()).empty());
    CHECK(pod_resources(json()).empty());
    // A period without a quota says nothing; a quota without a period takes the default.
    CHECK(pod_resources({{"io.kubernetes.cri.sandbox-cpu-period", "50000"}}).empty());
    CHECK(size_vm(pod_resources({{"io.kubernetes.cri.sandbox-cpu-quota", "150000"}}), config(), 8).vcpus == 2);
}

TEST_CASE("sandbox sizing: larger takes each dimension's maximum")
{
    VmSize a{.vcpus = 1, .memory_mib = 2048};
    VmSize b{.vcpus = 4, .memory_mib = 256};
    VmSize l = larger(a, b);
    CHECK(l.vcpus == 4);
    CHECK(l.memory_mib == 2048);
}
