#include "netns/link.hpp"

#include "netns/loopback.hpp"

// Before the kernel headers: glibc's definitions then keep theirs out.
#include <net/if.h>

#include <arpa/inet.h>
#include <cctype>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/nsfs.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <memory>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace husk::netns {

namespace {

constexpr const char* tap_prefix = "husktap";

template <typename T, void (*F)(T*)>
struct Deleter {
    void operator()(T* p) const
    {
        if (p)
            F(p);
    }
};
using Sock = std::unique_ptr<nl_sock, Deleter<nl_sock, nl_socket_free>>;
using Cache = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;
using Addr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;
using Link = std::unique_ptr<rtnl_link, Deleter<rtnl_link, rtnl_link_put>>;
using RAddr = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr, rtnl_addr_put>>;
using RRoute = std::unique_ptr<rtnl_route, Deleter<rtnl_route, rtnl_route_put>>;
using Qdisc = std::unique_ptr<rtnl_qdisc, Deleter<rtnl_qdisc, rtnl_qdisc_put>>;
using Cls = std::unique_ptr<rtnl_cls, Deleter<rtnl_cls, rtnl_cls_put>>;

int delete_ingress(nl_sock* sk, int index);

std::unexpected<Error> nl_fail(const std::string& what, int err)
{
    return fail(what + ": " + nl_geterror(err));
}

Result<Sock> connect_route()
{
    Sock sk(nl_socket_alloc());
    if (!sk)
        return fail("netlink: out of memory");
    if (int e = nl_connect(sk.get(), NETLINK_ROUTE); e < 0)
        return nl_fail("netlink connect", e);
    return sk;
}

std::string addr_text(nl_addr* a)
{
    char buf[INET6_ADDRSTRLEN] {};
    int family = nl_addr_get_family(a);
    if ((family != AF_INET && family != AF_INET6) || !inet_ntop(family, nl_addr_get_binary_addr(a), buf, sizeof buf))
        return "";
    return buf;
}

std::string mac_text(nl_addr* a)
{
    if (!a || nl_addr_get_len(a) != 6)
        return "";
    auto* b = static_cast<const unsigned char*>(nl_addr_get_binary_addr(a));
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
    return buf;
}

bool parse_mac(const std::string& s, unsigned char out[6])
{
    if (s.size() != 17)
        return false;
    for (int i = 0; i < 6; i++) {
        if (i > 0 && s[i * 3 - 1] != ':')
            return false;
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[i * 3 + j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + unsigned(d);
        }
        out[i] = static_cast<unsigned char>(v);
    }
    return true;
}

int family_of(const std::string& ip)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, ip.c_str(), buf) == 1)
        return AF_INET6;
    return 0;
}

// "A/N" with A an address and N within its family's width; returns the family or 0.
int parse_prefix(const std::string& s)
{
    auto slash = s.find('/');
    if (slash == std::string::npos || slash + 1 >= s.size() || s.size() - slash > 4)
        return 0;
    int family = family_of(s.substr(0, slash));
    unsigned n = 0;
    for (char c : s.substr(slash + 1)) {
        if (c < '0' || c > '9')
            return 0;
        n = n * 10 + unsigned(c - '0');
    }
    if (!family || n > (family == AF_INET ? 32u : 128u))
        return 0;
    return family;
}

bool valid_name(const std::string& n)
{
    if (n.empty() || n.size() >= IFNAMSIZ || n == "." || n == "..")
        return false;
    for (char c : n)
        if (c == '/' || c == ':' || c <= ' ' || c == 0x7f)
            return false;
    return true;
}

Result<Addr> parse_addr(const std::string& text, int family)
{
    nl_addr* a = nullptr;
    if (int e = nl_addr_parse(text.c_str(), family, &a); e < 0)
        return nl_fail("parse address " + text, e);
    return Addr(a);
}

Result<> add_ingress(nl_sock* sk, int ifindex)
{
    Qdisc q(rtnl_qdisc_alloc());
    if (!q)
        return fail("netlink: out of memory");
    rtnl_tc_set_ifindex(TC_CAST(q.get()), ifindex);
    rtnl_tc_set_parent(TC_CAST(q.get()), TC_H_INGRESS);
    rtnl_tc_set_handle(TC_CAST(q.get()), TC_HANDLE(0xffff, 0));
    if (int e = rtnl_tc_set_kind(TC_CAST(q.get()), "ingress"); e < 0)
        return nl_fail("ingress qdisc", e);
    if (int e = rtnl_qdisc_add(sk, q.get(), NLM_F_CREATE | NLM_F_EXCL); e == -NLE_EXIST)
        return fail("link " + std::to_string(ifindex) + " has an ingress qdisc already (another VM's, or tc rules of its own)");
    else if (e < 0)
        return nl_fail("add an ingress qdisc to link " + std::to_string(ifindex), e);
    return {};
}

Result<> add_redirect(nl_sock* sk, int from, int to)
{
    Cls cls(rtnl_cls_alloc());
    if (!cls)
        return fail("netlink: out of memory");
    rtnl_tc_set_ifindex(TC_CAST(cls.get()), from);
    rtnl_tc_set_parent(TC_CAST(cls.get()), TC_HANDLE(0xffff, 0));
    if (int e = rtnl_tc_set_kind(TC_CAST(cls.get()), "u32"); e < 0)
        return nl_fail("u32 filter", e);
    rtnl_cls_set_protocol(cls.get(), ETH_P_ALL);
    rtnl_cls_set_prio(cls.get(), 1);
    rtnl_u32_set_cls_terminal(cls.get());
    // One key that matches every packet: 0 under mask 0 at offset 0.
    if (int e = rtnl_u32_add_key_uint32(cls.get(), 0, 0, 0, 0); e < 0)
        return nl_fail("u32 key", e);
    rtnl_act* act = rtnl_act_alloc();
    if (!act)
        return fail("netlink: out of memory");
    rtnl_tc_set_kind(TC_CAST(act), "mirred");
    rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
    rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
    rtnl_mirred_set_ifindex(act, uint32_t(to));
    int e = rtnl_u32_add_action(cls.get(), act); // the filter holds a reference now
    rtnl_act_put(act);
    if (e < 0)
        return nl_fail("mirred action", e);
    if (int a = rtnl_cls_add(sk, cls.get(), NLM_F_CREATE | NLM_F_EXCL); a < 0)
        return nl_fail("add a redirect from link " + std::to_string(from) + " to " + std::to_string(to), a);
    return {};
}

} // namespace

Result<std::vector<Interface>> list_interfaces()
{
    auto sk = TRY(connect_route());
    nl_cache* raw = nullptr;
    if (int e = rtnl_link_alloc_cache(sk.get(), AF_UNSPEC, &raw); e < 0)
        return nl_fail("list links", e);
    Cache links(raw);
    if (int e = rtnl_addr_alloc_cache(sk.get(), &raw); e < 0)
        return nl_fail("list addresses", e);
    Cache addrs(raw);
    std::vector<Interface> out;
    for (nl_object* o = nl_cache_get_first(links.get()); o; o = nl_cache_get_next(o)) {
        auto* l = reinterpret_cast<rtnl_link*>(o);
        const char* name = rtnl_link_get_name(l);
        if (!name || (rtnl_link_get_flags(l) & IFF_LOOPBACK) || rtnl_link_get_arptype(l) != ARPHRD_ETHER
            || std::strncmp(name, tap_prefix, std::strlen(tap_prefix)) == 0)
            continue;
        Interface i;
        i.name = name;
        i.mac = mac_text(rtnl_link_get_addr(l));
        i.mtu = rtnl_link_get_mtu(l);
        i.ifindex = rtnl_link_get_ifindex(l);
        if (i.mac.empty())
            continue;
        for (nl_object* ao = nl_cache_get_first(addrs.get()); ao; ao = nl_cache_get_next(ao)) {
            auto* a = reinterpret_cast<rtnl_addr*>(ao);
            if (rtnl_addr_get_ifindex(a) != i.ifindex || rtnl_addr_get_scope(a) == RT_SCOPE_LINK)
                continue;
            nl_addr* local = rtnl_addr_get_local(a);
            std::string text = local ? addr_text(local) : "";
            if (!text.empty())
                i.addresses.push_back(IpAddress{text, unsigned(rtnl_addr_get_prefixlen(a))});
        }
        out.push_back(std::move(i));
    }
    return out;
}

Result<std::vector<Route>> list_routes(const std::vector<Interface>& interfaces)
{
    auto sk = TRY(connect_route());
    nl_cache* raw = nullptr;
    if (int e = rtnl_route_alloc_cache(sk.get(), AF_UNSPEC, 0, &raw); e < 0)
        return nl_fail("list routes", e);
    Cache routes(raw);
    std::vector<Route> out;
    for (nl_object* o = nl_cache_get_first(routes.get()); o; o = nl_cache_get_next(o)) {
        auto* r = reinterpret_cast<rtnl_route*>(o);
        if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST
            || rtnl_route_get_protocol(r) == RTPROT_KERNEL || rtnl_route_get_nnexthops(r) != 1)
            continue;
        rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
        int oif = rtnl_route_nh_get_ifindex(nh);
        const Interface* via = nullptr;
        for (const auto& i : interfaces)
            if (i.ifindex == oif)
                via = &i;
        if (!via)
            continue;
        int family = rtnl_route_get_family(r);
        nl_addr* dst = rtnl_route_get_dst(r);
        Route route;
        route.device = via->name;
        std::string d = dst && nl_addr_get_len(dst) ? addr_text(dst) : (family == AF_INET6 ? "::" : "0.0.0.0");
        if (d.empty())
            continue;
        route.destination = d + "/" + std::to_string(dst ? nl_addr_get_prefixlen(dst) : 0);
        if (nl_addr* gw = rtnl_route_nh_get_gateway(nh))
            route.gateway = addr_text(gw);
        route.metric = rtnl_route_get_priority(r);
        if (family == AF_INET6 && route.destination.starts_with("fe80:"))
            continue;
        out.push_back(std::move(route));
    }
    return out;
}

Result<> validate(const std::vector<Interface>& interfaces, const std::vector<Route>& routes)
{
    if (interfaces.size() > 16)
        return fail("more than 16 interfaces");
    for (const auto& i : interfaces) {
        unsigned char mac[6];
        if (!valid_name(i.name))
            return fail("interface name \"" + i.name + "\" is not a valid link name");
        if (!parse_mac(i.mac, mac))
            return fail("interface " + i.name + ": MAC \"" + i.mac + "\" is not aa:bb:cc:dd:ee:ff");
        if ((mac[0] & 1) || (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0)
            return fail("interface " + i.name + ": MAC " + i.mac + " is zero or multicast");
        if (i.mtu < 68 || i.mtu > 65535)
            return fail("interface " + i.name + ": MTU " + std::to_string(i.mtu) + " is not within 68-65535");
        for (const auto& a : i.addresses) {
            int f = family_of(a.address);
            if (!f || a.prefix_len > (f == AF_INET ? 32u : 128u))
                return fail("interface " + i.name + ": address " + a.address + "/" + std::to_string(a.prefix_len)
                            + " is not an IP address and prefix");
        }
        for (const auto& j : interfaces)
            if (&i != &j && (i.name == j.name || i.mac == j.mac))
                return fail("interface " + i.name + " appears twice (name or MAC)");
    }
    for (const auto& r : routes) {
        int f = parse_prefix(r.destination);
        if (!f)
            return fail("route destination \"" + r.destination + "\" is not ADDRESS/PREFIX");
        if (!r.gateway.empty() && family_of(r.gateway) != f)
            return fail("route to " + r.destination + ": gateway \"" + r.gateway + "\" is not an address of its family");
        bool known = false;
        for (const auto& i : interfaces)
            known = known || i.name == r.device;
        if (!known)
            return fail("route to " + r.destination + ": device \"" + r.device + "\" is none of the interfaces");
    }
    return {};
}

Result<Tap> open_tap(const std::string& name, unsigned mtu)
{
    if (!valid_name(name))
        return fail("tap name \"" + name + "\" is not a valid link name");
    Fd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!fd)
        return fail_errno("open /dev/net/tun");
    ifreq ifr {};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0)
        return fail_errno("create tap " + name);
    std::string made(ifr.ifr_name, ::strnlen(ifr.ifr_name, IFNAMSIZ));
    Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock)
        return fail_errno("socket");
    ifr.ifr_mtu = int(mtu);
    if (::ioctl(sock.get(), SIOCSIFMTU, &ifr) < 0)
        return fail_errno("set the MTU of " + name);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0)
        return fail_errno("flags of " + name);
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0)
        return fail_errno("bring " + name + " up");
    if (::ioctl(sock.get(), SIOCGIFINDEX, &ifr) < 0)
        return fail_errno("index of " + name);
    return Tap{std::move(fd), ifr.ifr_ifindex, made};
}

Result<> redirect_both_ways(int a, int b)
{
    auto sk = TRY(connect_route());
    // An ingress qdisc already on A is someone else's (another VM's redirect): refused, kept.
    TRY(add_ingress(sk.get(), a));
    Result<> r = add_ingress(sk.get(), b);
    if (r)
        r = add_redirect(sk.get(), a, b);
    if (r)
        r = add_redirect(sk.get(), b, a);
    if (!r) {
        for (int index : {a, b})
            (void)delete_ingress(sk.get(), index);
    }
    return r;
}

Result<> remove_ingress(const std::string& name)
{
    unsigned index = if_nametoindex(name.c_str());
    if (index == 0)
        return {};
    auto sk = TRY(connect_route());
    if (int e = delete_ingress(sk.get(), int(index)); e < 0 && e != -NLE_OBJ_NOTFOUND && e != -NLE_NODEV
        && e != -NLE_INVAL)
        return nl_fail("remove the ingress qdisc of " + name, e);
    return {};
}

namespace {

int delete_ingress(nl_sock* sk, int index)
{
    Qdisc q(rtnl_qdisc_alloc());
    if (!q)
        return -NLE_NOMEM;
    rtnl_tc_set_ifindex(TC_CAST(q.get()), index);
    rtnl_tc_set_parent(TC_CAST(q.get()), TC_H_INGRESS);
    rtnl_tc_set_handle(TC_CAST(q.get()), TC_HANDLE(0xffff, 0));
    (void)rtnl_tc_set_kind(TC_CAST(q.get()), "ingress");
    return rtnl_qdisc_delete(sk, q.get());
}

} // namespace

Result<> configure(const std::vector<Interface>& interfaces, const std::vector<Route>& routes)
{
    TRY(validate(interfaces, routes));
    TRY(loopback_up());
    if (interfaces.empty())
        return {};
    auto sk = TRY(connect_route());
    nl_cache* raw = nullptr;
    if (int e = rtnl_link_alloc_cache(sk.get(), AF_UNSPEC, &raw); e < 0)
        return nl_fail("list links", e);
    Cache links(raw);
    for (const auto& want : interfaces) {
        std::string mac = want.mac;
        for (char& c : mac)
            c = char(std::tolower(static_cast<unsigned char>(c)));
        rtnl_link* found = nullptr;
        for (nl_object* o = nl_cache_get_first(links.get()); o && !found; o = nl_cache_get_next(o)) {
            auto* l = reinterpret_cast<rtnl_link*>(o);
            if (rtnl_link_get_arptype(l) == ARPHRD_ETHER && mac_text(rtnl_link_get_addr(l)) == mac)
                found = l;
        }
        if (!found)
            return fail("no link with MAC " + want.mac + " for interface " + want.name);
        const int index = rtnl_link_get_ifindex(found);
        Link change(rtnl_link_alloc());
        if (!change)
            return fail("netlink: out of memory");
        if (want.name != rtnl_link_get_name(found))
            rtnl_link_set_name(change.get(), want.name.c_str());
        rtnl_link_set_mtu(change.get(), want.mtu);
        if (int e = rtnl_link_change(sk.get(), found, change.get(), 0); e < 0)
            return nl_fail("name link " + std::to_string(index) + " " + want.name + " with MTU " + std::to_string(want.mtu), e);
        Link up(rtnl_link_alloc());
        Link by_index(rtnl_link_alloc());
        if (!up || !by_index)
            return fail("netlink: out of memory");
        rtnl_link_set_flags(up.get(), IFF_UP);
        rtnl_link_set_ifindex(by_index.get(), index);
        if (int e = rtnl_link_change(sk.get(), by_index.get(), up.get(), 0); e < 0)
            return nl_fail("bring " + want.name + " up", e);
        for (const auto& a : want.addresses) {
            auto local = TRY(parse_addr(a.address + "/" + std::to_string(a.prefix_len), family_of(a.address)));
            RAddr addr(rtnl_addr_alloc());
            if (!addr)
                return fail("netlink: out of memory");
            rtnl_addr_set_ifindex(addr.get(), index);
            // The address was in use on the host already: no duplicate detection to wait for.
            if (family_of(a.address) == AF_INET6)
                rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
            if (int e = rtnl_addr_set_local(addr.get(), local.get()); e < 0)
                return nl_fail("address " + a.address, e);
            if (int e = rtnl_addr_add(sk.get(), addr.get(), 0); e < 0 && e != -NLE_EXIST)
                return nl_fail("add " + a.address + "/" + std::to_string(a.prefix_len) + " to " + want.name, e);
        }
    }
    // On-link routes first: a gateway must be reachable when its route is added.
    for (int pass = 0; pass < 2; pass++) {
        for (const auto& r : routes) {
            if (r.gateway.empty() != (pass == 0))
                continue;
            int family = parse_prefix(r.destination);
            unsigned index = if_nametoindex(r.device.c_str());
            if (index == 0)
                return fail_errno("route to " + r.destination + ": link " + r.device);
            auto dst = TRY(parse_addr(r.destination, family));
            RRoute route(rtnl_route_alloc());
            rtnl_route_set_family(route.get(), uint8_t(family));
            rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
            rtnl_route_set_type(route.get(), RTN_UNICAST);
            rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
            rtnl_route_set_scope(route.get(), r.gateway.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
            if (int e = rtnl_route_set_dst(route.get(), dst.get()); e < 0)
                return nl_fail("route to " + r.destination, e);
            Addr gw;
            if (!r.gateway.empty())
                gw = TRY(parse_addr(r.gateway, family));
            if (r.metric)
                rtnl_route_set_priority(route.get(), r.metric);
            rtnl_nexthop* nh = rtnl_route_nh_alloc();
            if (!nh)
                return fail("netlink: out of memory");
            rtnl_route_nh_set_ifindex(nh, int(index));
            if (gw)
                rtnl_route_nh_set_gateway(nh, gw.get());
            rtnl_route_add_nexthop(route.get(), nh); // the route owns it now
            if (int e = rtnl_route_add(sk.get(), route.get(), NLM_F_CREATE | NLM_F_EXCL); e < 0 && e != -NLE_EXIST)
                return nl_fail("add the route to " + r.destination + (r.gateway.empty() ? "" : " via " + r.gateway)
                                   + " dev " + r.device,
                               e);
        }
    }
    return {};
}

Result<NetnsEntry> NetnsEntry::enter(const std::string& path)
{
    NetnsEntry entry;
    entry.m_back = Fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!entry.m_back)
        return fail_errno("open this thread's network namespace");
    // Non-blocking: a FIFO at PATH must not hang the open.
    Fd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!target)
        return fail_errno("open network namespace " + path);
    if (::ioctl(target.get(), NS_GET_NSTYPE) != CLONE_NEWNET)
        return fail("enter network namespace " + path + ": not a network namespace");
    if (::setns(target.get(), CLONE_NEWNET) < 0)
        return fail_errno("enter network namespace " + path);
    return entry;
}

NetnsEntry::~NetnsEntry()
{
    // Staying in the container's namespace would put whatever runs next (the monitor, QEMU)
    // there: not a state to go on from.
    if (m_back && ::setns(m_back.get(), CLONE_NEWNET) < 0)
        std::abort();
}

} // namespace husk::netns
