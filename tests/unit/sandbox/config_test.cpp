// husk.yaml's sandbox: section beyond what host_test.cpp covers: keys without values, keys
// that are not names, wrong types for every kind of key, and files that cannot be read.
#include "sandbox/host/config.hpp"

#include <doctest.h>

#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace husk::sandbox;

namespace {

std::string make_temp_dir()
{
    char tmpl[] = "/tmp/husk-config-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

} // namespace

TEST_CASE("sandbox config: a key without a value keeps its default; an unknown one is still an error")
{
    auto c = parse_config("sandbox:\n  kernel:\n  default_vcpus: ~\n  mode: vm\n  initrd: /i/initrd.cpio\n", "h.yaml");
    REQUIRE(c);
    CHECK(c->kernel.empty());
    CHECK(c->kernel_path() == "/var/lib/husk/sandbox/image/vmlinux");
    CHECK(c->initrd_path() == "/i/initrd.cpio");
    CHECK(c->default_vcpus == 1);
    CHECK(c->mode == "vm");

    auto unknown = parse_config("sandbox:\n  kernal:\n", "h.yaml");
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message() == "h.yaml: unknown key sandbox.kernal");

    auto empty = parse_config("sandbox:\n", "h.yaml");
    REQUIRE(empty);
    CHECK(empty->mode == "none");
    auto comments = parse_config("# nothing here\n", "h.yaml");
    REQUIRE(comments);
    CHECK(comments->qemu == "qemu-system-x86_64");
}

TEST_CASE("sandbox config: wrong types and ranges name the file and the key, and never throw")
{
    struct Case {
        const char* text;
        const char* says;
    } cases[] = {
        {"sandbox:\n  qemu: {path: /x}\n", "h.yaml: sandbox.qemu must be a string"},
        {"sandbox:\n  image_dir: [/a, /b]\n", "h.yaml: sandbox.image_dir must be a string"},
        {"sandbox:\n  overhead_mib: [1]\n", "h.yaml: sandbox.overhead_mib must be a number"},
        {"sandbox:\n  overhead_mib: true\n", "h.yaml: sandbox.overhead_mib must be a whole number"},
        {"sandbox:\n  default_vcpus: 1.5\n", "h.yaml: sandbox.default_vcpus must be a whole number"},
        {"sandbox:\n  default_vcpus: 0\n", "h.yaml: sandbox.default_vcpus"},
        {"sandbox:\n  boot_timeout_seconds: 0\n", "h.yaml: sandbox.boot_timeout_seconds"},
        {"sandbox:\n  boot_timeout_seconds: 99999999999999999999\n", "h.yaml: sandbox.boot_timeout_seconds"},
        {"sandbox:\n  default_memory_mib: 0x100\n", "h.yaml: sandbox.default_memory_mib"},
        {"sandbox:\n  accel: KVM\n", "h.yaml: sandbox.accel must be auto, kvm or tcg"},
        {"sandbox:\n  mode: \"\"\n", "h.yaml: sandbox.mode must be none or vm"},
        {"sandbox:\n  kernel: vmlinux\n", "h.yaml: sandbox paths must be absolute"},
        {"sandbox:\n  ? [a, b]\n  : 1\n", "h.yaml: sandbox: a key that is not a name"},
        {"sandbox: [1, 2]\n", "h.yaml: sandbox must be a mapping"},
        {"\"unterminated\n", "h.yaml: "},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        husk::Result<SandboxConfig> r = SandboxConfig{};
        CHECK_NOTHROW(r = parse_config(c.text, "h.yaml"));
        REQUIRE_FALSE(r);
        CHECK(r.error().message().starts_with(c.says));
    }
}

TEST_CASE("sandbox config: every accel and mode that is allowed is read")
{
    for (const char* a : {"auto", "kvm", "tcg"}) {
        auto c = parse_config(std::string("sandbox:\n  accel: ") + a + "\n", "h.yaml");
        REQUIRE(c);
        CHECK(c->accel == a);
    }
    for (const char* m : {"none", "vm"}) {
        auto c = parse_config(std::string("sandbox:\n  mode: ") + m + "\n", "h.yaml");
        REQUIRE(c);
        CHECK(c->mode == m);
    }
    // Quoted numbers are numbers; zero overhead is allowed.
    auto q = parse_config("sandbox:\n  overhead_mib: '0'\n  default_memory_mib: \"1024\"\n", "h.yaml");
    REQUIRE(q);
    CHECK(q->overhead_mib == 0);
    CHECK(q->default_memory_mib == 1024);
}

TEST_CASE("sandbox config: a file that exists but cannot be read or parsed is an error naming it")
{
    std::string dir = make_temp_dir();
    // A directory where the file should be.
    auto d = load_config(dir);
    REQUIRE_FALSE(d);
    CHECK(d.error().message().find(dir) != std::string::npos);

    std::string path = dir + "/husk.yaml";
    std::ofstream(path) << "sandbox:\n  default_vcpus: many\n";
    auto bad = load_config(path);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message().starts_with(path + ": sandbox.default_vcpus"));

    std::ofstream(path) << "shim:\n  debug: true\nsandbox:\n  mode: vm\n  default_vcpus: 3\n";
    auto good = load_config(path);
    REQUIRE(good);
    CHECK(good->mode == "vm");
    CHECK(good->default_vcpus == 3);

    // HUSK_CONFIG naming a file that does not exist: the defaults, as for /etc/husk/husk.yaml.
    ::setenv("HUSK_CONFIG", (dir + "/absent.yaml").c_str(), 1);
    auto absent = load_config("");
    ::unsetenv("HUSK_CONFIG");
    REQUIRE(absent);
    CHECK(absent->mode == "none");
    // An empty HUSK_CONFIG is not a path.
    ::setenv("HUSK_CONFIG", "", 1);
    CHECK(default_config_path() == "/etc/husk/husk.yaml");
    ::unsetenv("HUSK_CONFIG");

    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}
