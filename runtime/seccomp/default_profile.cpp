// The default seccomp profile as data: which system calls a container may make, and the rules
// that widen or narrow that by capability, machine and kernel. Resolving the table for one
// container gives a plain OCI linux.seccomp object, which any runtime can load. Owns nothing
// else: no libseccomp, no host probes (the caller passes uname's facts in).
//
// The profile is meant to be equal in effect to containerd's default profile (seccomp-profiles/
// README.md says how that was checked): a change here changes what containers may do, and
// what users of default.json expect of it, so it is never just a clean-up.
#include "runtime/seccomp/default_profile.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <set>

namespace husk::seccomp {

namespace {

using ojson = nlohmann::ordered_json;

// ---- what a rule may depend on ---------------------------------------------------------------

enum class CapRule {
    Any,     // holds whatever the bounding set is
    With,    // holds when `cap` is in the bounding set
    Without, // holds when `cap` is not: a narrower rule for containers without it
};

struct KernelVersion {
    int major = 0;
    int minor = 0;
    auto operator<=>(const KernelVersion&) const = default;
};

struct Arg {
    unsigned index;
    uint64_t value;
    uint64_t value_two; // only for SCMP_CMP_MASKED_EQ, where value is the mask
    std::string_view op;
};

// One linux.seccomp.syscalls entry and the conditions under which it is part of the profile.
// Every condition must hold.
struct Entry {
    std::vector<std::string_view> names;
    CapRule cap_rule = CapRule::Any;
    std::string_view cap = {};
    // Machines as canonical_machine() names them. Empty: every machine.
    std::vector<std::string_view> machines = {};
    std::vector<std::string_view> except_machines = {};
    KernelVersion min_kernel = {};
    // ALLOW unless errno_ret is set, then ERRNO with it.
    int errno_ret = 0;
    std::vector<Arg> args = {};
};

// ---- the table -------------------------------------------------------------------------------

// Every system call a container may always make, by topic. One list serves every ABI: a
// name an architecture lacks (chown32 on x86_64, arch-specific calls elsewhere) is skipped
// when the profile is compiled for it. Left out on purpose, besides those allowed below only
// under conditions: the kernel keyring (add_key, keyctl, request_key: not namespaced), kernel
// modules, kexec, swap, reboot, clock setting, accounting, mounting and namespace creation,
// userfaultfd, NUMA policy, obsolete calls (uselib, sysfs, ustat, nfsservctl, _sysctl...),
// perf_event_open, bpf, ptrace before kernel 4.8, and the rest of what a container cannot
// use without privileges the default bounding set does not give.
const std::vector<std::string_view> always_allowed = {
    // Processes and threads, their limits and identity of the system.
    "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid", "waitpid",
    "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "setpgid", "setsid",
    "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "restart_syscall",
    "futex", "futex_time64", "futex_waitv", "prctl", "set_thread_area", "get_thread_area",
    "capget", "capset", "getrlimit", "setrlimit", "ugetrlimit", "prlimit64", "getrusage",
    "times", "getpriority", "setpriority", "pidfd_open", "pidfd_send_signal",
    "process_mrelease", "uname", "sysinfo", "getcpu", "getrandom",

    // Signals and interval timers.
    "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "sigaltstack", "sigprocmask", "sigreturn", "signalfd",
    "signalfd4", "pause", "alarm", "getitimer", "setitimer",

    // User and group ids (the *32 forms are the 32-bit ABIs' wide-id variants).
    "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32",
    "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32",
    "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid",
    "setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32", "setgroups",
    "setgroups32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32",

    // Paths: files, directories, links, metadata.
    "open", "openat", "openat2", "creat", "access", "faccessat", "faccessat2", "chdir",
    "fchdir", "getcwd", "mkdir", "mkdirat", "mknod", "mknodat", "rmdir", "link", "linkat",
    "symlink", "symlinkat", "readlink", "readlinkat", "rename", "renameat", "renameat2",
    "unlink", "unlinkat", "chmod", "fchmod", "fchmodat", "chown", "chown32", "fchown",
    "fchown32", "fchownat", "lchown", "lchown32", "umask", "stat", "stat64", "lstat",
    "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat", "statx", "statfs", "statfs64",
    "fstatfs", "fstatfs64", "truncate", "truncate64", "ftruncate", "ftruncate64", "utime",
    "utimes", "utimensat", "utimensat_time64", "futimesat", "getdents", "getdents64",
    "flock", "fallocate", "fadvise64", "fadvise64_64", "readahead", "inotify_init",
    "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark",

    // Extended attributes.
    "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr",
    "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr",

    // File descriptors and data transfer.
    "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev",
    "pwritev2", "lseek", "_llseek", "close", "close_range", "dup", "dup2", "dup3", "fcntl",
    "fcntl64", "ioctl", "pipe", "pipe2", "splice", "tee", "vmsplice", "sendfile", "sendfile64",
    "copy_file_range", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "eventfd",
    "eventfd2", "memfd_create",

    // Waiting for descriptors.
    "select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait",
    "epoll_wait_old", "epoll_pwait", "epoll_pwait2",

    // Asynchronous I/O and I/O priorities.
    "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "ioprio_get", "ioprio_set",

    // Memory.
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
    "mlock", "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages", "membarrier",
    "memfd_secret", "pkey_alloc", "pkey_free", "pkey_mprotect",

    // Clocks, sleeping and timers. adjtimex and clock_adjtime only read unless the caller
    // has CAP_SYS_TIME, which the kernel checks itself.
    "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres",
    "clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64", "nanosleep",
    "adjtimex", "clock_adjtime", "clock_adjtime64", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64",

    // Scheduling (raising priority still needs CAP_SYS_NICE, checked by the kernel).
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr",
    "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
    "sched_rr_get_interval_time64",

    // System V IPC (ipc is its 32-bit multiplexer) and POSIX message queues: both are
    // private to the container's IPC namespace.
    "ipc", "msgget", "msgctl", "msgsnd", "msgrcv", "semget", "semctl", "semop", "semtimedop",
    "semtimedop_time64", "shmget", "shmctl", "shmat", "shmdt", "mq_open", "mq_unlink",
    "mq_getsetattr", "mq_notify", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
    "mq_timedreceive_time64",

    // Sockets (socketcall is their 32-bit multiplexer).
    "socket", "socketpair", "socketcall", "bind", "connect", "listen", "accept", "accept4",
    "getsockname", "getpeername", "getsockopt", "setsockopt", "shutdown", "send", "sendto",
    "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64",

    // A process may always restrict itself further.
    "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
};

// The bits of clone's flags that create namespaces. Without CAP_SYS_ADMIN the kernel refuses
// them anyway (except a user namespace, which is exactly what must not be had here).
constexpr uint64_t clone_namespace_flags = 0x00020000 /* CLONE_NEWNS */ | 0x02000000 /* CLONE_NEWCGROUP */ |
                                          0x04000000 /* CLONE_NEWUTS */ | 0x08000000 /* CLONE_NEWIPC */ |
                                          0x10000000 /* CLONE_NEWUSER */ | 0x20000000 /* CLONE_NEWPID */ |
                                          0x40000000 /* CLONE_NEWNET */;

// personality(2) only for the execution domains that keep Linux behaviour: PER_LINUX,
// PER_LINUX32, each also with UNAME26, and 0xffffffff (which only reads the current one).
// The other bits could, for example, turn off address space randomization
// (ADDR_NO_RANDOMIZE) or make readable memory executable (READ_IMPLIES_EXEC).
Entry personality(uint64_t persona)
{
    return {.names = {"personality"}, .args = {{0, persona, 0, "SCMP_CMP_EQ"}}};
}

Entry with_cap(std::string_view cap, std::vector<std::string_view> names)
{
    return {.names = std::move(names), .cap_rule = CapRule::With, .cap = cap};
}

Entry on(std::vector<std::string_view> machines, std::vector<std::string_view> names)
{
    return {.names = std::move(names), .machines = std::move(machines)};
}

// In the order they appear in the profile.
const std::vector<Entry>& table()
{
    static const std::vector<Entry> entries = {
        {.names = always_allowed},
        personality(0x0),
        personality(0x8),
        personality(0x20000),
        personality(0x20008),
        personality(0xffffffff),

        // Before Linux 4.8 a tracer could change a system call after the filter had seen it,
        // so ptrace was a way around seccomp; from 4.8 on the filter runs again afterwards.
        {.names = {"ptrace"}, .min_kernel = {4, 8}},

        // Calls only some architectures have (or need for ordinary programs: arch_prctl sets
        // the thread pointer on x86_64, set_tls on arm).
        on({"ppc64le"}, {"sync_file_range2", "swapcontext"}),
        on({"arm", "aarch64"},
           {"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"}),
        on({"x86_64"}, {"arch_prctl", "modify_ldt"}),
        on({"i386"}, {"modify_ldt"}),
        on({"s390", "s390x"}, {"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"}),
        on({"riscv64"}, {"riscv_flush_icache"}),

        // A capability in the bounding set lets the container use the calls it guards: the
        // kernel still checks the capability itself, the filter just does not stand in the way.
        with_cap("CAP_DAC_READ_SEARCH", {"open_by_handle_at"}),
        with_cap("CAP_SYS_ADMIN",
                 {"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                  "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at", "open_tree",
                  "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
                  "syslog", "umount", "umount2", "unshare"}),
        with_cap("CAP_SYS_BOOT", {"reboot"}),
        with_cap("CAP_SYS_CHROOT", {"chroot"}),
        with_cap("CAP_SYS_MODULE", {"init_module", "finit_module", "delete_module"}),
        with_cap("CAP_SYS_PACCT", {"acct"}),
        with_cap("CAP_SYS_PTRACE",
                 {"ptrace", "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev"}),
        with_cap("CAP_SYS_RAWIO", {"iopl", "ioperm"}),
        with_cap("CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}),
        with_cap("CAP_SYS_TTY_CONFIG", {"vhangup"}),
        with_cap("CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy"}),
        with_cap("CAP_SYSLOG", {"syslog"}),
        with_cap("CAP_BPF", {"bpf"}),
        with_cap("CAP_PERFMON", {"perf_event_open"}),

        // Without CAP_SYS_ADMIN: threads and processes, but no new namespaces. clone's flags
        // are its first argument, except on s390, where the first two are swapped.
        {.names = {"clone"},
         .cap_rule = CapRule::Without,
         .cap = "CAP_SYS_ADMIN",
         .except_machines = {"s390", "s390x"},
         .args = {{0, clone_namespace_flags, 0, "SCMP_CMP_MASKED_EQ"}}},
        {.names = {"clone"},
         .cap_rule = CapRule::Without,
         .cap = "CAP_SYS_ADMIN",
         .machines = {"s390", "s390x"},
         .args = {{1, clone_namespace_flags, 0, "SCMP_CMP_MASKED_EQ"}}},
        // clone3 takes its flags in a structure a filter cannot read. ENOSYS rather than EPERM,
        // because ENOSYS is what makes C libraries fall back to clone, where the rule above
        // can look at them.
        {.names = {"clone3"}, .cap_rule = CapRule::Without, .cap = "CAP_SYS_ADMIN", .errno_ret = 38 /* ENOSYS */},
    };
    return entries;
}

// Per machine: the architectures the filter covers besides the native one, so that a
// program cannot get past it by using another ABI of the same kernel (32-bit calls on
// x86_64). Machines not listed get no list: the filter then covers the native ABI, and
// any other is refused with the default action.
struct MachineArchs {
    std::string_view machine;
    std::vector<std::string_view> archs;
};

const std::vector<MachineArchs>& machine_archs()
{
    static const std::vector<MachineArchs> list = {
        {"x86_64", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
        {"aarch64", {"SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"}},
        {"s390x", {"SCMP_ARCH_S390", "SCMP_ARCH_S390X"}},
        {"riscv64", {"SCMP_ARCH_RISCV64"}},
    };
    return list;
}

// uname's machine -> the name the table uses: the x86 and arm families report their
// generation ("i686", "armv7l").
std::string_view canonical_machine(std::string_view machine)
{
    if (machine.size() == 4 && machine[0] == 'i' && machine[1] >= '3' && machine[1] <= '6' && machine.substr(2) == "86")
        return "i386";
    if (machine == "aarch64" || machine == "arm64")
        return "aarch64";
    if (machine.starts_with("arm"))
        return "arm";
    return machine;
}

// "6.1.0-18-amd64" -> {6, 1}; nullopt when it does not start like a kernel release.
std::optional<KernelVersion> parse_release(std::string_view release)
{
    KernelVersion v;
    const char* p = release.data();
    const char* end = p + release.size();
    auto [after_major, e1] = std::from_chars(p, end, v.major);
    if (e1 != std::errc() || after_major == end || *after_major != '.')
        return std::nullopt;
    auto [after_minor, e2] = std::from_chars(after_major + 1, end, v.minor);
    if (e2 != std::errc())
        return std::nullopt;
    return v;
}

bool contains(const std::vector<std::string_view>& list, std::string_view name)
{
    return std::ranges::find(list, name) != list.end();
}

struct Target {
    std::set<std::string, std::less<>> caps;
    std::string_view machine;
    // nullopt: a release that could not be read, so no kernel-dependent rule is taken.
    std::optional<KernelVersion> kernel;
};

bool applies(const Entry& e, const Target& t)
{
    switch (e.cap_rule) {
    case CapRule::Any:
        break;
    case CapRule::With:
        if (!t.caps.contains(e.cap))
            return false;
        break;
    case CapRule::Without:
        if (t.caps.contains(e.cap))
            return false;
        break;
    }
    if (!e.machines.empty() && !contains(e.machines, t.machine))
        return false;
    if (contains(e.except_machines, t.machine))
        return false;
    if (e.min_kernel != KernelVersion{} && (!t.kernel || *t.kernel < e.min_kernel))
        return false;
    return true;
}

} // namespace

std::string default_profile_json(const std::vector<std::string>& bounding_caps, std::string_view machine,
                                 std::string_view kernel_release)
{
    Target target;
    target.caps.insert(bounding_caps.begin(), bounding_caps.end());
    target.machine = canonical_machine(machine);
    if (kernel_release.empty())
        target.kernel = KernelVersion{99, 0};
    else
        target.kernel = parse_release(kernel_release);

    ojson doc = ojson::object();
    doc["defaultAction"] = "SCMP_ACT_ERRNO";
    doc["defaultErrnoRet"] = 1; // EPERM
    for (const auto& m : machine_archs())
        if (m.machine == target.machine)
            doc["architectures"] = m.archs;

    // A name already allowed without conditions is left out of later entries (ptrace with
    // CAP_SYS_PTRACE, syslog with both CAP_SYS_ADMIN and CAP_SYSLOG), so no call is listed
    // twice; an entry left with no names is dropped.
    std::set<std::string_view> allowed;
    ojson syscalls = ojson::array();
    for (const Entry& e : table()) {
        if (!applies(e, target))
            continue;
        bool plain_allow = e.errno_ret == 0 && e.args.empty();
        std::vector<std::string_view> names;
        for (auto name : e.names)
            if (!(plain_allow && allowed.contains(name)))
                names.push_back(name);
        if (names.empty())
            continue;
        std::ranges::sort(names);
        names.erase(std::unique(names.begin(), names.end()), names.end());
        if (plain_allow)
            allowed.insert(names.begin(), names.end());

        ojson entry = ojson::object();
        entry["names"] = names;
        if (e.errno_ret != 0) {
            entry["action"] = "SCMP_ACT_ERRNO";
            entry["errnoRet"] = e.errno_ret;
        } else {
            entry["action"] = "SCMP_ACT_ALLOW";
        }
        if (!e.args.empty()) {
            ojson args = ojson::array();
            for (const Arg& a : e.args) {
                ojson arg = {{"index", a.index}, {"value", a.value}};
                if (a.op == "SCMP_CMP_MASKED_EQ")
                    arg["valueTwo"] = a.value_two;
                arg["op"] = a.op;
                args.push_back(std::move(arg));
            }
            entry["args"] = std::move(args);
        }
        syscalls.push_back(std::move(entry));
    }
    doc["syscalls"] = std::move(syscalls);
    return doc.dump(4) + "\n";
}

std::span<const std::string_view> engine_default_caps()
{
    static constexpr std::array<std::string_view, 14> caps = {
        "CAP_CHOWN",  "CAP_DAC_OVERRIDE",   "CAP_FSETID",      "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID",        "CAP_SETUID",      "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    };
    return caps;
}

} // namespace husk::seccomp
