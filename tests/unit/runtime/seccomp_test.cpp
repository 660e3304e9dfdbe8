// Unit tests for runtime/seccomp: compiling profiles (every action, operator, architecture
// list and flag), the JSON-path error of every bad profile, and compiled programs that really
// filter. Filters are only ever loaded in forked children: the test process stays unfiltered.
#include "runtime/seccomp/seccomp.hpp"
#include "tests/unit/runtime/seccomp_child.hpp"

#include <doctest.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace husk;

namespace {

seccomp::Program compile_ok(std::string_view profile)
{
    auto p = seccomp::compile(profile);
    INFO(profile);
    REQUIRE_MESSAGE(p.has_value(), (p ? std::string() : p.error().message()));
    return std::move(*p);
}

std::string compile_error(std::string_view profile)
{
    auto p = seccomp::compile(profile);
    INFO(profile);
    REQUIRE_FALSE(p.has_value());
    return p.error().message();
}

// Whether the program can return `value` (a SECCOMP_RET_* with its data): libseccomp emits
// every action as a BPF "return constant".
bool returns(const seccomp::Program& p, uint32_t value)
{
    return std::any_of(p.code.begin(), p.code.end(), [&](const sock_filter& insn) {
        return insn.code == (BPF_RET | BPF_K) && insn.k == value;
    });
}

bool same_code(const seccomp::Program& a, const seccomp::Program& b)
{
    return a.code.size() == b.code.size() &&
           std::equal(a.code.begin(), a.code.end(), b.code.begin(), [](const sock_filter& x, const sock_filter& y) {
               return x.code == y.code && x.jt == y.jt && x.jf == y.jf && x.k == y.k;
           });
}

using test::run_filtered;

// The child's exit code, failing the test on a death by signal.
int exit_code(int status)
{
    INFO("wait status " << status);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

// errno of a failed call, 0 for success, 255 for a failure without errno.
int errno_of(long rc) { return rc == -1 ? (errno ? errno : 255) : 0; }

constexpr std::string_view allow_getppid_42 = R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]
})";

} // namespace

TEST_CASE("seccomp: no profile or an empty one compiles to no filter")
{
    for (std::string_view text : {"", "{}", R"({"defaultAction": ""})", R"({"syscalls": []})",
                                  R"({"architectures": ["SCMP_ARCH_X86"], "syscalls": null})"}) {
        auto p = compile_ok(text);
        CHECK(p.code.empty());
        CHECK_FALSE(p.needs_listener);
    }
    // Loading nothing is a no-op, safe in the test process itself.
    auto loaded = seccomp::load(seccomp::Program{});
    REQUIRE(loaded.has_value());
    CHECK(*loaded == -1);
}

TEST_CASE("seccomp: every action compiles, as default and as a rule")
{
    struct Case {
        const char* name;
        uint32_t ret;
    };
    const Case cases[] = {
        {"SCMP_ACT_KILL", SECCOMP_RET_KILL_THREAD},
        {"SCMP_ACT_KILL_THREAD", SECCOMP_RET_KILL_THREAD},
        {"SCMP_ACT_KILL_PROCESS", SECCOMP_RET_KILL_PROCESS},
        {"SCMP_ACT_TRAP", SECCOMP_RET_TRAP},
        {"SCMP_ACT_ERRNO", SECCOMP_RET_ERRNO | EPERM},
        {"SCMP_ACT_TRACE", SECCOMP_RET_TRACE | EPERM},
        {"SCMP_ACT_LOG", SECCOMP_RET_LOG},
        {"SCMP_ACT_ALLOW", SECCOMP_RET_ALLOW},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        auto as_rule = compile_ok(std::string(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 99,
            "syscalls": [{"names": ["getppid"], "action": ")") + c.name + "\"}]}");
        CHECK(returns(as_rule, c.ret));
        CHECK(returns(as_rule, SECCOMP_RET_ERRNO | 99));
        auto as_default = compile_ok(std::string(R"({"defaultAction": ")") + c.name + R"(",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 98}]})");
        CHECK(returns(as_default, c.ret));
        CHECK(returns(as_default, SECCOMP_RET_ERRNO | 98));
    }

    auto notify = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
        "listenerMetadata": "meta", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})");
    CHECK(returns(notify, SECCOMP_RET_USER_NOTIF));
    CHECK(notify.needs_listener);
    CHECK(notify.listener_path == "/run/agent.sock");
    CHECK(notify.listener_metadata == "meta");
}

TEST_CASE("seccomp: errnoRet and defaultErrnoRet")
{
    auto p = compile_ok(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0},
                     {"names": ["getpid"], "action": "SCMP_ACT_TRACE", "errnoRet": 1234},
                     {"names": ["gettid"], "action": "SCMP_ACT_ALLOW"}]})");
    CHECK(returns(p, SECCOMP_RET_ERRNO | 38));
    CHECK(returns(p, SECCOMP_RET_ERRNO | 0));
    CHECK(returns(p, SECCOMP_RET_TRACE | 1234));
    CHECK_FALSE(returns(p, SECCOMP_RET_ERRNO | EPERM));
}

TEST_CASE("seccomp: a rule with the default action is skipped")
{
    auto base = compile_ok(R"({"defaultAction": "SCMP_ACT_ERRNO"})" );
    // ERRNO without errnoRet is ERRNO(EPERM), the same as the default: nothing to add.
    auto same = compile_ok(R"({"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})");
    CHECK(same_code(base, same));
    // A different errno is a different action.
    auto other = compile_ok(R"({"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}]})");
    CHECK_FALSE(same_code(base, other));
}

TEST_CASE("seccomp: every operator and several conditions compile")
{
    for (const char* op : {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                           "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}) {
        CAPTURE(op);
        auto p = compile_ok(std::string(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": ")") +
                            op + "\"}]}]}");
        CHECK(returns(p, SECCOMP_RET_ERRNO | EPERM));
    }
    // Up to six arguments, 64-bit values, valueTwo absent.
    compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mmap"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 18446744073709551615, "op": "SCMP_CMP_NE"},
                 {"index": 1, "value": 4096, "op": "SCMP_CMP_GT"},
                 {"index": 2, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"},
                 {"index": 5, "value": 0, "op": "SCMP_CMP_EQ"}]}]})");
}

TEST_CASE("seccomp: architecture lists")
{
    auto native = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "getppid"], "action": "SCMP_ACT_ERRNO"}]})");
    auto listed_native = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "getppid"], "action": "SCMP_ACT_ERRNO"}]})");
    auto multi = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "getppid"], "action": "SCMP_ACT_ERRNO"}]})");
#if defined(__x86_64__)
    // The native architecture is always in; naming it again changes nothing.
    CHECK(same_code(native, listed_native));
    // Each further architecture gets its own section of the program.
    CHECK(multi.code.size() > native.code.size());
    compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]})");
#endif
}

TEST_CASE("seccomp: flags")
{
    auto with = [](const std::string& flags) {
        return compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW", "flags": [)" + flags + "]}");
    };
    CHECK(with("").flags == 0);
    CHECK(with(R"("SECCOMP_FILTER_FLAG_LOG")").flags == SECCOMP_FILTER_FLAG_LOG);
    CHECK(with(R"("SECCOMP_FILTER_FLAG_SPEC_ALLOW")").flags == SECCOMP_FILTER_FLAG_SPEC_ALLOW);
    CHECK(with(R"("SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW")").flags ==
          (SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW));
    // TSYNC is accepted and means nothing for a single-threaded init.
    CHECK(with(R"("SECCOMP_FILTER_FLAG_TSYNC")").flags == 0);
    // WAIT_KILLABLE_RECV only applies to a listener (the kernel refuses it without one).
    CHECK(with(R"("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")").flags == 0);
    auto notify = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})");
    CHECK(notify.flags == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV); // this kernel (6.x) has it
    CHECK(notify.needs_listener);
}

TEST_CASE("seccomp: syscall names libseccomp does not know are skipped")
{
    auto known = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]})");
    auto with_unknown = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["husk_no_such_syscall", "getppid"], "action": "SCMP_ACT_ERRNO"},
                     {"names": ["another_future_call"], "action": "SCMP_ACT_KILL"}]})");
    CHECK(same_code(known, with_unknown));
}

TEST_CASE("seccomp: large profiles compile")
{
    // Past 32 rules the binary-tree layout is used; the program must stay loadable.
    std::string names;
    for (const char* n : {"read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap",
                          "mprotect", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "ioctl", "pread64",
                          "pwrite64", "readv", "writev", "access", "pipe", "select", "sched_yield", "mremap",
                          "msync", "mincore", "madvise", "dup", "dup2", "pause", "nanosleep", "getitimer",
                          "alarm", "setitimer", "getpid", "sendfile", "socket", "connect", "accept"})
        names += std::string(names.empty() ? "" : ", ") + "\"" + n + "\"";
    auto p = compile_ok(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [)" + names +
                        R"(], "action": "SCMP_ACT_ALLOW"}]})");
    CHECK(p.code.size() > 40);
    CHECK(p.code.size() <= BPF_MAXINSNS);
}

TEST_CASE("seccomp: every bad profile names its JSON path")
{
    struct Case {
        const char* profile;
        const char* error;
    };
    const Case cases[] = {
        {R"([])", "linux.seccomp: expected an object"},
        {R"({"syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ALLOW"}]})",
         "linux.seccomp.defaultAction: missing"},
        {R"({"defaultAction": 1})", "linux.seccomp.defaultAction: expected a string"},
        {R"({"defaultAction": "", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]})",
         "linux.seccomp.defaultAction: missing"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": ""}]})",
         "linux.seccomp.syscalls[0].action: missing"},
        {R"({"defaultAction": "SCMP_ACT_FOO"})", "linux.seccomp.defaultAction: unknown action SCMP_ACT_FOO"},
        {R"({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"})",
         "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1})",
         "linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno"},
        {R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1})",
         "linux.seccomp.defaultErrnoRet: expected an unsigned integer"},
        {R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65536})",
         "linux.seccomp.defaultErrnoRet: expected an integer between 0 and 65535, got 65536"},
        {R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": "1"})",
         "linux.seccomp.defaultErrnoRet: expected an unsigned integer"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": "SCMP_ARCH_X86"})",
         "linux.seccomp.architectures: expected an array"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_VAX"]})",
         "linux.seccomp.architectures[1]: unknown architecture SCMP_ARCH_VAX"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]})",
         "linux.seccomp.architectures[0]: unknown architecture x86_64"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NATIVE"]})",
         "linux.seccomp.architectures[0]: unknown architecture SCMP_ARCH_NATIVE"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [7]})",
         "linux.seccomp.architectures[0]: expected a string"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_FOO"]})",
         "linux.seccomp.flags[1]: unknown flag SECCOMP_FILTER_FLAG_FOO"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "flags": "SECCOMP_FILTER_FLAG_LOG"})",
         "linux.seccomp.flags: expected an array"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": 5})",
         "linux.seccomp.listenerPath: expected a string"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"})",
         "linux.seccomp.listenerMetadata: set without linux.seccomp.listenerPath"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}})", "linux.seccomp.syscalls: expected an array"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ["getppid"]})",
         "linux.seccomp.syscalls[0]: expected an object"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]})",
         "linux.seccomp.syscalls[0].names: missing"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "getppid", "action": "SCMP_ACT_ERRNO"}]})",
         "linux.seccomp.syscalls[0].names: expected an array of strings"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]})",
         "linux.seccomp.syscalls[0].names: must name at least one syscall"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid", 3], "action": "SCMP_ACT_ERRNO"}]})",
         "linux.seccomp.syscalls[0].names[1]: expected a string"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [""], "action": "SCMP_ACT_ERRNO"}]})",
         "linux.seccomp.syscalls[0].names[0]: empty syscall name"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"]}]})",
         "linux.seccomp.syscalls[0].action: missing"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}, {"names": ["getuid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["gettid"], "action": "SCMP_ACT_FOO"}]})",
         "linux.seccomp.syscalls[3].action: unknown action SCMP_ACT_FOO"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL",
            "errnoRet": 1}]})",
         "linux.seccomp.syscalls[0].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not SCMP_ACT_KILL"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
            "errnoRet": true}]})",
         "linux.seccomp.syscalls[0].errnoRet: expected an unsigned integer"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})",
         "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]})",
         "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for write"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
            "args": {}}]})",
         "linux.seccomp.syscalls[0].args: expected an array"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
            "args": [1]}]})",
         "linux.seccomp.syscalls[0].args[0]: expected an object"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
            "args": [{"value": 1, "op": "SCMP_CMP_EQ"}]}]})",
         "linux.seccomp.syscalls[0].args[0].index: missing"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]})",
         "linux.seccomp.syscalls[0].args[0].index: expected an integer between 0 and 5, got 6"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]})",
         "linux.seccomp.syscalls[0].args[0].value: missing"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": -5, "op": "SCMP_CMP_EQ"}]}]})",
         "linux.seccomp.syscalls[0].args[0].value: expected an unsigned integer"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 1, "valueTwo": 1.5, "op": "SCMP_CMP_EQ"}]}]})",
         "linux.seccomp.syscalls[0].args[0].valueTwo: expected an unsigned integer"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 1}]}]})",
         "linux.seccomp.syscalls[0].args[0].op: missing"},
        {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_BAR"}]}]})",
         "linux.seccomp.syscalls[0].args[1].op: unknown operator SCMP_CMP_BAR"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.profile);
        std::string err = compile_error(c.profile);
        CHECK_MESSAGE(err.find(c.error) == 0, err);
    }
}

TEST_CASE("seccomp: of two rules for one syscall with the same conditions, the first counts")
{
    // libseccomp keeps the first and drops the later one without a word; runc behaves the same.
    auto first = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["getppid"], "action": "SCMP_ACT_KILL"}]})");
    int status = run_filtered(first, [](int) {
        errno = 0;
        return errno_of(::syscall(SYS_getppid));
    });
    CHECK(exit_code(status) == EPERM);
}

TEST_CASE("seccomp: cache keys are deterministic")
{
    std::string a = seccomp::cache_key(allow_getppid_42);
    CHECK(a.size() == 16);
    CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(seccomp::cache_key(allow_getppid_42) == a);
    CHECK(seccomp::cache_key(R"({"defaultAction": "SCMP_ACT_ALLOW"})") != a);
    CHECK(seccomp::cache_key("") != seccomp::cache_key(" "));
}

// ---- programs that really filter (forked children only) -------------------------------------

TEST_CASE("seccomp: ERRNO with errnoRet 42 on getppid")
{
    auto p = compile_ok(allow_getppid_42);
    CHECK_FALSE(p.needs_listener);
    int status = run_filtered(p, [](int listener) {
        if (listener != -1)
            return 100;
        errno = 0;
        long rc = ::syscall(SYS_getppid);
        if (rc != -1)
            return 101;
        // Other syscalls still work.
        if (::syscall(SYS_getpid) <= 0)
            return 102;
        return errno_of(rc);
    });
    CHECK(exit_code(status) == 42);
    // The test process itself is unfiltered.
    CHECK(::getppid() > 0);
}

TEST_CASE("seccomp: mkdir and mkdirat fail with EPERM")
{
    auto p = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]})");
    char dir_template[] = "/tmp/husk-seccomp-test-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    std::string dir = dir_template;
    std::string target = dir + "/x";
    const char* path = target.c_str();
    int dir_fd = ::open(dir_template, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(dir_fd >= 0);

    int status = run_filtered(p, [&](int) {
        errno = 0;
        int e1 = errno_of(::syscall(SYS_mkdir, path, 0755));
        errno = 0;
        int e2 = errno_of(::syscall(SYS_mkdirat, dir_fd, "x", 0755));
        return e1 == EPERM && e2 == EPERM ? 0 : 100;
    });
    CHECK(exit_code(status) == 0);
    struct stat st {};
    CHECK(::stat(path, &st) == -1);
    ::close(dir_fd);
    ::rmdir(path);
    ::rmdir(dir_template);
}

TEST_CASE("seccomp: KILL_PROCESS kills the child with SIGSYS")
{
    auto p = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]})");
    // No core dump from the dying child.
    int status = run_filtered(p, [](int) {
        struct rlimit none {};
        ::setrlimit(RLIMIT_CORE, &none);
        ::syscall(SYS_getppid);
        return 0;
    });
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGSYS);
}

TEST_CASE("seccomp: conditions on different arguments are ANDed")
{
    // getpriority(which, who): harmless with any arguments.
    auto p = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
                      "args": [{"index": 0, "value": 100, "op": "SCMP_CMP_EQ"},
                               {"index": 1, "value": 200, "op": "SCMP_CMP_EQ"}]}]})");
    int status = run_filtered(p, [](int) {
        errno = 0;
        int both = errno_of(::syscall(SYS_getpriority, 100, 200));
        errno = 0;
        int one = errno_of(::syscall(SYS_getpriority, 100, 0));
        return both == 42 && one == EINVAL ? 0 : 100;
    });
    CHECK(exit_code(status) == 0);
}

TEST_CASE("seccomp: several conditions on one argument are ORed, as runc does")
{
    // getpgid(pid): ESRCH for a pid that does not exist.
    auto p = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
                      "args": [{"index": 0, "value": 1000000000, "op": "SCMP_CMP_EQ"},
                               {"index": 0, "value": 1000000001, "op": "SCMP_CMP_EQ"}]}]})");
    int status = run_filtered(p, [](int) {
        errno = 0;
        int first = errno_of(::syscall(SYS_getpgid, 1000000000));
        errno = 0;
        int second = errno_of(::syscall(SYS_getpgid, 1000000001));
        errno = 0;
        int neither = errno_of(::syscall(SYS_getpgid, 1000000002));
        return first == 42 && second == 42 && neither == ESRCH ? 0 : 100;
    });
    CHECK(exit_code(status) == 0);
}

TEST_CASE("seccomp: MASKED_EQ compares the masked argument")
{
    // value is the mask, valueTwo the value the masked argument must equal.
    auto p = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
                      "args": [{"index": 0, "value": 4026531840, "valueTwo": 1879048192, "op": "SCMP_CMP_MASKED_EQ"}]}]})");
    int status = run_filtered(p, [](int) {
        errno = 0;
        int hit = errno_of(::syscall(SYS_getpgid, 0x70000001));
        errno = 0;
        int miss = errno_of(::syscall(SYS_getpgid, 0x60000001));
        return hit == 42 && miss == ESRCH ? 0 : 100;
    });
    CHECK(exit_code(status) == 0);
}

TEST_CASE("seccomp: defaultAction ERRNO with an allow-list")
{
    auto p = compile_ok(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "syscalls": [{"names": ["getpid", "exit_group", "exit"], "action": "SCMP_ACT_ALLOW"}]})");
    int status = run_filtered(p, [](int) {
        if (::syscall(SYS_getpid) <= 0)
            return 100;
        errno = 0;
        return errno_of(::syscall(SYS_getppid));
    });
    CHECK(exit_code(status) == ENOSYS);
}

TEST_CASE("seccomp: NOTIFY returns a listener fd")
{
    auto p = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})");
    REQUIRE(p.needs_listener);
    int status = run_filtered(p, [](int listener) {
        if (listener < 0)
            return 100;
        // The descriptor is a seccomp listener: the notification-id check answers for it.
        uint64_t id = 0;
        long rc = ::ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
        return rc == -1 && errno == ENOENT ? 0 : 101;
    });
    CHECK(exit_code(status) == 0);
}

TEST_CASE("seccomp: flags reach the kernel")
{
    auto p = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7}]})");
    int status = run_filtered(p, [](int) {
        errno = 0;
        return errno_of(::syscall(SYS_getppid));
    });
    CHECK(exit_code(status) == 7);
}

TEST_CASE("seccomp: the test process itself never got a filter")
{
    // Compiling probes the kernel's flags and the tests above load programs in children:
    // none of that may filter this process.
    FILE* f = std::fopen("/proc/self/status", "re");
    REQUIRE(f != nullptr);
    char line[256];
    std::string mode;
    while (std::fgets(line, sizeof line, f))
        if (std::string_view(line).starts_with("Seccomp:"))
            mode = line;
    std::fclose(f);
    CHECK(mode == "Seccomp:\t0\n");
}

// ---- the compiled-filter cache ----------------------------------------------------------------

namespace {

struct CacheDir {
    std::string path;
    CacheDir()
    {
        char tmpl[] = "/tmp/husk-seccomp-cache-test.XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = std::string(tmpl) + "/cache";
    }
    ~CacheDir()
    {
        std::string cmd = "rm -rf '" + path.substr(0, path.rfind('/')) + "'";
        (void)!std::system(cmd.c_str());
    }
    std::string entry(std::string_view profile) const { return path + "/" + seccomp::cache_key(profile); }
};

bool same_program(const seccomp::Program& a, const seccomp::Program& b)
{
    return same_code(a, b) && a.flags == b.flags && a.needs_listener == b.needs_listener
        && a.listener_path == b.listener_path && a.listener_metadata == b.listener_metadata;
}

constexpr std::string_view notify_profile = R"({"defaultAction": "SCMP_ACT_ALLOW",
    "listenerPath": "/run/agent.sock", "listenerMetadata": "meta",
    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                 {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]})";

} // namespace

TEST_CASE("seccomp cache: a miss writes an entry, a hit returns the same program")
{
    CacheDir cache;
    auto direct = compile_ok(notify_profile);
    auto first = seccomp::compile_cached(notify_profile, cache.path);
    REQUIRE(first);
    CHECK(same_program(*first, direct));
    struct stat st {};
    REQUIRE(::stat(cache.entry(notify_profile).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat(cache.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);

    auto second = seccomp::compile_cached(notify_profile, cache.path);
    REQUIRE(second);
    CHECK(same_program(*second, direct));
    // The cached program still filters.
    int status = run_filtered(*second, [](int) {
        errno = 0;
        return errno_of(::syscall(SYS_getppid));
    });
    CHECK(exit_code(status) == 42);
}

TEST_CASE("seccomp cache: an entry made from other key material is ignored")
{
    CacheDir cache;
    REQUIRE(seccomp::compile_cached(allow_getppid_42, cache.path));
    // Swap the entry for one made from another profile, under this profile's name but with
    // its own key material: a collision. It must be ignored, not trusted.
    std::string other = R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL"}]})";
    REQUIRE(seccomp::compile_cached(other, cache.path));
    REQUIRE(::rename(cache.entry(other).c_str(), cache.entry(allow_getppid_42).c_str()) == 0);
    auto p = seccomp::compile_cached(allow_getppid_42, cache.path);
    REQUIRE(p);
    CHECK(same_program(*p, compile_ok(allow_getppid_42)));
}

TEST_CASE("seccomp cache: broken entries are recompiled over")
{
    CacheDir cache;
    REQUIRE(seccomp::compile_cached(allow_getppid_42, cache.path));
    std::string entry = cache.entry(allow_getppid_42);
    for (off_t size : { off_t(0), off_t(7), off_t(40), off_t(100) }) {
        CAPTURE(size);
        REQUIRE(::truncate(entry.c_str(), size) == 0);
        auto p = seccomp::compile_cached(allow_getppid_42, cache.path);
        REQUIRE(p);
        CHECK(same_program(*p, compile_ok(allow_getppid_42)));
    }
    // Flipped bytes in the instructions' count.
    int fd = ::open(entry.c_str(), O_WRONLY);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, "\xff\xff\xff\x7f", 4, 28) == 4);
    ::close(fd);
    auto p = seccomp::compile_cached(allow_getppid_42, cache.path);
    REQUIRE(p);
    CHECK(same_program(*p, compile_ok(allow_getppid_42)));
}

TEST_CASE("seccomp cache: entries and directories others can write are not used")
{
    CacheDir cache;
    REQUIRE(seccomp::compile_cached(allow_getppid_42, cache.path));
    std::string entry = cache.entry(allow_getppid_42);
    REQUIRE(::chmod(entry.c_str(), 0666) == 0);
    auto p = seccomp::compile_cached(allow_getppid_42, cache.path);
    REQUIRE(p);
    CHECK(same_program(*p, compile_ok(allow_getppid_42)));
    // A world-writable cache directory is not used at all: nothing new is written there.
    REQUIRE(::chmod(cache.path.c_str(), 0777) == 0);
    std::string other = R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}]})";
    REQUIRE(seccomp::compile_cached(other, cache.path));
    struct stat st {};
    CHECK(::stat(cache.entry(other).c_str(), &st) < 0);
}

TEST_CASE("seccomp cache: errors and empty profiles pass through")
{
    CacheDir cache;
    auto bad = seccomp::compile_cached(R"({"defaultAction": "SCMP_ACT_FOO"})", cache.path);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message().find("SCMP_ACT_FOO") != std::string::npos);
    auto none = seccomp::compile_cached("", cache.path);
    REQUIRE(none);
    CHECK(none->code.empty());
    auto uncached = seccomp::compile_cached(allow_getppid_42, "");
    REQUIRE(uncached);
    CHECK(same_program(*uncached, compile_ok(allow_getppid_42)));
}
