#include "shim/options.hpp"
#include "shim/runtime.hpp"
#include "shim/service.hpp"

#include <doctest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <vector>

using namespace husk::shim;
using husk::Result;

namespace {

Result<ShimArgs> parse(std::vector<const char*> v)
{
    v.insert(v.begin(), "containerd-shim-husk-v2");
    return parse_args(static_cast<int>(v.size()), v.data());
}

// Protobuf wire encoding for test messages: a length-delimited field and a varint field.
std::string field_bytes(int number, const std::string& value)
{
    std::string s;
    s += static_cast<char>((number << 3) | 2);
    s += static_cast<char>(value.size()); // the test values are under 128 bytes
    return s + value;
}
std::string field_varint(int number, unsigned value)
{
    std::string s;
    s += static_cast<char>(number << 3);
    s += static_cast<char>(value);
    return s;
}

std::string write_temp(const std::string& content)
{
    char path[] = "/tmp/husk-shim-test.XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    ::close(fd);
    return path;
}

} // namespace

TEST_CASE("shim args: the flags containerd passes, in Go's flag syntax")
{
    auto a = parse({"-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock", "-publish-binary",
                    "/usr/bin/containerd", "-id", "c1", "start"});
    REQUIRE(a);
    CHECK(a->ns == "k8s.io");
    CHECK(a->address == "/run/containerd/containerd.sock");
    CHECK(a->publish_binary == "/usr/bin/containerd");
    CHECK(a->id == "c1");
    CHECK(a->action == "start");
    CHECK_FALSE(a->debug);

    auto d = parse({"--namespace=default", "-debug", "-id=c2", "-bundle", "/b", "delete"});
    REQUIRE(d);
    CHECK(d->ns == "default");
    CHECK(d->debug);
    CHECK(d->bundle == "/b");
    CHECK(d->action == "delete");

    auto serve = parse({"-namespace", "default", "-id", "c3", "-debug=false"});
    REQUIRE(serve);
    CHECK(serve->action.empty());
    CHECK_FALSE(serve->debug);
}

TEST_CASE("shim args: mistakes are errors")
{
    CHECK_FALSE(parse({"-nosuch", "x"}));
    CHECK_FALSE(parse({"-namespace"}));          // no value
    CHECK_FALSE(parse({"-id", "x", "restart"})); // unknown action
    CHECK_FALSE(parse({"start", "extra"}));
    CHECK_FALSE(parse({"-debug=maybe"}));
}

TEST_CASE("runtime options: runc-style options and CRI's config path")
{
    std::string runc = field_bytes(6, "/usr/sbin/runc") + field_bytes(7, "/run/alt") + field_varint(9, 1);
    auto o = decode_runtime_options("containerd.runc.v1.Options", runc);
    REQUIRE(o);
    CHECK(o->binary_name == "/usr/sbin/runc");
    CHECK(o->root == "/run/alt");
    CHECK(o->systemd_cgroup);

    // What containerd sends on `start`'s stdin for a CRI runtime with ConfigPath: an Any.
    std::string cri = field_bytes(2, "/etc/husk/pod.yaml");
    std::string any = field_bytes(1, "runtimeoptions.v1.Options") + field_bytes(2, cri);
    auto c = decode_runtime_options_any(any);
    REQUIRE(c);
    CHECK(c->config_path == "/etc/husk/pod.yaml");
    CHECK(c->binary_name.empty());

    auto none = decode_runtime_options_any("");
    REQUIRE(none);
    CHECK(none->config_path.empty());

    // Another shim's options are not ours to read.
    auto other = decode_runtime_options("io.containerd.other.v1.Options", runc);
    REQUIRE(other);
    CHECK(other->binary_name.empty());

    CHECK_FALSE(decode_runtime_options("containerd.runc.v1.Options", std::string("\x32\x40short", 7)));
}

TEST_CASE("runtime config: options over the config file over defaults, one root per namespace")
{
    ShimConfig file;
    file.runtime = "/opt/husk";
    file.root = "/run/h";
    auto plain = runtime_config(file, {}, "k8s.io");
    CHECK(plain.binary == "/opt/husk");
    CHECK(plain.root == "/run/h/k8s.io");
    CHECK_FALSE(plain.systemd_cgroup);

    RuntimeOptions o;
    o.binary_name = "/usr/sbin/runc";
    o.root = "/run/r";
    auto over = runtime_config(file, o, "default");
    CHECK(over.binary == "/usr/sbin/runc");
    CHECK(over.root == "/run/r/default");
}

TEST_CASE("shim config: the yaml file")
{
    auto path = write_temp("runtime: /usr/sbin/runc\nroot: /run/test-root\nsystemd_cgroup: true\ndebug: true\n");
    auto c = load_config(path, true);
    ::unlink(path.c_str());
    REQUIRE(c);
    CHECK(c->runtime == "/usr/sbin/runc");
    CHECK(c->root == "/run/test-root");
    CHECK(c->systemd_cgroup);
    CHECK(c->debug);

    auto missing = load_config("/nonexistent/husk-shim.yaml", false);
    REQUIRE(missing);
    CHECK(missing->runtime == "husk");
    CHECK_FALSE(load_config("/nonexistent/husk-shim.yaml", true));

    // A RuntimeClass for micro-VMs: --sandbox and the husk.yaml the runtime reads.
    auto vm_path = write_temp("sandbox: vm\nsandbox_config: /etc/husk/vm.yaml\n");
    auto vm = load_config(vm_path, true);
    ::unlink(vm_path.c_str());
    REQUIRE(vm);
    CHECK(vm->sandbox == "vm");
    CHECK(vm->sandbox_config == "/etc/husk/vm.yaml");
    auto rc = runtime_config(*vm, {}, "k8s.io");
    CHECK(rc.sandbox == "vm");
    CHECK(rc.sandbox_config == "/etc/husk/vm.yaml");
    CHECK(missing->sandbox.empty());

    for (const char* bad : {"runtime: [1, 2\n", "runtme: /x\n", "root: relative/path\n", "- a\n- b\n",
                            "systemd_cgroup: perhaps\n", "sandbox: kvm\n", "sandbox_config: husk.yaml\n"}) {
        auto p = write_temp(bad);
        auto r = load_config(p, true);
        ::unlink(p.c_str());
        CHECK_MESSAGE(!r, bad);
        if (!r)
            CHECK(r.error().message().find(p) != std::string::npos); // names the file
    }
}

TEST_CASE("rootfs mounts: options split into flags and data")
{
    auto overlay = plan_mount({"index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"});
    CHECK(overlay.flags == 0);
    CHECK(overlay.data == "index=off,workdir=/w,upperdir=/u,lowerdir=/l1:/l2");

    auto bind = plan_mount({"rbind", "ro", "nosuid", "rprivate"});
    CHECK(bind.flags == (MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID));
    CHECK(bind.propagation == (MS_PRIVATE | MS_REC));
    CHECK(bind.data.empty());

    auto cleared = plan_mount({"ro", "rw", "size=64m"});
    CHECK(cleared.flags == 0);
    CHECK(cleared.data == "size=64m");
}

TEST_CASE("runtime log: the last error the runtime logged")
{
    std::string log = "{\"level\":\"info\",\"msg\":\"fine\",\"time\":\"t\"}\n"
                      "{\"level\":\"error\",\"msg\":\"first\",\"time\":\"t\"}\n"
                      "not json\n"
                      "{\"level\":\"error\",\"msg\":\"container \\\"x\\\" does not exist\",\"time\":\"t\"}\n"
                      "{\"level\":\"warning\",\"msg\":\"later\",\"time\":\"t\"}\n";
    CHECK(last_logged_error(log) == "container \"x\" does not exist");
    CHECK(last_logged_error("").empty());
    CHECK(last_logged_error("{\"level\":\"error\"}\n").empty());
}

TEST_CASE("runtime calls: output, and the runtime's own message on failure")
{
    // A stand-in runtime: a shell script that prints its arguments, or fails like a runtime.
    std::string script = write_temp("#!/bin/sh\n"
                                    "while [ $# -gt 0 ]; do case $1 in --log) log=$2; shift;; esac; last=$1; shift; done\n"
                                    "case $last in\n"
                                    "ok) echo out; echo err >&2; exit 0;;\n"
                                    "logged) echo '{\"level\":\"error\",\"msg\":\"logged why\",\"time\":\"t\"}' >>\"$log\"; exit 1;;\n"
                                    "*) echo 'said why' >&2; exit 2;;\n"
                                    "esac\n");
    ::chmod(script.c_str(), 0755);
    std::string log = write_temp("");
    RuntimeConfig rc;
    rc.binary = script;
    rc.root = "/run/unused";
    Runtime rt(rc, log);
    auto ok = rt.call({"ok"});
    REQUIRE(ok);
    CHECK(*ok == "out\n"); // stdout only
    auto logged = rt.call({"logged"});
    REQUIRE_FALSE(logged);
    CHECK(logged.error().message().find("logged why") != std::string::npos);
    auto said = rt.call({"other"});
    REQUIRE_FALSE(said);
    CHECK(said.error().message().find("said why") != std::string::npos);
    CHECK(said.error().message().find("exit status 2") != std::string::npos);
    ::unlink(script.c_str());
    ::unlink(log.c_str());
}

TEST_CASE("runtime calls: --sandbox before the verb, and HUSK_CONFIG in the runtime's environment")
{
    std::string script = write_temp("#!/bin/sh\necho \"$* config=${HUSK_CONFIG:-none}\"\n");
    ::chmod(script.c_str(), 0755);
    RuntimeConfig rc;
    rc.binary = script;
    rc.sandbox = "vm";
    rc.sandbox_config = "/etc/husk/vm.yaml";
    ::setenv("HUSK_CONFIG", "/elsewhere.yaml", 1);
    auto out = Runtime(rc, "").call({"create", "x"});
    ::unsetenv("HUSK_CONFIG");
    REQUIRE(out);
    CHECK(*out == "--sandbox vm create x config=/etc/husk/vm.yaml\n");

    RuntimeConfig plain;
    plain.binary = script;
    auto out2 = Runtime(plain, "").call({"state", "x"});
    REQUIRE(out2);
    CHECK(*out2 == "state x config=none\n");
    ::unlink(script.c_str());
}
