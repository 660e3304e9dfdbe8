// The host side of VM sandboxes that needs no guest: husk.yaml, VM sizing, QEMU's command
// line and launch, the accelerator choice when it is forced or cached.
#include "sandbox/host/keeper.hpp"
#include "sandbox/host/config.hpp"
#include "sandbox/host/sizing.hpp"
#include "sandbox/host/vmm.hpp"

#include <doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

using namespace husk::sandbox;
using nlohmann::json;

namespace {

// The value that follows OPTION in ARGV (the first occurrence), or "" when it is absent.
std::string after(const std::vector<std::string>& argv, const std::string& option, size_t nth = 0)
{
    for (size_t i = 0; i + 1 < argv.size(); i++) {
        if (argv[i] == option && nth-- == 0)
            return argv[i + 1];
    }
    return "";
}

size_t count(const std::vector<std::string>& argv, const std::string& option)
{
    return size_t(std::count(argv.begin(), argv.end(), option));
}

std::string temp_dir()
{
    char tmpl[] = "/tmp/husk-sandbox-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

} // namespace

TEST_CASE("husk.yaml: a missing file and an empty document give the defaults")
{
    auto c = load_config("/nonexistent/husk.yaml");
    REQUIRE(c);
    CHECK(c->mode == "none");
    CHECK(c->accel == "auto");
    CHECK(c->kernel_path() == "/var/lib/husk/sandbox/image/vmlinux");
    CHECK(c->initrd_path() == "/var/lib/husk/sandbox/image/initramfs.cpio");
    auto e = parse_config("", "x.yaml");
    REQUIRE(e);
    CHECK(e->default_memory_mib == 256);
    auto other = parse_config("shim:\n  runtime: /usr/sbin/runc\n", "x.yaml");
    REQUIRE(other);
    CHECK(other->mode == "none");
}

TEST_CASE("husk.yaml: every sandbox key is read")
{
    auto c = parse_config("sandbox:\n  mode: vm\n  image_dir: /srv/img\n  kernel: /k/vmlinux\n  qemu: /opt/qemu\n"
                          "  accel: tcg\n  overhead_mib: 32\n  default_memory_mib: 512\n  default_vcpus: 2\n"
                          "  boot_timeout_seconds: 9\n",
                          "x.yaml");
    REQUIRE(c);
    CHECK(c->mode == "vm");
    CHECK(c->kernel_path() == "/k/vmlinux");
    CHECK(c->initrd_path() == "/srv/img/initramfs.cpio");
    CHECK(c->qemu == "/opt/qemu");
    CHECK(c->accel == "tcg");
    CHECK(c->overhead_mib == 32);
    CHECK(c->default_memory_mib == 512);
    CHECK(c->default_vcpus == 2);
    CHECK(c->boot_timeout_seconds == 9);
}

TEST_CASE("husk.yaml: bad values are errors naming the file and the key")
{
    struct Case {
        const char* text;
        const char* says;
    } cases[] = {
        {"sandbox:\n  mode: maybe\n", "sandbox.mode"},
        {"sandbox:\n  accel: hvf\n", "sandbox.accel"},
        {"sandbox:\n  colour: red\n", "unknown key sandbox.colour"},
        {"sandbox:\n  default_vcpus: -1\n", "sandbox.default_vcpus"},
        {"sandbox:\n  default_vcpus: two\n", "sandbox.default_vcpus"},
        {"sandbox:\n  default_memory_mib: 8\n", "sandbox.default_memory_mib"},
        {"sandbox:\n  image_dir: relative/dir\n", "absolute"},
        {"sandbox:\n  mode: [vm]\n", "sandbox.mode"},
        {"sandbox: vm\n", "sandbox must be a mapping"},
        {"sandbox: {mode: vm\n", "x.yaml"},
        {"- a\n- b\n", "mapping"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        auto r = parse_config(c.text, "x.yaml");
        REQUIRE_FALSE(r);
        CHECK(r.error().message().find("x.yaml") != std::string::npos);
        CHECK(r.error().message().find(c.says) != std::string::npos);
    }
}

TEST_CASE("husk.yaml: HUSK_CONFIG names the file")
{
    std::string dir = temp_dir();
    std::string path = dir + "/husk.yaml";
    std::ofstream(path) << "sandbox:\n  mode: vm\n";
    ::setenv("HUSK_CONFIG", path.c_str(), 1);
    CHECK(default_config_path() == path);
    auto c = load_config("");
    ::unsetenv("HUSK_CONFIG");
    REQUIRE(c);
    CHECK(c->mode == "vm");
    CHECK(default_config_path() == "/etc/husk/husk.yaml");
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("sizing: vCPUs from the CPU quota, memory from the limit plus the overhead")
{
    SandboxConfig cfg;
    cfg.overhead_mib = 64;
    cfg.default_memory_mib = 256;
    cfg.default_vcpus = 1;

    auto d = size_vm(json(), cfg, 8);
    CHECK(d.vcpus == 1);
    CHECK(d.memory_mib == 256);

    auto s = size_vm(json::parse(R"({"cpu":{"quota":150000,"period":100000},"memory":{"limit":134217728}})"), cfg, 8);
    CHECK(s.vcpus == 2); // 1.5 CPUs round up
    CHECK(s.memory_mib == 128 + 64);

    // A quota without a period uses the kernel's default period (100 ms); a limit that is not
    // a whole MiB rounds up.
    auto q = size_vm(json::parse(R"({"cpu":{"quota":300000},"memory":{"limit":1000001}})"), cfg, 8);
    CHECK(q.vcpus == 3);
    CHECK(q.memory_mib == 1 + 64);

    // Capped to the host; unlimited (-1) and null members are no limit.
    auto c = size_vm(json::parse(R"({"cpu":{"quota":6400000,"period":100000},"memory":{"limit":-1}})"), cfg, 2);
    CHECK(c.vcpus == 2);
    CHECK(c.memory_mib == 256);
    auto n = size_vm(json::parse(R"({"cpu":null,"memory":{"limit":null}})"), cfg, 4);
    CHECK(n.vcpus == 1);
    CHECK(n.memory_mib == 256);
    cfg.default_vcpus = 16;
    CHECK(size_vm(json(), cfg, 4).vcpus == 4);
}

TEST_CASE("qemu_argv: a TCG microvm with the agent port and 9p shares")
{
    VmSpec spec;
    spec.kernel = "/img/vmlinux";
    spec.initrd = "/img/initramfs.cpio";
    spec.vcpus = 2;
    spec.memory_mib = 320;
    spec.accel = "tcg";
    spec.console_log = "console.log";
    spec.agent_socket = "agent.sock";
    spec.tsc_khz = 2000000;
    spec.shares = {Share{.tag = "rootfs", .host_path = "/b/rootfs", .readonly = false},
                   Share{.tag = "m0", .host_path = "/data,with,commas", .readonly = true}};
    auto a = qemu_argv(spec);
    CHECK(a[0] == "qemu-system-x86_64");
    CHECK(after(a, "-M").starts_with("microvm,"));
    CHECK(after(a, "-accel") == "tcg");
    CHECK(after(a, "-cpu") == "max,la57=off");
    CHECK(after(a, "-smp") == "2");
    CHECK(after(a, "-m") == "320");
    CHECK(after(a, "-kernel") == "/img/vmlinux");
    CHECK(after(a, "-initrd") == "/img/initramfs.cpio");
    std::string append = after(a, "-append");
    CHECK(append.find("rdinit=/init") != std::string::npos);
    CHECK(append.find("norandmaps") != std::string::npos);
    CHECK(append.find("tsc_early_khz=2000000") != std::string::npos);
    CHECK(append.find("husk.probe") == std::string::npos);
    CHECK(count(a, "-nodefaults") == 1);
    CHECK(after(a, "-chardev", 0) == "file,id=con,path=console.log");
    CHECK(after(a, "-chardev", 1) == "socket,id=agent,path=agent.sock,server=on,wait=off");
    CHECK(std::find(a.begin(), a.end(), "virtserialport,chardev=agent,name=agent") != a.end());
    CHECK(after(a, "-fsdev", 0) == "local,id=fs0,path=/b/rootfs,security_model=none");
    // Commas in a value are doubled, or QEMU would read them as the next property.
    CHECK(after(a, "-fsdev", 1) == "local,id=fs1,path=/data,,with,,commas,security_model=none,readonly=on");
    CHECK(std::find(a.begin(), a.end(), "virtio-9p-device,fsdev=fs1,mount_tag=m0") != a.end());
}

TEST_CASE("qemu_argv: KVM takes the host CPU; a probe says so on the kernel command line")
{
    VmSpec spec;
    spec.accel = "kvm";
    spec.probe = true;
    spec.tsc_khz = 1;
    spec.extra_append = "husk.debug=1";
    auto a = qemu_argv(spec);
    CHECK(after(a, "-accel") == "kvm");
    CHECK(after(a, "-cpu") == "host");
    std::string append = after(a, "-append");
    CHECK(append.find("norandmaps") == std::string::npos);
    CHECK(append.find("husk.probe=1") != std::string::npos);
    CHECK(append.ends_with(" husk.debug=1"));
    // Without an agent socket there is no virtio-serial device.
    CHECK(std::find(a.begin(), a.end(), "virtio-serial-device") == a.end());
    CHECK(count(a, "-fsdev") == 0);
}

TEST_CASE("launch: QEMU's output goes to the console log's .qemu file; a missing binary is an error")
{
    std::string dir = temp_dir();
    VmSpec spec;
    spec.console_log = dir + "/console.log";
    spec.qemu = "/bin/echo"; // prints its arguments: the command line launch gave it
    auto pid = launch(spec);
    REQUIRE(pid);
    int status = -1;
    REQUIRE(::waitpid(*pid, &status, 0) == *pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    std::ifstream in(dir + "/console.log.qemu");
    std::string line;
    std::getline(in, line);
    CHECK(line.starts_with("-M microvm,"));

    spec.qemu = dir + "/no-such-qemu";
    auto missing = launch(spec);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message().find("no-such-qemu") != std::string::npos);
    ::unlink((dir + "/console.log.qemu").c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("choose_accel: tcg is taken as asked; a cached answer of this boot is reused")
{
    std::string dir = temp_dir();
    VmSpec probe;
    probe.qemu = "/bin/false"; // a probe boot that would fail
    probe.console_log = dir + "/probe.log";
    auto t = choose_accel("tcg", probe, dir, 1000);
    REQUIRE(t);
    CHECK(*t == "tcg");
    auto bad = choose_accel("hvf", probe, dir, 1000);
    CHECK_FALSE(bad);

    if (::access("/dev/kvm", R_OK | W_OK) == 0) {
        std::ifstream b("/proc/sys/kernel/random/boot_id");
        std::string boot_id;
        std::getline(b, boot_id);
        // A cached "kvm" of this boot is believed without a probe (the probe here would fail).
        std::ofstream(dir + "/accel") << boot_id << " kvm\n";
        auto cached = choose_accel("auto", probe, dir, 1000);
        REQUIRE(cached);
        CHECK(*cached == "kvm");
        // A cache of another boot is not: the probe runs, fails, and the answer is tcg.
        std::ofstream(dir + "/accel") << "00000000-0000-0000-0000-000000000000 kvm\n";
        auto probed = choose_accel("auto", probe, dir, 1000);
        REQUIRE(probed);
        CHECK(*probed == "tcg");
        auto forced = choose_accel("kvm", probe, dir, 1000);
        CHECK_FALSE(forced);
    }
    ::unlink((dir + "/accel").c_str());
    ::unlink((dir + "/probe.log").c_str());
    ::unlink((dir + "/probe.log.qemu").c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("sandbox keeper: which guest exit statuses it reproduces as a death by signal")
{
    CHECK(husk::sandbox::keeper_exit_signal(0) == -1);
    CHECK(husk::sandbox::keeper_exit_signal(7) == -1);
    CHECK(husk::sandbox::keeper_exit_signal(128) == -1);
    CHECK(husk::sandbox::keeper_exit_signal(128 + SIGKILL) == SIGKILL);
    CHECK(husk::sandbox::keeper_exit_signal(128 + SIGTERM) == SIGTERM);
    CHECK(husk::sandbox::keeper_exit_signal(128 + SIGSEGV) == SIGSEGV);
    // Signals that do not end a process by default: the keeper exits with the number instead.
    CHECK(husk::sandbox::keeper_exit_signal(128 + SIGCHLD) == -1);
    CHECK(husk::sandbox::keeper_exit_signal(128 + SIGWINCH) == -1);
    CHECK(husk::sandbox::keeper_exit_signal(128 + SIGSTOP) == -1);
    CHECK(husk::sandbox::keeper_exit_signal(128 + 65) == -1);
    CHECK(husk::sandbox::keeper_exit_signal(255) == -1);
}
