// husk.yaml: the host's settings for VM sandboxes, under the `sandbox:` key.
//
//   sandbox:
//     mode: none            # none | vm: where containers run when neither the io.husk.sandbox
//                           # annotation nor --sandbox says
//     image_dir: /var/lib/husk/sandbox/image   # the guest image: vmlinux + initramfs.cpio
//     kernel: ""            # overrides image_dir/vmlinux
//     initrd: ""            # overrides image_dir/initramfs.cpio
//     qemu: qemu-system-x86_64
//     accel: auto           # auto | kvm | tcg
//     overhead_mib: 64      # guest memory on top of the container's limit
//     default_memory_mib: 256   # guest memory without a limit
//     default_vcpus: 1      # vCPUs without a CPU quota
//     boot_timeout_seconds: 60
//
// The file is read from HUSK_CONFIG when set, else /etc/husk/husk.yaml; a missing file means
// every default. Unknown keys under sandbox: and values of the wrong type are errors.
#pragma once

#include "common/error.hpp"

#include <string>

namespace husk::sandbox {

struct SandboxConfig {
    std::string mode = "none";
    std::string image_dir = "/var/lib/husk/sandbox/image";
    std::string kernel;
    std::string initrd;
    std::string qemu = "qemu-system-x86_64";
    std::string accel = "auto";
    unsigned overhead_mib = 64;
    unsigned default_memory_mib = 256;
    unsigned default_vcpus = 1;
    unsigned boot_timeout_seconds = 60;

    std::string kernel_path() const { return kernel.empty() ? image_dir + "/vmlinux" : kernel; }
    std::string initrd_path() const { return initrd.empty() ? image_dir + "/initramfs.cpio" : initrd; }
};

// The default path: $HUSK_CONFIG, else /etc/husk/husk.yaml.
std::string default_config_path();

// Reads PATH ("" for default_config_path()). A missing file gives the defaults.
Result<SandboxConfig> load_config(const std::string& path);

// Parses TEXT (the whole YAML document); WHERE names it in errors.
Result<SandboxConfig> parse_config(const std::string& text, const std::string& where);

} // namespace husk::sandbox
