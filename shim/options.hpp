// What the shim is told: its command line (containerd passes Go-style flags), its config file
// (/etc/husk/shim.yaml, read with yaml-cpp) and the runtime options containerd sends as a
// protobuf Any (at `start` on stdin, and in CreateTaskRequest.options).
#pragma once

#include "common/error.hpp"
#include "shim/runtime.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace husk::shim {

// `containerd-shim-husk-v2 -namespace NS -address A -publish-binary B -id ID [-bundle DIR]
// [-debug] [start|delete]`. Flags take "-name value", "-name=value" or "--name ..."; a
// bool flag takes no value (or "=true"/"=false").
struct ShimArgs {
    std::string ns;
    std::string id;
    std::string address;        // containerd's gRPC socket
    std::string publish_binary; // containerd itself, for `publish`
    std::string bundle;
    std::string socket;
    bool debug = false;
    bool version = false;
    std::string action; // "start", "delete", or empty: serve
};

Result<ShimArgs> parse_args(int argc, const char* const* argv);

// The shim's own settings. The config file:
//   runtime: /usr/local/bin/husk    # the OCI runtime binary (default: husk in PATH)
//   root: /run/containerd/husk      # state roots, one directory per containerd namespace
//   systemd_cgroup: false
//   debug: false
//   sandbox: vm                     # husk's --sandbox for every container: vm or none
//   sandbox_config: /etc/husk/husk.yaml   # husk.yaml for the runtime (HUSK_CONFIG)
// A RuntimeClass whose ConfigPath names a file with `sandbox: vm` puts its pods in micro-VMs.
struct ShimConfig {
    std::string runtime = "husk";
    std::string root = "/run/containerd/husk";
    bool systemd_cgroup = false;
    bool debug = false;
    std::string sandbox;
    std::string sandbox_config;
};

// The file's path: $HUSK_SHIM_CONFIG, else /etc/husk/shim.yaml.
std::string default_config_path();
// Reads a config file. A missing file at the default path is no error (defaults apply); a
// missing file named explicitly, bad YAML or an unknown key is.
Result<ShimConfig> load_config(const std::string& path, bool must_exist);

// The runtime options containerd sends, decoded from the Any:
//  - type "containerd.runc.v1.Options" (ctr, and runtime_type io.containerd.husk.v2 with
//    [options] in containerd's config): BinaryName, Root, SystemdCgroup;
//  - type "runtimeoptions.v1.Options" (CRI with ConfigPath): the path of a config file.
// Unknown types are ignored: containerd may send options meant for another shim.
struct RuntimeOptions {
    std::string binary_name;
    std::string root;
    bool systemd_cgroup = false;
    std::string config_path;
};
Result<RuntimeOptions> decode_runtime_options(std::string_view type_url, std::string_view value);
// A serialized google.protobuf.Any (what `start` reads from stdin), then as above. Empty input
// is no options.
Result<RuntimeOptions> decode_runtime_options_any(std::string_view any_bytes);

// The runtime configuration for one namespace: options over the config file over defaults.
RuntimeConfig runtime_config(const ShimConfig& config, const RuntimeOptions& options, const std::string& ns);

// A minimal protobuf wire reader: the fields of one message, by number. Length-delimited
// fields keep their bytes, varints their value (a repeated field keeps its last value).
struct WireFields {
    std::map<std::uint32_t, std::string> bytes;
    std::map<std::uint32_t, std::uint64_t> varints;
};
Result<WireFields> read_wire_fields(std::string_view message);

} // namespace husk::shim
