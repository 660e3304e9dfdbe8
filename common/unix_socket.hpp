// AF_UNIX addresses from paths, for every socket husk connects to or binds ("@name" is an
// abstract socket: a leading NUL and no terminator).
#pragma once

#include "common/error.hpp"

#include <string>
#include <sys/socket.h>
#include <sys/un.h>

namespace husk {

// Fills `addr` for `path` and returns the address length to pass to bind/connect/sendto.
Result<socklen_t> unix_address(const std::string& path, sockaddr_un& addr);

} // namespace husk
