// Unit tests for runtime/seccomp/default_profile: the rules that depend on capabilities,
// machine and kernel, stable output, and resolved profiles that compile and really filter
// (loaded only in forked children: the test process stays unfiltered).
#include "runtime/seccomp/default_profile.hpp"
#include "runtime/seccomp/seccomp.hpp"
#include "tests/unit/runtime/seccomp_child.hpp"

#include <doctest.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <set>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace husk;
using json = nlohmann::json;

namespace {

constexpr uint64_t namespace_flags = 0x7e020000; // CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET}

std::vector<std::string> engine_caps()
{
    std::vector<std::string> caps;
    for (auto c : seccomp::engine_default_caps())
        caps.emplace_back(c);
    return caps;
}

json profile(const std::vector<std::string>& caps, std::string_view machine = "x86_64",
             std::string_view kernel = {})
{
    return json::parse(seccomp::default_profile_json(caps, machine, kernel));
}

// The entries that name `name`.
std::vector<json> entries_for(const json& p, std::string_view name)
{
    std::vector<json> out;
    for (const auto& e : p["syscalls"])
        for (const auto& n : e["names"])
            if (n == name)
                out.push_back(e);
    return out;
}

// Allowed whatever the arguments.
bool allowed(const json& p, std::string_view name)
{
    for (const auto& e : entries_for(p, name))
        if (e["action"] == "SCMP_ACT_ALLOW" && !e.contains("args"))
            return true;
    return false;
}

// Not in the profile at all: it gets the default action.
bool absent(const json& p, std::string_view name) { return entries_for(p, name).empty(); }

std::set<std::string> all_names(const json& p)
{
    std::set<std::string> out;
    for (const auto& e : p["syscalls"])
        for (const auto& n : e["names"])
            out.insert(n.get<std::string>());
    return out;
}

// Runs `body` under `program` in a forked child; its exit code (or 128 + signal).
template <typename Body>
int in_child(const seccomp::Program& program, Body body)
{
    int status = test::run_filtered(program, [&](int) { return body(); });
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// errno of a raw syscall, 0 when it succeeded.
template <typename... Args>
int syscall_errno(long nr, Args... args)
{
    long rc = ::syscall(nr, args...);
    return rc < 0 ? errno : 0;
}

} // namespace

TEST_CASE("the default profile for the engines' default capabilities on x86_64")
{
    json p = profile(engine_caps());
    CHECK(p["defaultAction"] == "SCMP_ACT_ERRNO");
    CHECK(p["defaultErrnoRet"] == 1);
    CHECK(p["architectures"] == json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));

    for (std::string name : {"read", "write", "openat", "execve", "exit_group", "fork", "socket", "futex", "arch_prctl",
                      "modify_ldt", "ptrace", "chroot", "seccomp", "io_uring_setup"}) {
        INFO(name);
        CHECK(allowed(p, name));
    }
    // What needs a capability the set does not have, and what no container gets.
    for (std::string name : {"mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
                      "perf_event_open", "reboot", "kexec_load", "init_module", "swapon", "acct", "settimeofday",
                      "clock_settime", "userfaultfd", "open_by_handle_at", "name_to_handle_at", "sethostname",
                      "syslog", "iopl", "mbind", "kcmp", "process_vm_readv", "vhangup"}) {
        INFO(name);
        CHECK(absent(p, name));
    }
    // No arm or s390 calls on x86_64.
    CHECK(absent(p, "set_tls"));
    CHECK(absent(p, "s390_runtime_instr"));
}

TEST_CASE("without CAP_SYS_ADMIN: clone without namespace flags, clone3 fails with ENOSYS")
{
    json p = profile(engine_caps());
    auto clone = entries_for(p, "clone");
    REQUIRE(clone.size() == 1);
    CHECK(clone[0]["action"] == "SCMP_ACT_ALLOW");
    CHECK(clone[0]["args"] ==
          json::parse(R"([{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])"));
    CHECK(clone[0]["args"][0]["value"] == namespace_flags);

    auto clone3 = entries_for(p, "clone3");
    REQUIRE(clone3.size() == 1);
    CHECK(clone3[0]["action"] == "SCMP_ACT_ERRNO");
    CHECK(clone3[0]["errnoRet"] == 38);
}

TEST_CASE("CAP_SYS_ADMIN allows mounts, namespaces and clone without conditions")
{
    auto caps = engine_caps();
    caps.push_back("CAP_SYS_ADMIN");
    json p = profile(caps);
    for (std::string name : {"mount", "umount", "umount2", "unshare", "setns", "clone", "clone3", "bpf", "fsopen",
                      "fsmount", "move_mount", "open_tree", "sethostname", "setdomainname", "syslog",
                      "perf_event_open", "name_to_handle_at", "quotactl"}) {
        INFO(name);
        CHECK(allowed(p, name));
    }
    CHECK(entries_for(p, "clone").size() == 1);
    CHECK(entries_for(p, "clone3").size() == 1);
    CHECK(absent(p, "keyctl"));
    CHECK(absent(p, "open_by_handle_at"));
}

TEST_CASE("each capability adds its own calls")
{
    struct Case {
        const char* cap;
        std::vector<const char*> names;
    };
    const Case cases[] = {
        {"CAP_DAC_READ_SEARCH", {"open_by_handle_at"}},
        {"CAP_SYS_BOOT", {"reboot"}},
        {"CAP_SYS_CHROOT", {"chroot"}},
        {"CAP_SYS_MODULE", {"init_module", "finit_module", "delete_module"}},
        {"CAP_SYS_PACCT", {"acct"}},
        {"CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev"}},
        {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
        {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
        {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
        {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy"}},
        {"CAP_SYSLOG", {"syslog"}},
        {"CAP_BPF", {"bpf"}},
        {"CAP_PERFMON", {"perf_event_open"}},
    };
    json none = profile({});
    for (const auto& c : cases) {
        json p = profile({c.cap});
        for (std::string name : c.names) {
            std::string what = std::string(c.cap) + " " + name;
            INFO(what);
            CHECK(absent(none, name));
            CHECK(allowed(p, name));
        }
        // Nothing else changes: the capability's names are all that is new.
        std::set<std::string> added;
        for (const auto& n : all_names(p))
            if (!all_names(none).contains(n))
                added.insert(n);
        CHECK(added == std::set<std::string>(c.names.begin(), c.names.end()));
    }
    // A capability with no rules of its own changes nothing.
    CHECK(profile({"CAP_SYS_RESOURCE"}) == none);
    CHECK(profile({"CAP_NET_ADMIN"}) == none);
}

TEST_CASE("personality only for the Linux execution domains and the query")
{
    json p = profile(engine_caps());
    auto rules = entries_for(p, "personality");
    std::set<uint64_t> values;
    for (const auto& r : rules) {
        CHECK(r["action"] == "SCMP_ACT_ALLOW");
        REQUIRE(r["args"].size() == 1);
        CHECK(r["args"][0]["index"] == 0);
        CHECK(r["args"][0]["op"] == "SCMP_CMP_EQ");
        values.insert(r["args"][0]["value"].get<uint64_t>());
    }
    CHECK(values == std::set<uint64_t>{0x0, 0x8, 0x20000, 0x20008, 0xffffffff});
}

TEST_CASE("architecture rules")
{
    auto caps = engine_caps();
    SUBCASE("aarch64 covers arm too, and allows the arm calls")
    {
        json p = profile(caps, "aarch64");
        CHECK(p["architectures"] == json({"SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"}));
        for (std::string name : {"set_tls", "cacheflush", "breakpoint", "arm_fadvise64_64", "arm_sync_file_range",
                          "sync_file_range2"})
            CHECK(allowed(p, name));
        CHECK(absent(p, "arch_prctl"));
        CHECK(absent(p, "modify_ldt"));
    }
    SUBCASE("32-bit arm: the arm calls, no architectures list")
    {
        json p = profile(caps, "armv7l");
        CHECK_FALSE(p.contains("architectures"));
        CHECK(allowed(p, "set_tls"));
    }
    SUBCASE("i686: modify_ldt but not arch_prctl")
    {
        json p = profile(caps, "i686");
        CHECK_FALSE(p.contains("architectures"));
        CHECK(allowed(p, "modify_ldt"));
        CHECK(absent(p, "arch_prctl"));
        CHECK(profile(caps, "i386") == p);
    }
    SUBCASE("s390x: the flags are clone's second argument")
    {
        json p = profile(caps, "s390x");
        CHECK(p["architectures"] == json({"SCMP_ARCH_S390", "SCMP_ARCH_S390X"}));
        CHECK(allowed(p, "s390_runtime_instr"));
        auto clone = entries_for(p, "clone");
        REQUIRE(clone.size() == 1);
        CHECK(clone[0]["args"][0]["index"] == 1);
        CHECK(clone[0]["args"][0]["value"] == namespace_flags);
    }
    SUBCASE("ppc64le and riscv64")
    {
        CHECK(allowed(profile(caps, "ppc64le"), "swapcontext"));
        json r = profile(caps, "riscv64");
        CHECK(r["architectures"] == json({"SCMP_ARCH_RISCV64"}));
        CHECK(allowed(r, "riscv_flush_icache"));
    }
    SUBCASE("a machine with no rules of its own gets the common ones")
    {
        json p = profile(caps, "mips64");
        CHECK_FALSE(p.contains("architectures"));
        CHECK(absent(p, "arch_prctl"));
        CHECK(absent(p, "set_tls"));
        CHECK(entries_for(p, "clone")[0]["args"][0]["index"] == 0);
        CHECK(allowed(p, "read"));
    }
}

TEST_CASE("ptrace only from kernel 4.8 on, unless CAP_SYS_PTRACE")
{
    CHECK(allowed(profile({}, "x86_64", "4.8.0"), "ptrace"));
    CHECK(allowed(profile({}, "x86_64", "6.1.0-18-amd64"), "ptrace"));
    CHECK(allowed(profile({}, "x86_64", "5.10"), "ptrace"));
    CHECK(allowed(profile({}, "x86_64"), "ptrace")); // no release: a current kernel
    CHECK(absent(profile({}, "x86_64", "4.7.10"), "ptrace"));
    CHECK(absent(profile({}, "x86_64", "3.18.0"), "ptrace"));
    CHECK(absent(profile({}, "x86_64", "not-a-release"), "ptrace"));
    CHECK(allowed(profile({"CAP_SYS_PTRACE"}, "x86_64", "4.4.0"), "ptrace"));
}

TEST_CASE("no call is listed twice, whatever the capabilities")
{
    json p = profile({"CAP_SYS_ADMIN", "CAP_SYSLOG", "CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE"});
    for (std::string name : {"syslog", "bpf", "perf_event_open", "ptrace", "clone"}) {
        INFO(name);
        CHECK(entries_for(p, name).size() == 1);
    }
    size_t listed = 0;
    for (const auto& e : p["syscalls"])
        if (!e.contains("args"))
            listed += e["names"].size();
    size_t unconditional = 0;
    for (const auto& n : all_names(p))
        if (n != "personality")
            unconditional++;
    CHECK(listed == unconditional);
}

TEST_CASE("the output depends only on the set of capabilities")
{
    auto caps = engine_caps();
    std::string once = seccomp::default_profile_json(caps, "x86_64");
    std::vector<std::string> reversed(caps.rbegin(), caps.rend());
    reversed.push_back(caps.front());
    CHECK(seccomp::default_profile_json(reversed, "x86_64") == once);
    CHECK(seccomp::default_profile_json(caps, "x86_64") == once);
    CHECK(once.ends_with("}\n"));
}

TEST_CASE("resolved profiles compile")
{
    std::vector<std::vector<std::string>> cap_sets = {{}, engine_caps(), {"CAP_SYS_ADMIN", "CAP_SYSLOG"}};
    for (const auto& caps : cap_sets) {
        // Not s390x: libseccomp cannot mix a big-endian ABI into a filter for a little-endian
        // host, so its profile only compiles on its own kind of machine.
        for (std::string machine : {"x86_64", "i686", "aarch64", "armv7l", "riscv64", "ppc64le", "mips64"}) {
            INFO(machine);
            auto program = seccomp::compile(seccomp::default_profile_json(caps, machine));
            REQUIRE_MESSAGE(program.has_value(), (program ? std::string() : program.error().message()));
            CHECK_FALSE(program->code.empty());
        }
    }
}

TEST_CASE("the default profile filters: ordinary calls pass, the blocked ones fail")
{
    auto program = seccomp::compile(seccomp::default_profile_json(engine_caps(), "x86_64"));
    REQUIRE(program.has_value());

    // A process and its file descriptors work as usual.
    CHECK(in_child(*program, [] {
              int fds[2];
              if (::pipe(fds) != 0 || ::write(fds[1], "x", 1) != 1)
                  return 1;
              char c;
              if (::read(fds[0], &c, 1) != 1 || c != 'x')
                  return 2;
              pid_t child = ::fork(); // clone without namespace flags
              if (child < 0)
                  return 3;
              if (child == 0)
                  ::_exit(7);
              int status;
              if (::waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
                  return 4;
              return 0;
          }) == 0);

    // Not in the profile: EPERM. keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0).
    CHECK(in_child(*program, [] { return syscall_errno(SYS_keyctl, 0, -3, 0); }) == EPERM);
    CHECK(in_child(*program, [] { return syscall_errno(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */); }) ==
          EPERM);
    CHECK(in_child(*program, [] { return syscall_errno(SYS_mount, "none", "/", "tmpfs", 0, nullptr); }) ==
          EPERM);
    // A namespace flag fails clone's argument rule (SIGCHLD so a child, if made, is reaped as usual).
    CHECK(in_child(*program, [] {
              return syscall_errno(SYS_clone, 0x10000000 /* CLONE_NEWUSER */ | SIGCHLD, 0, 0, 0, 0);
          }) == EPERM);
    // clone3: ENOSYS, so that a C library falls back to clone.
    CHECK(in_child(*program, [] { return syscall_errno(SYS_clone3, nullptr, 0); }) == ENOSYS);
    // personality: the query passes, turning off address space randomization does not.
    CHECK(in_child(*program, [] { return syscall_errno(SYS_personality, 0xffffffffUL); }) == 0);
    CHECK(in_child(*program, [] { return syscall_errno(SYS_personality, 0x0040000UL); }) == EPERM);
}
