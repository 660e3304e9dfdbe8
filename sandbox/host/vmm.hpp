// The QEMU driver for VM sandboxes: the command line of a microvm guest that boots husk's
// guest image (an ELF vmlinux through PVH and an initramfs whose /init is husk-agent), the
// launch, and the choice of accelerator.
//
// The guest has no PCI, no firmware: a serial console into a log file, a virtio-serial port
// named "agent" whose host end is a unix socket QEMU listens on, a virtio-rng, one virtio-9p
// device per shared host directory, and a virtio-net device per tap it is given.
#pragma once

#include "common/error.hpp"

#include <string>
#include <sys/types.h>
#include <vector>

namespace husk::sandbox {

struct Share {
    std::string tag;       // the 9p mount tag the agent mounts by
    std::string host_path; // a directory
    bool readonly = false;
    // Holds mounts of other file systems (a pod's share): QEMU remaps their inode numbers so
    // that files of two devices never look alike in the guest.
    bool multidevs = false;
};

// A virtio-net device on a tap QEMU is handed open (the tap lives in the container's
// network namespace; tc redirects connect it to the interface it stands for).
struct NetDevice {
    int fd = -1;     // the tap, open in the process that launches QEMU; QEMU gets it as is
    std::string mac; // the guest interface's MAC: the host interface's
};

struct VmSpec {
    std::string qemu = "qemu-system-x86_64";
    std::string kernel; // ELF vmlinux (PVH) or a bzImage
    std::string initrd;
    unsigned vcpus = 1;
    unsigned memory_mib = 256;
    std::string accel = "tcg";   // "kvm" or "tcg"
    std::string console_log;     // the serial console, a file
    std::string agent_socket;    // QEMU listens here for the agent port
    std::vector<Share> shares;
    std::vector<NetDevice> nets;
    std::string extra_append;    // more kernel parameters
    bool probe = false;          // husk.probe=1: the agent reports and powers off
    unsigned tsc_khz = 0;        // 0: read from /proc/cpuinfo
};

// QEMU's argv for SPEC.
std::vector<std::string> qemu_argv(const VmSpec& spec);

// Starts QEMU (stdin /dev/null, stdout and stderr appended to SPEC.console_log + ".qemu"),
// dying with the calling thread's process (PR_SET_PDEATHSIG). Returns its pid.
Result<pid_t> launch(const VmSpec& spec);

// "kvm" when /dev/kvm boots a guest on this host, else "tcg". WANT is "auto", "kvm" or
// "tcg"; "kvm" without a working /dev/kvm is an error. The answer of the probe boot (SPEC
// with probe set, bounded by PROBE_TIMEOUT_MS) is cached in CACHE_DIR keyed by the boot id.
Result<std::string> choose_accel(const std::string& want, const VmSpec& probe_spec, const std::string& cache_dir,
                                 int probe_timeout_ms);

} // namespace husk::sandbox
