// The documents husk writes rather than reads: the config.json of `husk spec` (the same
// document, key for key and in the same order, as `runc spec`, so tools and people that
// diff the two see nothing) and the `husk features` report.
#include "runtime/spec/config.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace husk::spec {

namespace {

// ordered_json: key order is part of what makes the output identical to runc's.
using ojson = nlohmann::ordered_json;

ojson mount(const char* destination, const char* type, const char* source,
            std::initializer_list<const char*> options)
{
    ojson m = {{"destination", destination}, {"type", type}, {"source", source}};
    if (options.size() != 0) {
        ojson opts = ojson::array();
        for (const char* o : options)
            opts.push_back(o);
        m["options"] = std::move(opts);
    }
    return m;
}

ojson namespaces(std::initializer_list<const char*> types)
{
    ojson list = ojson::array();
    for (const char* t : types)
        list.push_back({{"type", t}});
    return list;
}

ojson id_mapping(uint32_t host_id)
{
    return ojson::array({{{"containerID", 0}, {"hostID", host_id}, {"size", 1}}});
}

} // namespace

std::string default_spec_json(bool rootless, uint32_t uid, uint32_t gid)
{
    const ojson default_caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};

    ojson process = {
        {"terminal", true},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"sh"}},
        {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
        {"cwd", "/"},
        {"capabilities",
         {{"bounding", default_caps},
          {"effective", default_caps},
          {"permitted", default_caps},
          {"ambient", default_caps}}},
        {"rlimits", ojson::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
        {"noNewPrivileges", true},
    };

    // Rootless: no gid=5 on devpts (that group is not mapped) and /sys bound from the host,
    // because a user namespace that does not own the network namespace cannot mount sysfs.
    ojson mounts = ojson::array({
        mount("/proc", "proc", "proc", {}),
        mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
        rootless ? mount("/dev/pts", "devpts", "devpts",
                         {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"})
                 : mount("/dev/pts", "devpts", "devpts",
                         {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
        mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
        mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
        rootless ? mount("/sys", "none", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro"})
                 : mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
        mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}),
    });

    // Key order follows the spec's Linux struct: mappings, resources, namespaces, paths.
    ojson linux = ojson::object();
    if (rootless) {
        linux["uidMappings"] = id_mapping(uid);
        linux["gidMappings"] = id_mapping(gid);
        // An unprivileged user cannot set device cgroup rules, so the rootless spec has none.
        linux["namespaces"] = namespaces({"pid", "ipc", "uts", "mount", "user"});
    } else {
        linux["resources"] = {{"devices", ojson::array({{{"allow", false}, {"access", "rwm"}}})}};
        linux["namespaces"] = namespaces({"pid", "network", "ipc", "uts", "mount"});
    }
    linux["maskedPaths"] = {
        "/proc/acpi",        "/proc/asound",     "/proc/kcore",       "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/sys/firmware",     "/proc/scsi",
    };
    linux["readonlyPaths"] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

    ojson doc = {
        {"ociVersion", "1.0.2-dev"},
        {"process", std::move(process)},
        {"root", {{"path", "rootfs"}, {"readonly", true}}},
        {"hostname", "runc"},
        {"mounts", std::move(mounts)},
        {"linux", std::move(linux)},
    };
    // runc indents with tabs and writes no final newline.
    return doc.dump(1, '\t');
}

std::string features_json()
{
    ojson mount_options = ojson::array();
    for (auto name : mount_option_names())
        mount_options.push_back(name);

    // Sorted, as runc lists them.
    std::vector<std::string_view> namespace_names;
    for (int t = 0; t <= static_cast<int>(NamespaceType::Time); ++t)
        namespace_names.push_back(namespace_type_name(static_cast<NamespaceType>(t)));
    std::ranges::sort(namespace_names);
    ojson namespace_list = ojson::array();
    for (auto name : namespace_names)
        namespace_list.push_back(name);

    ojson caps = ojson::array();
    for (int cap = 0; !capability_name(cap).empty(); ++cap)
        caps.push_back(capability_name(cap));

    ojson doc = {
        {"ociVersionMin", "1.0.0"},
        {"ociVersionMax", "1.1.0"},
        {"hooks", {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
        {"mountOptions", std::move(mount_options)},
        {"linux",
         {
             {"namespaces", std::move(namespace_list)},
             {"capabilities", std::move(caps)},
             {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}}},
             // Filled in by the features verb from the seccomp module.
             {"seccomp",
              {{"enabled", false},
               {"actions", ojson::array()},
               {"operators", ojson::array()},
               {"archs", ojson::array()}}},
             {"apparmor", {{"enabled", false}}},
             {"selinux", {{"enabled", false}}},
         }},
        {"annotations", ojson::object()},
    };
    // Same layout as runc's features: four spaces, final newline.
    return doc.dump(4) + "\n";
}

} // namespace husk::spec
