#include "netns/loopback.hpp"

#include "common/fd.hpp"

#include <cstring>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

namespace husk::netns {

Result<> loopback_up()
{
    // The interface-flags ioctl is enough for lo; links to create or move go through
    // netlink when husk sets up networks itself.
    Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock)
        return fail_errno("socket for loopback setup");
    ifreq ifr {};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0)
        return fail_errno("get flags of lo");
    if (ifr.ifr_flags & IFF_UP)
        return {};
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0)
        return fail_errno("bring lo up");
    return {};
}

} // namespace husk::netns
