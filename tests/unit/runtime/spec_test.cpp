// Unit tests for runtime/spec: config.json parsing and validation (every bad input names its
// JSON path), mount option translation, path resolution against the bundle, and the
// documents `husk spec` / `husk features` write.
#include "runtime/spec/config.hpp"

#include <doctest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

using namespace husk;
using namespace husk::spec;
using json = nlohmann::json;

namespace {

// What `runc spec` (runc 1.1.5) writes, as data; runc's file is this document in this key
// order, indented with tabs, with no final newline.
constexpr std::string_view runc_spec = R"runc(
{"ociVersion": "1.0.2-dev", "process": {"terminal": true, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
"env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
"cwd": "/", "capabilities": {"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"], "permitted": ["CAP_AUDIT_WRITE",
"CAP_KILL", "CAP_NET_BIND_SERVICE"], "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]},
"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}], "noNewPrivileges": true},
"root": {"path": "rootfs", "readonly": true}, "hostname": "runc", "mounts": [{"destination": "/proc",
"type": "proc", "source": "proc"}, {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
"options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}, {"destination": "/dev/pts",
"type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
"mode=0620", "gid=5"]}, {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid",
"noexec", "nodev", "mode=1777", "size=65536k"]}, {"destination": "/dev/mqueue", "type": "mqueue",
"source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}, {"destination": "/sys", "type": "sysfs",
"source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}, {"destination": "/sys/fs/cgroup",
"type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime",
"ro"]}], "linux": {"resources": {"devices": [{"allow": false, "access": "rwm"}]}, "namespaces": [{"type": "pid"},
{"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}], "maskedPaths": ["/proc/acpi",
"/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
"/proc/sched_debug", "/sys/firmware", "/proc/scsi"], "readonlyPaths": ["/proc/bus", "/proc/fs",
"/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]}})runc";

// `runc spec --rootless`, run as root (so the mappings name host uid and gid 0).
constexpr std::string_view runc_spec_rootless = R"runc(
{"ociVersion": "1.0.2-dev", "process": {"terminal": true, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
"env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
"cwd": "/", "capabilities": {"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"], "permitted": ["CAP_AUDIT_WRITE",
"CAP_KILL", "CAP_NET_BIND_SERVICE"], "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]},
"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}], "noNewPrivileges": true},
"root": {"path": "rootfs", "readonly": true}, "hostname": "runc", "mounts": [{"destination": "/proc",
"type": "proc", "source": "proc"}, {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
"options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}, {"destination": "/dev/pts",
"type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
"mode=0620"]}, {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid",
"noexec", "nodev", "mode=1777", "size=65536k"]}, {"destination": "/dev/mqueue", "type": "mqueue",
"source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}, {"destination": "/sys", "type": "none",
"source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}, {"destination": "/sys/fs/cgroup",
"type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime",
"ro"]}], "linux": {"uidMappings": [{"containerID": 0, "hostID": 0, "size": 1}], "gidMappings": [{"containerID": 0,
"hostID": 0, "size": 1}], "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
{"type": "mount"}, {"type": "user"}], "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore",
"/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
"/sys/firmware", "/proc/scsi"], "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
"/proc/sysrq-trigger"]}})runc";

// runc's layout of a document: key order kept, tab indentation, no final newline.
std::string runc_layout(std::string_view doc) { return nlohmann::ordered_json::parse(doc).dump(1, '\t'); }

const std::string bundle = "/run/bundles/b1";

// The smallest config create accepts; bad cases are this plus one mistake.
json base_config()
{
    return json::parse(R"({
        "ociVersion": "1.1.0",
        "root": {"path": "rootfs"},
        "process": {"args": ["sh"], "cwd": "/"},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]}
    })");
}

// base_config() with an RFC 7386 merge patch applied (null deletes a key).
std::string patched(std::string_view patch)
{
    json doc = base_config();
    doc.merge_patch(json::parse(patch));
    return doc.dump();
}

Result<Config> parse_patched(std::string_view patch) { return parse_config(patched(patch), bundle); }

Config parse_ok(std::string_view text)
{
    auto c = parse_config(text, bundle);
    if (!c)
        FAIL_CHECK("unexpected error: " << c.error().message());
    REQUIRE(c.has_value());
    return std::move(*c);
}

// A mount parsed from a single-mount config.
Mount mount_of(std::string_view mount_json)
{
    json doc = base_config();
    doc["mounts"] = json::array({json::parse(mount_json)});
    Config c = parse_ok(doc.dump());
    REQUIRE(c.mounts.size() == 1);
    return c.mounts[0];
}

struct BadCase {
    const char* patch;    // merged into base_config()
    const char* expected; // must appear in the error message
};

void check_bad(const BadCase& bc)
{
    CAPTURE(bc.patch);
    auto c = parse_patched(bc.patch);
    REQUIRE_FALSE(c.has_value());
    CAPTURE(c.error().message());
    CHECK(c.error().message().find(bc.expected) != std::string::npos);
    CHECK(c.error().code() == 0);
}

} // namespace

TEST_CASE("spec: default_spec_json is byte-for-byte runc's document")
{
    CHECK(default_spec_json(false, 0, 0) == runc_layout(runc_spec));
    CHECK(default_spec_json(true, 0, 0) == runc_layout(runc_spec_rootless));
    // And as data, whatever the formatting.
    CHECK(json::parse(default_spec_json(false, 1000, 1000)) == json::parse(runc_spec));
    CHECK(json::parse(default_spec_json(true, 0, 0)) == json::parse(runc_spec_rootless));
}

TEST_CASE("spec: rootless default maps the caller's uid and gid")
{
    json doc = json::parse(default_spec_json(true, 1000, 1001));
    CHECK(doc["linux"]["uidMappings"] == json::parse(R"([{"containerID":0,"hostID":1000,"size":1}])"));
    CHECK(doc["linux"]["gidMappings"] == json::parse(R"([{"containerID":0,"hostID":1001,"size":1}])"));
    // Everything else is the same as for root.
    json expected = json::parse(runc_spec_rootless);
    expected["linux"]["uidMappings"][0]["hostID"] = 1000;
    expected["linux"]["gidMappings"][0]["hostID"] = 1001;
    CHECK(doc == expected);
}

TEST_CASE("spec: the default spec parses")
{
    Config c = parse_ok(default_spec_json(false, 0, 0));
    CHECK(c.oci_version == "1.0.2-dev");
    CHECK(c.root.path == bundle + "/rootfs");
    CHECK(c.root.readonly);
    REQUIRE(c.has_process);
    CHECK(c.process.terminal);
    CHECK(c.process.args == std::vector<std::string>{"sh"});
    CHECK(c.process.cwd == "/");
    CHECK(c.process.env.size() == 2);
    CHECK(c.process.no_new_privileges);
    REQUIRE(c.process.capabilities.has_value());
    CHECK(c.process.capabilities->bounding == std::vector<int>{29, 5, 10});
    CHECK(c.process.capabilities->inheritable.empty());
    CHECK(c.process.capabilities->ambient == std::vector<int>{29, 5, 10});
    REQUIRE(c.process.rlimits.size() == 1);
    CHECK(c.process.rlimits[0].resource == RLIMIT_NOFILE);
    CHECK(c.process.rlimits[0].soft == 1024);
    CHECK(c.process.rlimits[0].hard == 1024);
    CHECK(c.hostname == "runc");
    REQUIRE(c.mounts.size() == 7);
    CHECK(c.mounts[0].destination == "/proc");
    CHECK(c.mounts[0].flags == 0);
    CHECK(c.mounts[1].flags == (MS_NOSUID | MS_STRICTATIME));
    CHECK(c.mounts[1].data == "mode=755,size=65536k");
    CHECK(c.mounts[2].data == "newinstance,ptmxmode=0666,mode=0620,gid=5");
    CHECK(c.mounts[5].flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
    CHECK(c.mounts[6].flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY));
    REQUIRE(c.linux.namespaces.size() == 5);
    CHECK(c.linux.has_namespace(NamespaceType::Network));
    CHECK_FALSE(c.linux.has_namespace(NamespaceType::User));
    REQUIRE(c.linux.resources.devices.size() == 1);
    CHECK_FALSE(c.linux.resources.devices[0].allow);
    CHECK(c.linux.resources.devices[0].type == 'a');
    CHECK_FALSE(c.linux.resources.devices[0].major.has_value());
    CHECK(c.linux.resources.devices[0].access == "rwm");
    CHECK(c.linux.masked_paths.size() == 10);
    CHECK(c.linux.readonly_paths.size() == 5);
    CHECK(c.linux.seccomp_json.empty());
    CHECK(c.linux.rootfs_propagation == 0);

    Config r = parse_ok(default_spec_json(true, 1000, 1000));
    CHECK(r.linux.has_namespace(NamespaceType::User));
    CHECK_FALSE(r.linux.has_namespace(NamespaceType::Network));
    REQUIRE(r.linux.uid_mappings.size() == 1);
    CHECK(r.linux.uid_mappings[0].host_id == 1000);
    CHECK(r.linux.uid_mappings[0].size == 1);
    CHECK(r.mounts[5].is_bind());
    CHECK(r.mounts[5].source == "/sys");
    CHECK(r.mounts[5].flags == (MS_BIND | MS_REC | MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
}

TEST_CASE("spec: a document with every field")
{
    const char* text = R"({
        "ociVersion": "1.1.0",
        "root": {"path": "/srv/roots/c1", "readonly": false},
        "hostname": "box",
        "domainname": "example.org",
        "process": {
            "terminal": false,
            "consoleSize": {"height": 24, "width": 80},
            "user": {"uid": 1000, "gid": 1001, "umask": 18, "additionalGids": [5, 6]},
            "args": ["/bin/sh", "-c", "echo hi"],
            "env": ["PATH=/bin", "EMPTY=", "WITH=equals=sign"],
            "cwd": "/home/user",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"],
                "effective": ["CAP_KILL"],
                "inheritable": ["CAP_SETUID"],
                "permitted": ["CAP_KILL", "CAP_NET_RAW"],
                "ambient": []
            },
            "rlimits": [
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615},
                {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200}
            ],
            "noNewPrivileges": true,
            "oomScoreAdj": -500,
            "apparmorProfile": "husk-default",
            "selinuxLabel": "system_u:system_r:container_t:s0"
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/data", "type": "bind", "source": "data", "options": ["ro"]}
        ],
        "hooks": {
            "prestart": [{"path": "/usr/bin/pre", "args": ["pre", "x"], "env": ["A=b"], "timeout": 5}],
            "createRuntime": [{"path": "/usr/bin/cr"}],
            "createContainer": [{"path": "/usr/bin/cc"}],
            "startContainer": [{"path": "/usr/bin/sc"}],
            "poststart": [{"path": "/usr/bin/ps1"}, {"path": "/usr/bin/ps2"}],
            "poststop": [{"path": "/usr/bin/stop"}]
        },
        "annotations": {"org.example.key": "value"},
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "network", "path": "/var/run/netns/n1"},
                {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "user"},
                {"type": "cgroup"}, {"type": "time"}
            ],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 1000}],
            "timeOffsets": {"monotonic": {"secs": 86400, "nanosecs": 5}, "boottime": {"secs": -10}},
            "devices": [
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0},
                {"path": "/dev//sda/", "type": "b", "major": 8, "minor": 0},
                {"path": "/dev/fifo", "type": "p"}
            ],
            "cgroupsPath": "/husk/c1",
            "resources": {
                "devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 10, "minor": -1, "access": "rw"},
                    {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "m"}
                ],
                "memory": {"limit": 536870912, "reservation": 268435456, "swap": -1, "kernel": 5},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
                "pids": {"limit": 64},
                "blockIO": {"weight": 10},
                "unified": {"memory.high": "400M", "io.weight": "default 100"}
            },
            "sysctl": {"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"},
            "rootfsPropagation": "rslave",
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"],
            "mountLabel": "system_u:object_r:container_file_t:s0",
            "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]},
            "personality": {"domain": "LINUX32", "flags": []}
        }
    })";
    Config c = parse_ok(text);
    CHECK(c.oci_version == "1.1.0");
    CHECK(c.root.path == "/srv/roots/c1");
    CHECK_FALSE(c.root.readonly);
    CHECK(c.hostname == "box");
    CHECK(c.domainname == "example.org");

    const Process& p = c.process;
    CHECK_FALSE(p.terminal);
    REQUIRE(p.console_size.has_value());
    CHECK(p.console_size->height == 24);
    CHECK(p.console_size->width == 80);
    CHECK(p.user.uid == 1000);
    CHECK(p.user.gid == 1001);
    CHECK(p.user.umask == 18u);
    CHECK(p.user.additional_gids == std::vector<uint32_t>{5, 6});
    CHECK(p.args == std::vector<std::string>{"/bin/sh", "-c", "echo hi"});
    CHECK(p.env == std::vector<std::string>{"PATH=/bin", "EMPTY=", "WITH=equals=sign"});
    CHECK(p.cwd == "/home/user");
    REQUIRE(p.capabilities.has_value());
    CHECK(p.capabilities->bounding == std::vector<int>{0, 40});
    CHECK(p.capabilities->effective == std::vector<int>{5});
    CHECK(p.capabilities->inheritable == std::vector<int>{7});
    CHECK(p.capabilities->permitted == std::vector<int>{5, 13});
    CHECK(p.capabilities->ambient.empty());
    REQUIRE(p.rlimits.size() == 2);
    CHECK(p.rlimits[0].resource == RLIMIT_CORE);
    CHECK(p.rlimits[0].hard == UINT64_MAX);
    CHECK(p.rlimits[1].resource == RLIMIT_NPROC);
    CHECK(p.rlimits[1].soft == 100);
    CHECK(p.no_new_privileges);
    CHECK(p.oom_score_adj == -500);
    CHECK(p.apparmor_profile == "husk-default");
    CHECK(p.selinux_label == "system_u:system_r:container_t:s0");

    REQUIRE(c.mounts.size() == 2);
    CHECK(c.mounts[1].is_bind());
    CHECK(c.mounts[1].source == bundle + "/data");
    CHECK(c.mounts[1].flags == (MS_BIND | MS_RDONLY));

    REQUIRE(c.hooks.prestart.size() == 1);
    CHECK(c.hooks.prestart[0].path == "/usr/bin/pre");
    CHECK(c.hooks.prestart[0].args == std::vector<std::string>{"pre", "x"});
    CHECK(c.hooks.prestart[0].env == std::vector<std::string>{"A=b"});
    CHECK(c.hooks.prestart[0].timeout == 5);
    CHECK(c.hooks.create_runtime.size() == 1);
    CHECK(c.hooks.create_container.size() == 1);
    CHECK(c.hooks.start_container.size() == 1);
    REQUIRE(c.hooks.poststart.size() == 2);
    CHECK(c.hooks.poststart[1].path == "/usr/bin/ps2");
    CHECK_FALSE(c.hooks.poststart[1].timeout.has_value());
    CHECK(c.hooks.poststop.size() == 1);
    CHECK(c.annotations == std::map<std::string, std::string>{{"org.example.key", "value"}});

    const Linux& l = c.linux;
    REQUIRE(l.namespaces.size() == 8);
    for (int t = 0; t <= static_cast<int>(NamespaceType::Time); ++t)
        CHECK(l.has_namespace(static_cast<NamespaceType>(t)));
    REQUIRE(l.find_namespace(NamespaceType::Network) != nullptr);
    CHECK(l.find_namespace(NamespaceType::Network)->path == "/var/run/netns/n1");
    CHECK(l.find_namespace(NamespaceType::Pid)->path.empty());
    REQUIRE(l.uid_mappings.size() == 1);
    CHECK(l.uid_mappings[0].host_id == 100000);
    CHECK(l.uid_mappings[0].size == 65536);
    REQUIRE(l.gid_mappings.size() == 1);
    CHECK(l.gid_mappings[0].host_id == 200000);
    REQUIRE(l.time_offsets.size() == 2);
    CHECK(l.time_offsets.at("monotonic").secs == 86400);
    CHECK(l.time_offsets.at("monotonic").nanosecs == 5);
    CHECK(l.time_offsets.at("boottime").secs == -10);

    REQUIRE(l.devices.size() == 3);
    CHECK(l.devices[0].path == "/dev/fuse");
    CHECK(l.devices[0].type == 'c');
    CHECK(l.devices[0].major == 10);
    CHECK(l.devices[0].minor == 229);
    CHECK(l.devices[0].file_mode == 0666u);
    CHECK(l.devices[0].uid == 0u);
    CHECK(l.devices[1].path == "/dev/sda");
    CHECK(l.devices[1].type == 'b');
    CHECK_FALSE(l.devices[1].file_mode.has_value());
    CHECK(l.devices[2].type == 'p');

    CHECK(l.cgroups_path == "/husk/c1");
    const Resources& r = l.resources;
    REQUIRE(r.devices.size() == 3);
    CHECK(r.devices[1].allow);
    CHECK(r.devices[1].type == 'c');
    CHECK(r.devices[1].major == 10);
    CHECK_FALSE(r.devices[1].minor.has_value());
    CHECK(r.devices[1].access == "rw");
    CHECK(r.devices[2].minor == 0);
    CHECK(r.memory_limit == 536870912);
    CHECK(r.memory_reservation == 268435456);
    CHECK(r.memory_swap == -1);
    CHECK(r.cpu_shares == 512u);
    CHECK(r.cpu_quota == 50000);
    CHECK(r.cpu_period == 100000u);
    CHECK(r.cpu_cpus == "0-1");
    CHECK(r.cpu_mems == "0");
    CHECK(r.pids_limit == 64);
    CHECK(r.unified.at("io.weight") == "default 100");
    CHECK(l.sysctl.at("net.ipv4.ip_forward") == "1");
    CHECK(l.rootfs_propagation == (MS_SLAVE | MS_REC));
    CHECK(l.masked_paths == std::vector<std::string>{"/proc/kcore"});
    CHECK(l.readonly_paths == std::vector<std::string>{"/proc/sys"});
    CHECK(l.mount_label == "system_u:object_r:container_file_t:s0");
    REQUIRE_FALSE(l.seccomp_json.empty());
    CHECK(json::parse(l.seccomp_json)["defaultAction"] == "SCMP_ACT_ERRNO");
    CHECK(json::parse(l.seccomp_json)["syscalls"][0]["names"][0] == "read");
    CHECK(l.personality_domain == "LINUX32");
}

TEST_CASE("spec: unknown fields and nulls are ignored, as runc does")
{
    Config c = parse_ok(R"({
        "ociVersion": "1.1.0",
        "futureField": {"x": 1},
        "root": {"path": "rootfs", "readonly": null},
        "hostname": null,
        "mounts": null,
        "process": {"args": ["sh"], "cwd": "/", "futureProcessField": [1, 2], "env": null, "capabilities": null},
        "linux": {"futureLinuxField": true, "resources": {"hugepageLimits": [], "network": {}}},
        "vm": {"hypervisor": {"path": "/x"}}
    })");
    CHECK(c.hostname.empty());
    CHECK_FALSE(c.root.readonly);
    CHECK(c.mounts.empty());
    CHECK(c.process.env.empty());
    CHECK_FALSE(c.process.capabilities.has_value());
}

TEST_CASE("spec: optional parts")
{
    SUBCASE("no process: fine to parse, has_process says so")
    {
        Config c = parse_ok(patched(R"({"process": null})"));
        CHECK_FALSE(c.has_process);
    }
    SUBCASE("no linux section")
    {
        Config c = parse_ok(patched(R"({"linux": null})"));
        CHECK(c.linux.namespaces.empty());
    }
    SUBCASE("a user namespace without mappings (joined by path)")
    {
        Config c = parse_ok(patched(R"({"linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}]}})"));
        CHECK(c.linux.has_namespace(NamespaceType::User));
        CHECK(c.linux.uid_mappings.empty());
    }
    SUBCASE("no user: root")
    {
        Config c = parse_ok(patched(R"({"process": {"user": null}})"));
        CHECK(c.process.user.uid == 0);
        CHECK(c.process.user.gid == 0);
        CHECK_FALSE(c.process.user.umask.has_value());
    }
    SUBCASE("empty rootfsPropagation is the default")
    {
        Config c = parse_ok(patched(R"({"linux": {"rootfsPropagation": ""}})"));
        CHECK(c.linux.rootfs_propagation == 0);
    }
    SUBCASE("resources.devices type and numbers default to 'any'")
    {
        Config c = parse_ok(patched(R"({"linux": {"resources": {"devices": [{"allow": true, "access": "r"}]}}})"));
        REQUIRE(c.linux.resources.devices.size() == 1);
        CHECK(c.linux.resources.devices[0].type == 'a');
        CHECK_FALSE(c.linux.resources.devices[0].major.has_value());
        CHECK_FALSE(c.linux.resources.devices[0].minor.has_value());
    }
}

TEST_CASE("spec: rootfsPropagation values")
{
    const std::pair<const char*, unsigned long> cases[] = {
        {"private", MS_PRIVATE},          {"rprivate", MS_PRIVATE | MS_REC},
        {"slave", MS_SLAVE},              {"rslave", MS_SLAVE | MS_REC},
        {"shared", MS_SHARED},            {"rshared", MS_SHARED | MS_REC},
        {"unbindable", MS_UNBINDABLE},    {"runbindable", MS_UNBINDABLE | MS_REC},
    };
    for (const auto& [name, flags] : cases) {
        CAPTURE(name);
        Config c = parse_ok(patched(std::string(R"({"linux": {"rootfsPropagation": ")") + name + "\"}}"));
        CHECK(c.linux.rootfs_propagation == flags);
    }
}

TEST_CASE("spec: root.path is resolved against the bundle")
{
    CHECK(parse_ok(patched(R"({"root": {"path": "rootfs"}})")).root.path == "/run/bundles/b1/rootfs");
    CHECK(parse_ok(patched(R"({"root": {"path": "./a/../rootfs/"}})")).root.path == "/run/bundles/b1/rootfs");
    CHECK(parse_ok(patched(R"({"root": {"path": "../shared/rootfs"}})")).root.path == "/run/bundles/shared/rootfs");
    CHECK(parse_ok(patched(R"({"root": {"path": "/srv/rootfs"}})")).root.path == "/srv/rootfs");
    CHECK(parse_ok(patched(R"({"root": {"path": "/srv//x/../rootfs"}})")).root.path == "/srv/rootfs");
}

TEST_CASE("spec: mount option translation")
{
    SUBCASE("flags and cleared flags")
    {
        Mount m = mount_of(R"({"destination": "/m", "type": "tmpfs", "source": "tmpfs",
            "options": ["ro", "nosuid", "nodev", "noexec", "sync", "dirsync", "mand", "noatime",
                        "nodiratime", "relatime", "strictatime", "nosymfollow", "lazytime",
                        "iversion", "silent", "acl", "remount", "defaults"]})");
        CHECK(m.flags == (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC |
                          MS_MANDLOCK | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME |
                          MS_NOSYMFOLLOW | MS_LAZYTIME | MS_I_VERSION | MS_SILENT | MS_POSIXACL | MS_REMOUNT));
        CHECK(m.clear_flags == 0);
        CHECK(m.data.empty());
        CHECK(m.propagation == 0);
        CHECK_FALSE(m.is_bind());
        CHECK(m.options.size() == 18);
    }
    SUBCASE("clearing options")
    {
        Mount m = mount_of(R"({"destination": "/m", "type": "tmpfs", "source": "tmpfs",
            "options": ["rw", "suid", "dev", "exec", "async", "nomand", "atime", "diratime",
                        "norelatime", "nostrictatime", "symfollow", "nolazytime", "noiversion",
                        "loud", "noacl"]})");
        CHECK(m.flags == 0);
        CHECK(m.clear_flags == (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS |
                                MS_MANDLOCK | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME |
                                MS_NOSYMFOLLOW | MS_LAZYTIME | MS_I_VERSION | MS_SILENT | MS_POSIXACL));
    }
    SUBCASE("the later option wins")
    {
        Mount m = mount_of(R"({"destination": "/m", "type": "tmpfs", "options": ["ro", "rw", "nosuid", "suid", "dev", "nodev"]})");
        CHECK(m.flags == MS_NODEV);
        CHECK(m.clear_flags == (MS_RDONLY | MS_NOSUID));
    }
    SUBCASE("unknown options become filesystem data, in order")
    {
        Mount m = mount_of(R"({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "mode=755", "strictatime", "size=65536k", "", "uid=5"]})");
        CHECK(m.flags == (MS_NOSUID | MS_STRICTATIME));
        CHECK(m.data == "mode=755,size=65536k,uid=5");
        CHECK(m.source == "tmpfs");
    }
    SUBCASE("propagation")
    {
        const std::pair<const char*, unsigned long> cases[] = {
            {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
            {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
            {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
            {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
        };
        for (const auto& [name, flags] : cases) {
            CAPTURE(name);
            Mount m = mount_of(std::string(R"({"destination": "/m", "type": "bind", "source": "/x", "options": ["rbind", ")") +
                               name + "\"]}");
            CHECK(m.propagation == flags);
            CHECK(m.flags == (MS_BIND | MS_REC));
            CHECK(m.data.empty());
        }
    }
    SUBCASE("bind and rbind")
    {
        Mount b = mount_of(R"({"destination": "/m", "source": "/host/dir", "options": ["bind", "ro"]})");
        CHECK(b.is_bind());
        CHECK(b.flags == (MS_BIND | MS_RDONLY));
        CHECK(b.type.empty());
        Mount rb = mount_of(R"({"destination": "/m", "type": "none", "source": "/host/dir", "options": ["rbind"]})");
        CHECK(rb.is_bind());
        CHECK(rb.flags == (MS_BIND | MS_REC));
    }
    SUBCASE("type bind is a bind mount without the option")
    {
        Mount m = mount_of(R"({"destination": "/m", "type": "bind", "source": "/host/dir"})");
        CHECK(m.is_bind());
        CHECK((m.flags & MS_BIND) != 0);
    }
    SUBCASE("relative bind sources are taken from the bundle")
    {
        CHECK(mount_of(R"({"destination": "/m", "type": "bind", "source": "data"})").source == bundle + "/data");
        CHECK(mount_of(R"({"destination": "/m", "source": "./x/../data/", "options": ["rbind"]})").source ==
              bundle + "/data");
        CHECK(mount_of(R"({"destination": "/m", "source": "../other", "options": ["bind"]})").source ==
              "/run/bundles/other");
        CHECK(mount_of(R"({"destination": "/m", "source": "/abs/path", "options": ["bind"]})").source == "/abs/path");
    }
    SUBCASE("other sources stay as written")
    {
        CHECK(mount_of(R"({"destination": "/proc", "type": "proc", "source": "proc"})").source == "proc");
        CHECK(mount_of(R"({"destination": "/t", "type": "tmpfs"})").source.empty());
    }
    SUBCASE("destinations are cleaned")
    {
        CHECK(mount_of(R"({"destination": "/a//b/./c/../d/", "type": "tmpfs"})").destination == "/a/b/d");
        CHECK(mount_of(R"({"destination": "/../../etc", "type": "tmpfs"})").destination == "/etc");
    }
    SUBCASE("order is kept")
    {
        json doc = base_config();
        doc["mounts"] = json::parse(R"([
            {"destination": "/z", "type": "tmpfs"}, {"destination": "/a", "type": "tmpfs"},
            {"destination": "/a/b", "type": "tmpfs"}, {"destination": "/m", "type": "tmpfs"}])");
        Config c = parse_ok(doc.dump());
        REQUIRE(c.mounts.size() == 4);
        CHECK(c.mounts[0].destination == "/z");
        CHECK(c.mounts[1].destination == "/a");
        CHECK(c.mounts[2].destination == "/a/b");
        CHECK(c.mounts[3].destination == "/m");
    }
}

TEST_CASE("spec: malformed JSON")
{
    auto c = parse_config(R"({"ociVersion": "1.0.0", "root": )", bundle);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message().starts_with("config.json: invalid JSON: "));
    CHECK(c.error().message().find("byte") != std::string::npos);

    auto empty = parse_config("", bundle);
    REQUIRE_FALSE(empty.has_value());
    CHECK(empty.error().message().starts_with("config.json: invalid JSON: "));

    auto trailing = parse_config(R"({"ociVersion": "1.0.0"} x)", bundle);
    REQUIRE_FALSE(trailing.has_value());
    CHECK(trailing.error().message().starts_with("config.json: invalid JSON: "));

    auto array = parse_config("[1, 2]", bundle);
    REQUIRE_FALSE(array.has_value());
    CHECK(array.error().message() == "config.json: expected a JSON object");
}

// linux.seccomp is serialized again for the seccomp module, recursively: 100000 levels of
// "[" under it (200 kB) used to overflow the stack instead of failing.
TEST_CASE("spec: deeply nested documents are refused, not recursed into")
{
    auto nested = [](size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    REQUIRE(parse_patched(R"({"linux": {"seccomp": {"x": 0}}})").has_value());

    std::string text = patched(R"({"linux": {"seccomp": {"x": 0}}})");
    auto at = text.find("\"x\":0");
    REQUIRE(at != std::string::npos);
    text.replace(at + 4, 1, nested(100000));
    auto c = parse_config(text, bundle);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message() == "config.json: nested more than 1000 levels deep");

    auto r = parse_resources(R"({"unified": )" + nested(5000) + "}");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message() == "resources: nested more than 1000 levels deep");

    // Up to the limit, extra fields are ignored as ever: the document itself is one level.
    std::string ok = patched(R"({"annotations": {"a": "b"}})");
    ok.insert(ok.size() - 1, R"(,"x":)" + nested(999));
    CHECK(parse_config(ok, bundle).has_value());
    ok = patched(R"({"annotations": {"a": "b"}})");
    ok.insert(ok.size() - 1, R"(,"x":)" + nested(1000));
    CHECK_FALSE(parse_config(ok, bundle).has_value());
}

TEST_CASE("spec: bad top level and root")
{
    const BadCase cases[] = {
        {R"({"ociVersion": null})", "ociVersion: missing"},
        {R"({"ociVersion": 1})", "ociVersion: expected a string"},
        {R"({"root": null})", "root.path: missing"},
        {R"({"root": "rootfs"})", "root: expected an object"},
        {R"({"root": {"path": null, "readonly": true}})", "root.path: missing"},
        {R"({"root": {"path": ""}})", "root.path: must not be empty"},
        {R"({"root": {"path": "root\u0000fs"}})", "root.path: contains a NUL byte"},
        {R"({"root": {"path": ["rootfs"]}})", "root.path: expected a string"},
        {R"({"root": {"readonly": "yes"}})", "root.readonly: expected a boolean"},
        {R"({"hostname": 7})", "hostname: expected a string"},
        {R"({"hostname": "h", "linux": {"namespaces": [{"type": "pid"}]}})",
         "hostname: unable to set hostname without a private UTS namespace"},
        {R"({"domainname": "d", "linux": null})", "domainname: unable to set domainname without a private UTS namespace"},
        {R"({"annotations": {"a": 1}})", "annotations[\"a\"]: expected a string"},
        {R"({"annotations": ["a"]})", "annotations: expected an object with string values"},
        {R"({"process": "sh"})", "process: expected an object"},
        {R"({"linux": []})", "linux: expected an object"},
        {R"({"mounts": {}})", "mounts: expected an array"},
        {R"({"hooks": []})", "hooks: expected an object"},
    };
    for (const auto& bc : cases)
        check_bad(bc);
}

TEST_CASE("spec: bad process")
{
    const BadCase cases[] = {
        {R"({"process": {"args": "sh"}})", "process.args: expected an array of strings"},
        {R"({"process": {"args": ["sh", 1]}})", "process.args[1]: expected a string"},
        {R"({"process": {"args": []}})", "process.args: must not be empty"},
        {R"({"process": {"args": ["sh", "a\u0000b"]}})", "process.args[1]: contains a NUL byte"},
        {R"({"process": {"env": ["A\u0000=b"]}})", "process.env[0]: contains a NUL byte"},
        {R"({"process": {"args": null}})", "process.args: missing"},
        {R"({"process": {"cwd": "tmp"}})", "process.cwd: must be an absolute path"},
        {R"({"process": {"cwd": ""}})", "process.cwd: must be an absolute path"},
        {R"({"process": {"cwd": null}})", "process.cwd: missing"},
        {R"({"process": {"terminal": "true"}})", "process.terminal: expected a boolean"},
        {R"({"process": {"env": ["A=1", "NOEQUALS"]}})", "process.env[1]: invalid environment variable \"NOEQUALS\""},
        {R"({"process": {"env": ["=x"]}})", "process.env[0]: invalid environment variable \"=x\": empty name"},
        {R"({"process": {"env": "A=1"}})", "process.env: expected an array of strings"},
        {R"({"process": {"user": 0}})", "process.user: expected an object"},
        {R"({"process": {"user": {"uid": -1}}})", "process.user.uid: expected an integer between 0 and 4294967295, got -1"},
        {R"({"process": {"user": {"uid": 4294967296}}})", "process.user.uid: expected an integer between 0 and 4294967295"},
        {R"({"process": {"user": {"gid": 1.5}}})", "process.user.gid: expected an integer"},
        {R"({"process": {"user": {"gid": "0"}}})", "process.user.gid: expected an integer"},
        {R"({"process": {"user": {"umask": 4095}}})", "process.user.umask: must be at most 0777"},
        {R"({"process": {"user": {"additionalGids": [1, "2"]}}})", "process.user.additionalGids[1]: expected an integer"},
        {R"({"process": {"user": {"additionalGids": 1}}})", "process.user.additionalGids: expected an array of integers"},
        {R"({"process": {"consoleSize": {"height": 10}}})", "process.consoleSize.width: missing"},
        {R"({"process": {"consoleSize": [10, 20]}})", "process.consoleSize: expected an object"},
        {R"({"process": {"rlimits": {}}})", "process.rlimits: expected an array"},
        {R"({"process": {"rlimits": ["RLIMIT_NOFILE"]}})", "process.rlimits[0]: expected an object"},
        {R"({"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                                     {"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]}})",
         "process.rlimits[1].type: unknown rlimit RLIMIT_FOO"},
        {R"({"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                                     {"type": "RLIMIT_NOFILE", "soft": 2, "hard": 2}]}})",
         "process.rlimits[1].type: duplicate rlimit RLIMIT_NOFILE"},
        {R"({"process": {"rlimits": [{"soft": 1, "hard": 1}]}})", "process.rlimits[0].type: missing"},
        {R"({"process": {"rlimits": [{"type": "RLIMIT_CORE", "hard": 1}]}})", "process.rlimits[0].soft: missing"},
        {R"({"process": {"rlimits": [{"type": "RLIMIT_CORE", "soft": -1, "hard": 1}]}})",
         "process.rlimits[0].soft: expected an integer"},
        {R"({"process": {"rlimits": [{"type": "RLIMIT_CORE", "soft": 10, "hard": 5}]}})",
         "process.rlimits[0]: soft limit 10 is greater than hard limit 5"},
        {R"({"process": {"capabilities": ["CAP_KILL"]}})", "process.capabilities: expected an object"},
        {R"({"process": {"capabilities": {"bounding": ["CAP_FOO"]}}})",
         "process.capabilities.bounding[0]: unknown capability CAP_FOO"},
        {R"({"process": {"capabilities": {"ambient": ["CAP_KILL", "kill"]}}})",
         "process.capabilities.ambient[1]: unknown capability kill"},
        {R"({"process": {"capabilities": {"effective": "CAP_KILL"}}})",
         "process.capabilities.effective: expected an array of strings"},
        {R"({"process": {"noNewPrivileges": 1}})", "process.noNewPrivileges: expected a boolean"},
        {R"({"process": {"oomScoreAdj": 1001}})", "process.oomScoreAdj: must be between -1000 and 1000"},
        {R"({"process": {"oomScoreAdj": "5"}})", "process.oomScoreAdj: expected an integer"},
        {R"({"process": {"apparmorProfile": false}})", "process.apparmorProfile: expected a string"},
        {R"({"process": {"selinuxLabel": 0}})", "process.selinuxLabel: expected a string"},
    };
    for (const auto& bc : cases)
        check_bad(bc);
}

TEST_CASE("spec: bad mounts")
{
    const BadCase cases[] = {
        {R"({"mounts": [{"destination": "/a", "type": "tmpfs"}, {"destination": "/b", "type": "tmpfs"},
                        {"destination": "/c", "type": "tmpfs"}, {"destination": "proc", "type": "proc"}]})",
         "mounts[3].destination: must be an absolute path"},
        {R"({"mounts": [{"type": "tmpfs"}]})", "mounts[0].destination: missing"},
        {R"({"mounts": [{"destination": 5}]})", "mounts[0].destination: expected a string"},
        {R"({"mounts": ["/proc"]})", "mounts[0]: expected an object"},
        {R"({"mounts": [{"destination": "/m", "type": 1}]})", "mounts[0].type: expected a string"},
        {R"({"mounts": [{"destination": "/m", "source": {}}]})", "mounts[0].source: expected a string"},
        {R"({"mounts": [{"destination": "/m", "options": "ro"}]})", "mounts[0].options: expected an array of strings"},
        {R"({"mounts": [{"destination": "/m", "options": ["ro", 1]}]})", "mounts[0].options[1]: expected a string"},
        {R"({"mounts": [{"destination": "/m", "source": "/x", "options": ["rbind", "rro"]}]})",
         "mounts[0].options[1]: mount option \"rro\" is not supported"},
        {R"({"mounts": [{"destination": "/m", "type": "bind"}]})", "mounts[0].source: missing"},
        {R"({"mounts": [{"destination": "/m", "options": ["bind"]}]})", "mounts[0].source: missing"},
    };
    for (const auto& bc : cases)
        check_bad(bc);
}

TEST_CASE("spec: bad linux section")
{
    const BadCase cases[] = {
        {R"({"linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "bogus"}]}})",
         "linux.namespaces[2].type: unknown namespace type \"bogus\""},
        {R"({"linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "pid"}]}})",
         "linux.namespaces[2].type: duplicate namespace type \"pid\""},
        {R"({"linux": {"namespaces": [{"path": "/proc/1/ns/pid"}]}})", "linux.namespaces[0].type: missing"},
        {R"({"linux": {"namespaces": [{"type": "net"}]}})", "linux.namespaces[0].type: unknown namespace type \"net\""},
        {R"({"linux": {"namespaces": [{"type": "network", "path": "netns/x"}]}})",
         "linux.namespaces[0].path: must be an absolute path"},
        {R"({"linux": {"namespaces": "pid"}})", "linux.namespaces: expected an array"},
        {R"({"linux": {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}})",
         "linux.uidMappings: user namespace mappings specified, but there is no user namespace"},
        {R"({"linux": {"gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}})",
         "linux.gidMappings: user namespace mappings specified, but there is no user namespace"},
        {R"({"linux": {"namespaces": [{"type": "user"}], "uidMappings": [{"containerID": 0, "hostID": 1000}]}})",
         "linux.uidMappings[0].size: missing"},
        {R"({"linux": {"namespaces": [{"type": "user"}], "gidMappings": [{"containerID": 0, "hostID": -5, "size": 1}]}})",
         "linux.gidMappings[0].hostID: expected an integer between 0 and 4294967295"},
        {R"({"linux": {"namespaces": [{"type": "user"}], "gidMappings": [{"containerID": 0, "hostID": 0, "size": 0}]}})",
         "linux.gidMappings[0].size: must not be 0"},
        {R"({"linux": {"rootfsPropagation": "bogus"}})", "linux.rootfsPropagation: unknown propagation \"bogus\""},
        {R"({"linux": {"rootfsPropagation": 1}})", "linux.rootfsPropagation: expected a string"},
        {R"({"linux": {"devices": [{"path": "/dev/x", "type": "x", "major": 1, "minor": 1}]}})",
         "linux.devices[0].type: unknown device type \"x\""},
        {R"({"linux": {"devices": [{"path": "/dev/x", "type": "char", "major": 1, "minor": 1}]}})",
         "linux.devices[0].type: unknown device type \"char\""},
        {R"({"linux": {"devices": [{"path": "dev/x", "type": "c", "major": 1, "minor": 1}]}})",
         "linux.devices[0].path: must be an absolute path"},
        {R"({"linux": {"devices": [{"path": "/dev/x", "type": "c", "minor": 1}]}})", "linux.devices[0].major: missing"},
        {R"({"linux": {"devices": [{"path": "/dev/x", "type": "u", "major": 1}]}})", "linux.devices[0].minor: missing"},
        {R"({"linux": {"devices": [{"type": "c", "major": 1, "minor": 1}]}})", "linux.devices[0].path: missing"},
        {R"({"linux": {"devices": [{"path": "/dev/x", "type": "c", "major": 1, "minor": 1, "fileMode": -1}]}})",
         "linux.devices[0].fileMode: expected an integer"},
        {R"({"linux": {"resources": {"devices": [{"access": "rwm"}]}}})", "linux.resources.devices[0].allow: missing"},
        {R"({"linux": {"resources": {"devices": [{"allow": true, "access": "rwx"}]}}})",
         "linux.resources.devices[0].access: invalid access \"rwx\""},
        {R"({"linux": {"resources": {"devices": [{"allow": true, "type": "p"}]}}})",
         "linux.resources.devices[0].type: unknown device type \"p\""},
        {R"({"linux": {"resources": {"devices": [{"allow": true, "major": -2}]}}})",
         "linux.resources.devices[0].major: must be -1 (any) or a device number"},
        {R"({"linux": {"resources": {"devices": [{"allow": "yes"}]}}})",
         "linux.resources.devices[0].allow: expected a boolean"},
        {R"({"linux": {"resources": {"memory": {"limit": "1G"}}}})", "linux.resources.memory.limit: expected an integer"},
        {R"({"linux": {"resources": {"memory": 5}}})", "linux.resources.memory: expected an object"},
        {R"({"linux": {"resources": {"cpu": {"shares": -1}}}})", "linux.resources.cpu.shares: expected an integer between 0"},
        {R"({"linux": {"resources": {"cpu": {"cpus": 0}}}})", "linux.resources.cpu.cpus: expected a string"},
        {R"({"linux": {"resources": {"pids": {"limit": 1.5}}}})", "linux.resources.pids.limit: expected an integer"},
        {R"({"linux": {"resources": {"unified": {"memory.max": 5}}}})",
         "linux.resources.unified[\"memory.max\"]: expected a string"},
        {R"({"linux": {"resources": []}})", "linux.resources: expected an object"},
        {R"({"linux": {"sysctl": {"net.ipv4.ip_forward": 1}}})", "linux.sysctl[\"net.ipv4.ip_forward\"]: expected a string"},
        {R"({"linux": {"maskedPaths": ["/proc/kcore", "proc/keys"]}})", "linux.maskedPaths[1]: must be an absolute path"},
        {R"({"linux": {"readonlyPaths": "/proc/sys"}})", "linux.readonlyPaths: expected an array of strings"},
        {R"({"linux": {"cgroupsPath": 5}})", "linux.cgroupsPath: expected a string"},
        {R"({"linux": {"mountLabel": []}})", "linux.mountLabel: expected a string"},
        {R"({"linux": {"seccomp": "default"}})", "linux.seccomp: expected an object"},
        {R"({"linux": {"namespaces": [{"type": "time"}], "timeOffsets": {"realtime": {"secs": 1}}}})",
         "linux.timeOffsets[\"realtime\"]: unknown clock"},
        {R"({"linux": {"namespaces": [{"type": "time"}], "timeOffsets": {"monotonic": {"nanosecs": 1000000000}}}})",
         "linux.timeOffsets[\"monotonic\"].nanosecs: must be less than 1000000000"},
        {R"({"linux": {"namespaces": [{"type": "time"}], "timeOffsets": {"boottime": {"secs": "1"}}}})",
         "linux.timeOffsets[\"boottime\"].secs: expected an integer"},
        {R"({"linux": {"timeOffsets": {"monotonic": {"secs": 1}}}})",
         "linux.timeOffsets: time offsets need a new time namespace"},
        {R"({"linux": {"namespaces": [{"type": "time", "path": "/proc/1/ns/time"}], "timeOffsets": {"monotonic": {"secs": 1}}}})",
         "linux.timeOffsets: time offsets need a new time namespace"},
        {R"({"linux": {"personality": {"domain": "BSD"}}})", "linux.personality.domain: unknown personality domain \"BSD\""},
        {R"({"linux": {"personality": {"flags": []}}})", "linux.personality.domain: missing"},
    };
    for (const auto& bc : cases)
        check_bad(bc);
}

TEST_CASE("spec: bad hooks")
{
    const BadCase cases[] = {
        {R"({"hooks": {"prestart": [{"path": "hook.sh"}]}})", "hooks.prestart[0].path: must be an absolute path"},
        {R"({"hooks": {"poststart": [{"args": ["x"]}]}})", "hooks.poststart[0].path: missing"},
        {R"({"hooks": {"poststop": [{"path": "/bin/true"}, {"path": "/bin/true", "timeout": 0}]}})",
         "hooks.poststop[1].timeout: must be greater than zero"},
        {R"({"hooks": {"createContainer": [{"path": "/bin/true", "timeout": "5"}]}})",
         "hooks.createContainer[0].timeout: expected an integer"},
        {R"({"hooks": {"createRuntime": {"path": "/bin/true"}}})", "hooks.createRuntime: expected an array"},
        {R"({"hooks": {"startContainer": [{"path": "/bin/true", "args": "x"}]}})",
         "hooks.startContainer[0].args: expected an array of strings"},
        {R"({"hooks": {"prestart": [{"path": "/bin/true", "env": [1]}]}})", "hooks.prestart[0].env[0]: expected a string"},
    };
    for (const auto& bc : cases)
        check_bad(bc);
}

TEST_CASE("spec: parse_process (exec --process)")
{
    auto p = parse_process(R"({"args": ["ps", "aux"], "cwd": "/tmp", "env": ["A=1"], "terminal": true,
                               "user": {"uid": 5}, "capabilities": {"bounding": ["CAP_KILL"]}})");
    REQUIRE(p.has_value());
    CHECK(p->args == std::vector<std::string>{"ps", "aux"});
    CHECK(p->cwd == "/tmp");
    CHECK(p->terminal);
    CHECK(p->user.uid == 5);
    REQUIRE(p->capabilities.has_value());
    CHECK(p->capabilities->bounding == std::vector<int>{5});

    auto no_args = parse_process(R"({"cwd": "/"})");
    REQUIRE_FALSE(no_args.has_value());
    CHECK(no_args.error().message() == "process.args: missing");

    auto bad_rlimit = parse_process(R"({"args": ["x"], "cwd": "/", "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]})");
    REQUIRE_FALSE(bad_rlimit.has_value());
    CHECK(bad_rlimit.error().message() == "process.rlimits[0].type: unknown rlimit RLIMIT_BOGUS");

    auto relative = parse_process(R"({"args": ["x"], "cwd": "work"})");
    REQUIRE_FALSE(relative.has_value());
    CHECK(relative.error().message().starts_with("process.cwd: must be an absolute path"));

    auto malformed = parse_process(R"({"args": ["x"],)");
    REQUIRE_FALSE(malformed.has_value());
    CHECK(malformed.error().message().starts_with("process: invalid JSON: "));

    auto not_object = parse_process(R"(["x"])");
    REQUIRE_FALSE(not_object.has_value());
    CHECK(not_object.error().message() == "process: expected a JSON object");
}

TEST_CASE("spec: load_config reads BUNDLE/config.json")
{
    auto missing = load_config("/nonexistent/husk-bundle");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code() == ENOENT);
    CHECK(missing.error().message() == "open /nonexistent/husk-bundle/config.json: No such file or directory");

    char dir_template[] = "/tmp/husk-spec-test.XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    std::string dir = dir_template;
    {
        std::ofstream out(dir + "/config.json");
        out << default_spec_json(false, 0, 0);
    }
    auto c = load_config(dir);
    if (!c)
        FAIL_CHECK(c.error().message());
    REQUIRE(c.has_value());
    CHECK(c->root.path == dir + "/rootfs");
    CHECK(c->mounts.size() == 7);
    ::unlink((dir + "/config.json").c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("spec: name tables")
{
    CHECK(capability_from_name("CAP_CHOWN") == 0);
    CHECK(capability_from_name("CAP_KILL") == 5);
    CHECK(capability_from_name("CAP_SYS_ADMIN") == 21);
    CHECK(capability_from_name("CAP_AUDIT_READ") == 37);
    CHECK(capability_from_name("CAP_CHECKPOINT_RESTORE") == 40);
    CHECK_FALSE(capability_from_name("CAP_FOO").has_value());
    CHECK_FALSE(capability_from_name("kill").has_value());
    CHECK_FALSE(capability_from_name("").has_value());
    for (int cap = 0; cap <= 40; ++cap) {
        CAPTURE(cap);
        CHECK(capability_from_name(capability_name(cap)) == cap);
    }
    CHECK(capability_name(41).empty());
    CHECK(capability_name(-1).empty());

    CHECK(rlimit_from_name("RLIMIT_NOFILE") == RLIMIT_NOFILE);
    CHECK(rlimit_from_name("RLIMIT_CPU") == RLIMIT_CPU);
    CHECK(rlimit_from_name("RLIMIT_RTTIME") == RLIMIT_RTTIME);
    CHECK(rlimit_from_name("RLIMIT_AS") == RLIMIT_AS);
    CHECK_FALSE(rlimit_from_name("RLIMIT_FOO").has_value());
    CHECK_FALSE(rlimit_from_name("NOFILE").has_value());

    CHECK(namespace_type_name(NamespaceType::Pid) == "pid");
    CHECK(namespace_type_name(NamespaceType::Network) == "network");
    CHECK(namespace_type_name(NamespaceType::Mount) == "mount");
    CHECK(namespace_type_name(NamespaceType::Ipc) == "ipc");
    CHECK(namespace_type_name(NamespaceType::Uts) == "uts");
    CHECK(namespace_type_name(NamespaceType::User) == "user");
    CHECK(namespace_type_name(NamespaceType::Cgroup) == "cgroup");
    CHECK(namespace_type_name(NamespaceType::Time) == "time");

    auto options = mount_option_names();
    CHECK(std::ranges::is_sorted(options));
    CHECK(std::ranges::find(options, "rbind") != options.end());
    CHECK(std::ranges::find(options, "rslave") != options.end());
    CHECK(std::ranges::find(options, "nosymfollow") != options.end());
    CHECK(std::ranges::find(options, "rro") == options.end());
}

TEST_CASE("spec: features_json follows the runtime-spec features schema")
{
    std::string text = features_json();
    CHECK(text.ends_with("}\n"));
    json f = json::parse(text);
    CHECK(f["ociVersionMin"] == "1.0.0");
    CHECK(f["ociVersionMax"] == "1.1.0");
    CHECK(f["hooks"] == json::parse(R"(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"])"));
    REQUIRE(f["mountOptions"].is_array());
    CHECK(f["mountOptions"].size() == mount_option_names().size());
    CHECK(f["linux"]["namespaces"] ==
          json::parse(R"(["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"])"));
    REQUIRE(f["linux"]["capabilities"].size() == 41);
    CHECK(f["linux"]["capabilities"][0] == "CAP_CHOWN");
    CHECK(f["linux"]["capabilities"][40] == "CAP_CHECKPOINT_RESTORE");
    CHECK(f["linux"]["cgroup"] == json::parse(R"({"v1": true, "v2": true, "systemd": false, "systemdUser": false})"));
    CHECK(f["linux"]["seccomp"]["enabled"] == false);
    CHECK(f["linux"]["seccomp"]["actions"] == json::array());
    CHECK(f["linux"]["seccomp"]["operators"] == json::array());
    CHECK(f["linux"]["seccomp"]["archs"] == json::array());
    CHECK(f["linux"]["apparmor"]["enabled"] == false);
    CHECK(f["linux"]["selinux"]["enabled"] == false);
    CHECK(f["annotations"] == json::object());
    // Every option listed is one the parser takes without turning it into filesystem data.
    for (const auto& opt : f["mountOptions"]) {
        CAPTURE(opt);
        Mount m = mount_of(R"({"destination": "/m", "type": "tmpfs", "source": "/x", "options": [)" + opt.dump() + "]}");
        CHECK(m.data.empty());
    }
}
