// What a guest is asked to configure for the network it takes over: netns::validate is the
// agent's check of every CreateContainer's interfaces and routes.
#include "netns/link.hpp"

#include <doctest.h>

using namespace husk::netns;

namespace {

Interface eth0()
{
    return Interface{.name = "eth0", .mac = "02:42:0a:e7:07:02", .mtu = 1400,
                     .addresses = {{"10.231.7.2", 24}, {"fd00::2", 64}}, .ifindex = 0};
}

std::string error_of(const std::vector<Interface>& i, const std::vector<Route>& r)
{
    auto v = validate(i, r);
    return v ? "" : v.error().message();
}

} // namespace

TEST_CASE("netns validate: a CNI-like network passes")
{
    std::vector<Route> routes = {{"0.0.0.0/0", "10.231.7.1", "eth0"}, {"10.96.0.0/12", "", "eth0"},
                                 {"::/0", "fd00::1", "eth0"}};
    CHECK(error_of({eth0()}, routes).empty());
    CHECK(error_of({}, {}).empty());
}

TEST_CASE("netns validate: names, MACs and MTUs that a link cannot have")
{
    for (std::string name : {"", "a/b", "eth:0", "0123456789abcdef", ".", "..", "e th0"}) {
        auto i = eth0();
        i.name = name;
        CHECK_MESSAGE(error_of({i}, {}).find("not a valid link name") != std::string::npos, name);
    }
    for (std::string mac : {"", "02:42:0a:e7:07", "02:42:0a:e7:07:0g", "02-42-0a-e7-07-02", "02:42:0a:e7:07:021"}) {
        auto i = eth0();
        i.mac = mac;
        CHECK_MESSAGE(error_of({i}, {}).find("is not aa:bb:cc:dd:ee:ff") != std::string::npos, mac);
    }
    for (std::string mac : {"00:00:00:00:00:00", "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff"}) {
        auto i = eth0();
        i.mac = mac;
        CHECK_MESSAGE(error_of({i}, {}).find("is zero or multicast") != std::string::npos, mac);
    }
    auto upper = eth0();
    upper.mac = "02:42:0A:E7:07:02";
    CHECK(error_of({upper}, {}).empty());
    for (unsigned mtu : {0u, 67u, 65536u}) {
        auto i = eth0();
        i.mtu = mtu;
        CHECK(error_of({i}, {}).find("is not within 68-65535") != std::string::npos);
    }
    auto twice = eth0();
    twice.name = "eth1";
    CHECK(error_of({eth0(), twice}, {}).find("appears twice") != std::string::npos);
    std::vector<Interface> many(17, eth0());
    CHECK(error_of(many, {}).find("more than 16") != std::string::npos);
}

TEST_CASE("netns validate: addresses and routes that do not parse or name no interface")
{
    for (IpAddress a : {IpAddress{"10.231.7.300", 24}, IpAddress{"10.231.7.2", 33}, IpAddress{"fd00::2", 129},
                        IpAddress{"", 0}, IpAddress{"example.com", 24}}) {
        auto i = eth0();
        i.addresses = {a};
        CHECK_MESSAGE(error_of({i}, {}).find("is not an IP address and prefix") != std::string::npos, a.address);
    }
    for (std::string dst : {"10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "::/129", "default", "10.0.0.0/2x", "/24"})
        CHECK_MESSAGE(error_of({eth0()}, {{dst, "", "eth0"}}).find("is not ADDRESS/PREFIX") != std::string::npos, dst);
    CHECK(error_of({eth0()}, {{"0.0.0.0/0", "fd00::1", "eth0"}}).find("not an address of its family") != std::string::npos);
    CHECK(error_of({eth0()}, {{"0.0.0.0/0", "10.231.7.1", "eth9"}}).find("none of the interfaces") != std::string::npos);
}
