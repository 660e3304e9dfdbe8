// What husk-agent does as PID 1 of the sandbox guest before it serves: the early mounts,
// cgroup2 with every controller delegated, kernel modules from the image, the kernel command
// line, the console, finding the virtio-serial port named "agent", and the power-off.
// Nothing here is used in the test mode.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <string>

namespace husk::agent::guest {

// Mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /run, /tmp and /sys/fs/cgroup (failures are
// printed, not fatal: a guest that half works still answers Ping), makes sure fds 0-2 are
// open, enables the cgroup controllers and loads the modules listed in
// /lib/modules/husk/order.
void early_setup();

// `husk.probe=1` on the kernel command line: the host only checks that the guest boots.
bool probe_requested();

// A line on /dev/console.
void console(const std::string& line);

// A line on /dev/console naming a step of the boot and the guest's uptime at it
// (CLOCK_BOOTTIME; /proc need not be mounted): where a sandbox's boot time goes.
void milestone(const std::string& what);

// The port named "agent", opened (waits up to timeout_ms for it to appear).
Result<Fd> open_agent_port(int timeout_ms);

// sync and power off; does not return.
[[noreturn]] void power_off();

} // namespace husk::agent::guest
