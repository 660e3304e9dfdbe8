#include "sandbox/host/vmm.hpp"

#include "common/fs.hpp"
#include "common/sys.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace husk::sandbox {

namespace {

// QEMU's option syntax separates properties with commas; a comma in a value is written twice.
std::string escape(const std::string& value)
{
    std::string out;
    for (char c : value) {
        out += c;
        if (c == ',')
            out += ',';
    }
    return out;
}

unsigned host_tsc_khz()
{
    auto info = fs::read_file("/proc/cpuinfo");
    if (!info)
        return 0;
    auto at = info->find("cpu MHz");
    if (at == std::string::npos)
        return 0;
    auto colon = info->find(':', at);
    if (colon == std::string::npos)
        return 0;
    double mhz = std::strtod(info->c_str() + colon + 1, nullptr);
    return mhz > 0 ? unsigned(mhz * 1000) : 0;
}

int64_t now_ms()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// The accelerator CACHE recorded for this boot of the host, or "".
std::string cached_accel(const std::string& cache, const std::string& boot_id)
{
    auto c = fs::read_file(cache);
    if (!c || boot_id.empty())
        return "";
    auto space = c->find(' ');
    if (space == std::string::npos || c->substr(0, space) != boot_id)
        return "";
    std::string accel = c->substr(space + 1);
    accel = accel.substr(0, accel.find('\n'));
    return accel == "kvm" || accel == "tcg" ? accel : "";
}

// Boots SPEC and waits up to TIMEOUT_MS: true when QEMU exited 0 after the agent's marker,
// false when the guest did not get there (hung, crashed, QEMU refused the accelerator); an
// error when the probe could not be tried at all.
Result<bool> probe_boot(const VmSpec& spec, int timeout_ms)
{
    for (const auto* f : {&spec.kernel, &spec.initrd}) {
        if (::access(f->c_str(), R_OK) < 0)
            return fail_errno("the guest image " + *f);
    }
    pid_t pid = TRY(launch(spec));
    Fd pidfd(sys::pidfd_open(pid));
    const int64_t deadline = now_ms() + timeout_ms;
    int status = 0;
    bool exited = false;
    while (!exited) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        if (pidfd.valid()) {
            pollfd p{.fd = pidfd.get(), .events = POLLIN, .revents = 0};
            if (::poll(&p, 1, int(std::min<int64_t>(left, 1000))) > 0)
                exited = true;
        } else {
            // No pidfds (a kernel before 5.3): look every 20 ms.
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                exited = true;
                pid = -1;
            } else {
                ::usleep(20'000);
            }
        }
    }
    if (pid > 0) {
        if (!exited)
            ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (!exited)
        return false;
    auto console = fs::read_file(spec.console_log);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && console
           && console->find("HUSK-AGENT: probe ok") != std::string::npos;
}

} // namespace

std::vector<std::string> qemu_argv(const VmSpec& spec)
{
    const bool kvm = spec.accel == "kvm";
    std::string append = "console=ttyS0 panic=-1 reboot=t quiet loglevel=4 rdinit=/init";
    // Under TCG, QEMU finds translated code by virtual address: without address-space
    // randomisation every new process reuses the translations of ld.so and libc.
    if (!kvm)
        append += " norandmaps";
    append += " pci=off nowatchdog no_timer_check cryptomgr.notests 8250.nr_uarts=1 random.trust_cpu=on";
    // The TSC frequency the guest would otherwise calibrate (a calibration can hang under TCG).
    unsigned khz = spec.tsc_khz ? spec.tsc_khz : host_tsc_khz();
    if (khz)
        append += " tsc_early_khz=" + std::to_string(khz) + " tsc=reliable";
    if (spec.probe)
        append += " husk.probe=1";
    if (!spec.extra_append.empty())
        append += " " + spec.extra_append;

    std::vector<std::string> a = {
        spec.qemu,
        "-M", "microvm,x-option-roms=off,rtc=on",
        "-accel", kvm ? "kvm" : "tcg",
        // 4-level paging under TCG: 5-level makes every TLB miss dearer.
        "-cpu", kvm ? "host" : "max,la57=off",
        "-smp", std::to_string(spec.vcpus),
        "-m", std::to_string(spec.memory_mib),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        // QEMU's own seccomp filter: no obsolete calls, no setuid, no fork/exec, no changes of
        // scheduling or priority. What the guest may reach through a bug in a device model
        // stays within that.
        "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        "-kernel", spec.kernel,
        "-initrd", spec.initrd,
        "-append", append,
        "-chardev", "file,id=con,path=" + escape(spec.console_log),
        "-serial", "chardev:con",
        "-object", "rng-random,id=rng0,filename=/dev/urandom",
        "-device", "virtio-rng-device,rng=rng0",
    };
    if (!spec.agent_socket.empty()) {
        a.insert(a.end(), {
            "-device", "virtio-serial-device",
            "-chardev", "socket,id=agent,path=" + escape(spec.agent_socket) + ",server=on,wait=off",
            "-device", "virtserialport,chardev=agent,name=agent",
        });
    }
    unsigned n = 0;
    for (const auto& s : spec.shares) {
        std::string id = "fs" + std::to_string(n++);
        std::string fsdev = "local,id=" + id + ",path=" + escape(s.host_path) + ",security_model=none";
        if (s.readonly)
            fsdev += ",readonly=on";
        if (s.multidevs)
            fsdev += ",multidevs=remap";
        a.insert(a.end(), {"-fsdev", fsdev, "-device", "virtio-9p-device,fsdev=" + id + ",mount_tag=" + escape(s.tag)});
    }
    n = 0;
    for (const auto& net : spec.nets) {
        std::string id = "net" + std::to_string(n++);
        a.insert(a.end(), {"-netdev", "tap,id=" + id + ",fd=" + std::to_string(net.fd) + ",vhost=off",
                           "-device", "virtio-net-device,netdev=" + id + ",mac=" + net.mac});
    }
    return a;
}

Result<pid_t> launch(const VmSpec& spec)
{
    auto args = qemu_argv(spec);
    std::vector<char*> argv;
    for (auto& s : args)
        argv.push_back(s.data());
    argv.push_back(nullptr);
    const std::string log = spec.console_log + ".qemu";

    // The child reports a failure before or at exec through this pipe (closed on exec):
    // which step failed and its errno.
    struct Failure {
        int step;
        int err;
    };
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0)
        return fail_errno("pipe");
    Fd rd(p[0]), wr(p[1]);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0)
        return fail_errno("fork");
    if (pid == 0) {
        auto report = [&](int step) {
            Failure f{step, errno};
            (void)!::write(wr.get(), &f, sizeof f);
            ::_exit(127);
        };
        // QEMU dies with whoever started it; a parent gone before the prctl counts too.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(127);
        int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || ::dup2(null, 0) < 0)
            report(0);
        int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (out < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0)
            report(1);
        // Everything else closes at exec (the report pipe only if exec works).
        sys::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        for (const auto& net : spec.nets) // but the taps QEMU is given by number
            if (::fcntl(net.fd, F_SETFD, 0) < 0)
                report(3);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig = 1; sig < NSIG; sig++) {
            if (sig != SIGKILL && sig != SIGSTOP)
                ::signal(sig, SIG_DFL);
        }
        ::execvp(argv[0], argv.data());
        report(2);
    }
    wr.reset();
    Failure f{};
    ssize_t n;
    while ((n = ::read(rd.get(), &f, sizeof f)) < 0 && errno == EINTR) {
    }
    if (n == sizeof f) {
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        const std::string what[] = {"open /dev/null as stdin of " + spec.qemu, "open " + log + " for " + spec.qemu,
                                    "exec " + spec.qemu, "pass a tap to " + spec.qemu};
        return fail_errno(f.err, what[std::clamp(f.step, 0, 3)]);
    }
    return pid;
}

Result<std::string> choose_accel(const std::string& want, const VmSpec& probe_spec, const std::string& cache_dir,
                                 int probe_timeout_ms)
{
    if (want == "tcg")
        return std::string("tcg");
    if (want != "kvm" && want != "auto")
        return fail("accelerator \"" + want + "\": expected auto, kvm or tcg");
    {
        Fd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
        if (!kvm.valid()) {
            if (want == "kvm")
                return fail_errno("sandbox accel kvm: open /dev/kvm");
            return std::string("tcg");
        }
    }
    // Whether /dev/kvm boots a guest is a property of this boot of the host.
    std::string boot_id;
    if (auto b = fs::read_file("/proc/sys/kernel/random/boot_id"); b)
        boot_id = b->substr(0, b->find('\n'));
    const std::string cache = cache_dir + "/accel";
    // One probe at a time: a second caller waits for the first one's answer.
    Fd lock;
    if (fs::mkdir_all(cache_dir, 0700)) {
        lock = Fd(::open((cache_dir + "/accel.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        if (lock.valid()) {
            while (::flock(lock.get(), LOCK_EX) < 0 && errno == EINTR) {
            }
        }
    }
    if (auto cached = cached_accel(cache, boot_id); !cached.empty()) {
        if (cached == "tcg" && want == "kvm")
            return fail("sandbox accel kvm: /dev/kvm did not boot a guest on this host (" + cache + ")");
        return cached;
    }

    // The probe: the guest image booted on KVM; the agent reports and powers off.
    VmSpec spec = probe_spec;
    spec.accel = "kvm";
    spec.probe = true;
    spec.agent_socket.clear();
    spec.shares.clear();
    (void)::unlink(spec.console_log.c_str());
    (void)::unlink((spec.console_log + ".qemu").c_str());
    auto outcome = probe_boot(spec, probe_timeout_ms);
    (void)::unlink(spec.console_log.c_str());
    (void)::unlink((spec.console_log + ".qemu").c_str());
    if (!outcome) {
        // Nothing was learnt about /dev/kvm (no QEMU, no image): no answer to remember.
        if (want == "kvm")
            return std::unexpected(outcome.error().prefix("sandbox accel kvm: probe boot"));
        return std::string("tcg");
    }
    const bool ok = *outcome;
    std::string accel = ok ? "kvm" : "tcg";
    if (!boot_id.empty()) {
        if (auto dir = fs::open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir)
            (void)fs::write_file_atomic(dir->borrow(), "accel", boot_id + " " + accel + "\n", 0600);
    }
    if (!ok && want == "kvm")
        return fail("sandbox accel kvm: a probe boot on /dev/kvm did not reach the agent");
    return accel;
}

} // namespace husk::sandbox
