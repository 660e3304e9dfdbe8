// The one bridge from the parsed config to the cgroups library: linux.resources as
// spec::Resources -> cgroups::Limits. cgroups never sees the spec types; device rules go
// their own way (the device controller), not through here.
#pragma once

#include "cgroups/resources.hpp"
#include "runtime/spec/config.hpp"

namespace husk {

cgroups::Limits to_limits(const spec::Resources& resources);

} // namespace husk
