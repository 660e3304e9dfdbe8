// The one bridge from the parsed config to the cgroups library: linux.resources as
// spec::Resources -> cgroups::Limits. cgroups never sees the spec types; device rules go
// their own way (the device controller), not through here.
#pragma once

#include "cgroups/resources.hpp"
#include "runtime/spec/config.hpp"

namespace husk {

cgroups::Limits to_limits(const spec::Resources& resources);

// The device rules of a container: linux.resources.devices in order, then the devices
// every container may use (null, zero, full, random, urandom, tty, console, the pty
// multiplexer and ptys, tun; mknod of any), then linux.devices' own nodes.
std::vector<cgroups::DeviceRule> device_rules(const spec::Config& config);

} // namespace husk
