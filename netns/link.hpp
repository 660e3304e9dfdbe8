// Network links through rtnetlink (libnl-route): what a VM sandbox needs to carry a
// container's network into its guest.
//
// On the host, in the container's network namespace: the ethernet interfaces there (a CNI
// veth) with their addresses and routes, a tap device for each, and tc ingress redirects
// between the two in both directions, so every frame the veth receives leaves through the
// tap to the guest and every frame the guest sends leaves through the veth. In the guest:
// the same MAC, name, MTU, addresses and routes on the virtio-net interface.
//
// Every function works in the calling thread's network namespace (NetnsEntry switches it).
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <string>
#include <vector>

namespace husk::netns {

struct IpAddress {
    std::string address; // "10.1.2.3" or "fd00::3"
    unsigned prefix_len = 0;
    bool operator==(const IpAddress&) const = default;
};

struct Route {
    std::string destination; // "10.1.2.0/24", "0.0.0.0/0", "::/0"
    std::string gateway;     // empty: on-link
    std::string device;      // the interface's name
    unsigned metric = 0;     // the route's priority
    bool operator==(const Route&) const = default;
};

struct Interface {
    std::string name;
    std::string mac; // "aa:bb:cc:dd:ee:ff", lower case
    unsigned mtu = 1500;
    std::vector<IpAddress> addresses; // link-local IPv6 ones left out: the guest makes its own
    int ifindex = 0;                  // on the host; not carried to the guest
};

// The ethernet interfaces of the current namespace (not lo, not husk's taps), with their
// global addresses.
Result<std::vector<Interface>> list_interfaces();

// The main table's unicast routes through those interfaces, but the ones the kernel adds by
// itself for an address (proto kernel).
Result<std::vector<Route>> list_routes(const std::vector<Interface>& interfaces);

// Checks what a guest is asked to configure: names, MACs, MTUs, addresses and routes that
// parse, and routes naming one of the interfaces.
Result<> validate(const std::vector<Interface>& interfaces, const std::vector<Route>& routes);

// A tap device NAME (IFF_TAP, IFF_NO_PI, IFF_VNET_HDR; a "%d" in NAME lets the kernel number
// it), MTU set and up. It lives as long as the returned descriptor (and its copies) stay
// open. Also returns its name and ifindex.
struct Tap {
    Fd fd;
    int ifindex = 0;
    std::string name;
};
Result<Tap> open_tap(const std::string& name, unsigned mtu);

// An ingress qdisc on both links and a u32 match-all filter on each that redirects to the
// other's egress (mirred). A qdisc already on A (another VM's redirect) is refused and kept;
// on any other failure nothing of this call is left.
Result<> redirect_both_ways(int ifindex_a, int ifindex_b);

// Removes the ingress qdisc (and so its filters) from the link NAME; a link or qdisc that is
// not there is not an error.
Result<> remove_ingress(const std::string& name);

// In the guest: finds each interface's link by MAC, names it, sets its MTU, brings it up and
// adds its addresses, then adds the routes (existing ones are kept). Brings lo up.
Result<> configure(const std::vector<Interface>& interfaces, const std::vector<Route>& routes);

// Switches the calling thread to the network namespace at PATH until destroyed.
class NetnsEntry {
public:
    static Result<NetnsEntry> enter(const std::string& path);
    NetnsEntry(NetnsEntry&&) = default;
    ~NetnsEntry();

private:
    NetnsEntry() = default;
    Fd m_back;
};

} // namespace husk::netns
