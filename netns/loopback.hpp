// Network namespace setup done from inside the namespace. Today: the loopback interface,
// which a new network namespace starts with down.
#pragma once

#include "common/error.hpp"

namespace husk::netns {

// Brings "lo" up in the caller's network namespace.
Result<> loopback_up();

} // namespace husk::netns
