// Capabilities of the container process, through libcap. The sets are checked in the
// parent (so an unavailable capability is a clear error before anything is built) and
// applied by the container init in two steps around its change of user.
#pragma once

#include "common/error.hpp"
#include "runtime/spec/config.hpp"

namespace husk::caps {

// Fails naming the first requested capability this kernel or husk's own bounding set
// cannot grant.
Result<> check_available(const spec::Capabilities& caps);

// Before the user change: drop from the bounding set everything not listed, and keep
// permitted capabilities across setuid.
Result<> prepare_for_user_change(const spec::Capabilities* caps);

// After the user change: set effective/permitted/inheritable exactly, then raise ambient.
// nullptr (no "capabilities" in the spec) means none at all.
Result<> apply(const spec::Capabilities* caps);

// The highest capability number this kernel knows.
int last_cap();

} // namespace husk::caps
