// husk::spec::Config: the bundle's config.json, parsed once and validated. Everything
// downstream (rootfs, process, cgroups, hooks) reads this typed form, never the JSON.
// Values are already converted to what the kernel takes (mount flags, rlimit numbers,
// capability numbers), so the container child only copies and calls.
#pragma once

#include "common/error.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace husk::spec {

enum class NamespaceType { Pid, Network, Mount, Ipc, Uts, User, Cgroup, Time };

struct Namespace {
    NamespaceType type;
    std::string path; // empty: create a new one; otherwise join this one
};

struct IdMapping {
    uint32_t container_id = 0;
    uint32_t host_id = 0;
    uint32_t size = 0;
};

// One spec mount with its options already split into what mount(2) wants.
struct Mount {
    std::string destination; // absolute, cleaned, inside the container
    std::string type;        // may be empty for bind mounts
    std::string source;      // for binds: absolute host path (relative ones taken from the bundle)
    unsigned long flags = 0;       // MS_* set by options (MS_BIND, MS_RDONLY, MS_NOSUID, ...)
    unsigned long clear_flags = 0; // MS_* explicitly cleared ("rw", "suid", "dev", "exec", ...)
    unsigned long propagation = 0; // MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (| MS_REC), 0: none
    std::string data;        // unrecognised options, comma-joined, for the filesystem
    std::vector<std::string> options; // as written, for hooks/state and diagnostics
    bool is_bind() const;
};

struct Device {
    std::string path; // absolute, cleaned, inside the container
    char type = 'c';  // 'c', 'b', 'u' (unbuffered char), 'p' (fifo)
    int64_t major = 0;
    int64_t minor = 0;
    std::optional<uint32_t> file_mode;
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
};

// linux.resources.devices: cgroup device access rules.
struct DeviceRule {
    bool allow = false;
    char type = 'a'; // 'a', 'c', 'b'
    std::optional<int64_t> major; // nullopt: any ('*')
    std::optional<int64_t> minor;
    std::string access; // subset of "rwm"
};

// linux.resources.blockIO.weightDevice[].
struct BlockIoWeightDevice {
    int64_t major = 0;
    int64_t minor = 0;
    std::optional<uint16_t> weight;
    std::optional<uint16_t> leaf_weight;
};

// linux.resources.blockIO.throttle*Device[].
struct BlockIoThrottleDevice {
    int64_t major = 0;
    int64_t minor = 0;
    uint64_t rate = 0;
};

// linux.resources.hugepageLimits[].
struct HugepageLimit {
    std::string page_size; // "2MB", "1GB", "64KB": as the kernel names its hugetlb files
    uint64_t limit = 0;
};

// linux.resources.network.priorities[].
struct InterfacePriority {
    std::string name;
    uint32_t priority = 0;
};

// linux.resources.rdma values.
struct RdmaLimit {
    std::optional<uint32_t> hca_handles;
    std::optional<uint32_t> hca_objects;
};

// linux.resources, flattened: <object>_<field>. Absent fields are nullopt (or empty), so
// that `update` can tell "leave alone" from a value.
struct Resources {
    std::vector<DeviceRule> devices;
    // memory
    std::optional<int64_t> memory_limit;
    std::optional<int64_t> memory_reservation;
    std::optional<int64_t> memory_swap;
    std::optional<int64_t> memory_kernel;
    std::optional<int64_t> memory_kernel_tcp;
    std::optional<uint64_t> memory_swappiness;
    std::optional<bool> memory_disable_oom_killer;
    std::optional<bool> memory_use_hierarchy;
    std::optional<bool> memory_check_before_update;
    // cpu
    std::optional<uint64_t> cpu_shares;
    std::optional<int64_t> cpu_quota;
    std::optional<uint64_t> cpu_burst;
    std::optional<uint64_t> cpu_period;
    std::optional<int64_t> cpu_realtime_runtime;
    std::optional<uint64_t> cpu_realtime_period;
    std::string cpu_cpus;
    std::string cpu_mems;
    std::optional<int64_t> cpu_idle;
    // pids
    std::optional<int64_t> pids_limit;
    // blockIO
    std::optional<uint16_t> blkio_weight;
    std::optional<uint16_t> blkio_leaf_weight;
    std::vector<BlockIoWeightDevice> blkio_weight_device;
    std::vector<BlockIoThrottleDevice> blkio_throttle_read_bps_device;
    std::vector<BlockIoThrottleDevice> blkio_throttle_write_bps_device;
    std::vector<BlockIoThrottleDevice> blkio_throttle_read_iops_device;
    std::vector<BlockIoThrottleDevice> blkio_throttle_write_iops_device;
    std::vector<HugepageLimit> hugepage_limits;
    // network
    std::optional<uint32_t> network_class_id;
    std::vector<InterfacePriority> network_priorities;
    std::map<std::string, RdmaLimit> rdma; // device name -> limits
    std::map<std::string, std::string> unified;
};

struct Rlimit {
    int resource = 0; // RLIMIT_* number
    uint64_t soft = 0;
    uint64_t hard = 0;
};

// Capability sets as capability numbers (CAP_*), in the order given.
struct Capabilities {
    std::vector<int> bounding;
    std::vector<int> effective;
    std::vector<int> inheritable;
    std::vector<int> permitted;
    std::vector<int> ambient;
};

struct User {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::optional<uint32_t> umask;
    std::vector<uint32_t> additional_gids;
};

struct ConsoleSize {
    uint32_t height = 0;
    uint32_t width = 0;
};

struct Process {
    bool terminal = false;
    std::optional<ConsoleSize> console_size;
    User user;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd = "/"; // absolute
    std::optional<Capabilities> capabilities; // nullopt: no capabilities at all
    std::vector<Rlimit> rlimits;
    bool no_new_privileges = false;
    std::optional<int> oom_score_adj;
    std::string apparmor_profile;
    std::string selinux_label;
};

struct Hook {
    std::string path; // absolute
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::optional<int> timeout; // seconds, > 0
};

struct Hooks {
    std::vector<Hook> prestart;
    std::vector<Hook> create_runtime;
    std::vector<Hook> create_container;
    std::vector<Hook> start_container;
    std::vector<Hook> poststart;
    std::vector<Hook> poststop;
};

// linux.timeOffsets: clock name ("monotonic", "boottime") -> offset.
struct TimeOffset {
    int64_t secs = 0;
    uint32_t nanosecs = 0;
};

struct Linux {
    std::vector<Namespace> namespaces;
    std::vector<IdMapping> uid_mappings;
    std::vector<IdMapping> gid_mappings;
    std::map<std::string, TimeOffset> time_offsets;
    std::vector<Device> devices;
    std::string cgroups_path; // as written; empty: the runtime picks one
    Resources resources;
    std::map<std::string, std::string> sysctl;
    unsigned long rootfs_propagation = 0; // MS_* (| MS_REC); 0: the default (rslave)
    std::vector<std::string> masked_paths;
    std::vector<std::string> readonly_paths;
    std::string mount_label;
    // linux.seccomp kept as its JSON text until the seccomp module compiles it.
    std::string seccomp_json;
    std::optional<std::string> personality_domain; // "LINUX" or "LINUX32"

    bool has_namespace(NamespaceType t) const;
    const Namespace* find_namespace(NamespaceType t) const;
};

struct Root {
    std::string path; // absolute (relative ones are taken from the bundle)
    bool readonly = false;
};

struct Config {
    std::string oci_version;
    Root root;
    bool has_process = false; // the spec allows a config without process (not for create)
    Process process;
    std::string hostname;
    std::string domainname;
    std::vector<Mount> mounts;
    Hooks hooks;
    std::map<std::string, std::string> annotations;
    Linux linux;
};

// Parses and validates config.json text. `bundle` is the absolute bundle directory:
// relative root.path and bind sources are resolved against it. Errors name the JSON path:
// "process.rlimits[1].type: unknown rlimit RLIMIT_FOO".
Result<Config> parse_config(std::string_view json_text, const std::string& bundle);

// Reads BUNDLE/config.json and parses it.
Result<Config> load_config(const std::string& bundle);

// Parses one OCI "process" object (as `exec --process FILE` takes), same rules and
// error paths as inside config.json (prefixed "process.").
Result<Process> parse_process(std::string_view json_text);

// Parses one OCI "linux.resources" object (as `update -r FILE` takes), errors prefixed
// "resources.".
Result<Resources> parse_resources(std::string_view json_text);

// The config.json `husk spec` writes: the same document runc's `spec` writes
// (rootless: the variant with a user namespace mapped to the caller).
std::string default_spec_json(bool rootless, uint32_t uid, uint32_t gid);

// `husk features` output (runtime-spec features.md schema), pretty-printed.
std::string features_json();

// Name tables shared by parsing and `features`.
std::optional<int> capability_from_name(std::string_view name); // "CAP_KILL" -> 5
std::optional<int> rlimit_from_name(std::string_view name);     // "RLIMIT_NOFILE" -> 7
std::string_view namespace_type_name(NamespaceType t);          // NamespaceType::Network -> "network"
std::string_view capability_name(int cap);                      // 5 -> "CAP_KILL"; "" when unknown
std::vector<std::string_view> mount_option_names();             // every option parse_config knows, sorted

} // namespace husk::spec
