#include "common/unix_socket.hpp"

#include <cstddef>
#include <cstring>

namespace husk {

Result<socklen_t> unix_address(const std::string& path, sockaddr_un& addr)
{
    addr = {};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return fail("socket path \"" + path + "\" is empty or too long");
    std::memcpy(addr.sun_path, path.data(), path.size());
    bool abstract = path[0] == '@';
    if (abstract)
        addr.sun_path[0] = '\0';
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
}

} // namespace husk
