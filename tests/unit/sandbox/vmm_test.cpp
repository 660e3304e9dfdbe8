// The QEMU driver beyond host_test.cpp: the whole command line in order, the TSC frequency
// from /proc/cpuinfo, escaping everywhere a path goes, what launch gives QEMU (stdin, fds,
// the death signal), and the accelerator probe with fake QEMUs.
#include "sandbox/host/vmm.hpp"

#include <doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace husk::sandbox;

namespace {

std::string make_temp_dir()
{
    char tmpl[] = "/tmp/husk-vmm-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

void remove_tree(const std::string& dir)
{
    std::string cmd = "rm -rf '" + dir + "'";
    CHECK(std::system(cmd.c_str()) == 0);
}

std::string read(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_script(const std::string& path, const std::string& body)
{
    std::ofstream(path) << "#!/bin/sh\n" << body;
    REQUIRE(::chmod(path.c_str(), 0755) == 0);
}

std::string arg_after(const std::vector<std::string>& argv, const std::string& option, size_t nth = 0)
{
    for (size_t i = 0; i + 1 < argv.size(); i++) {
        if (argv[i] == option && nth-- == 0)
            return argv[i + 1];
    }
    return "";
}

bool has(const std::vector<std::string>& argv, const std::string& value)
{
    return std::find(argv.begin(), argv.end(), value) != argv.end();
}

bool kvm_openable()
{
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    ::close(fd);
    return true;
}

std::string boot_id()
{
    std::string id = read("/proc/sys/kernel/random/boot_id");
    return id.substr(0, id.find('\n'));
}

// Whether PID is gone (or a zombie nobody has reaped yet), waiting up to 5 s.
bool gone(pid_t pid)
{
    for (int i = 0; i < 500; i++) {
        if (::kill(pid, 0) < 0)
            return true;
        std::string stat = read("/proc/" + std::to_string(pid) + "/stat");
        auto paren = stat.rfind(')');
        if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z')
            return true;
        ::usleep(10'000);
    }
    return false;
}

} // namespace

TEST_CASE("sandbox vmm: the whole TCG command line, in order")
{
    VmSpec spec;
    spec.qemu = "/usr/bin/qemu-system-x86_64";
    spec.kernel = "/img/vmlinux";
    spec.initrd = "/img/initramfs.cpio";
    spec.vcpus = 3;
    spec.memory_mib = 576;
    spec.accel = "tcg";
    spec.console_log = "/s/console.log";
    spec.agent_socket = "/s/agent.sock";
    spec.tsc_khz = 2'500'000;
    spec.shares = {Share{.tag = "rootfs", .host_path = "/b/rootfs", .readonly = true}};
    spec.extra_append = "husk.debug=1";
    std::vector<std::string> want = {
        "/usr/bin/qemu-system-x86_64",
        "-M", "microvm,x-option-roms=off,rtc=on",
        "-accel", "tcg",
        "-cpu", "max,la57=off",
        "-smp", "3",
        "-m", "576",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        "-kernel", "/img/vmlinux",
        "-initrd", "/img/initramfs.cpio",
        "-append",
        "console=ttyS0 panic=-1 reboot=t quiet loglevel=4 rdinit=/init norandmaps pci=off nowatchdog "
        "no_timer_check cryptomgr.notests 8250.nr_uarts=1 random.trust_cpu=on tsc_early_khz=2500000 "
        "tsc=reliable husk.debug=1",
        "-chardev", "file,id=con,path=/s/console.log",
        "-serial", "chardev:con",
        "-object", "rng-random,id=rng0,filename=/dev/urandom",
        "-device", "virtio-rng-device,rng=rng0",
        "-device", "virtio-serial-device",
        "-chardev", "socket,id=agent,path=/s/agent.sock,server=on,wait=off",
        "-device", "virtserialport,chardev=agent,name=agent",
        "-fsdev", "local,id=fs0,path=/b/rootfs,security_model=none,readonly=on",
        "-device", "virtio-9p-device,fsdev=fs0,mount_tag=rootfs",
    };
    CHECK(qemu_argv(spec) == want);
}

TEST_CASE("sandbox vmm: every path and tag is escaped; shares are numbered in order")
{
    VmSpec spec;
    spec.console_log = "/run/a,b/console.log";
    spec.agent_socket = "/run/a,b/agent.sock";
    spec.kernel = "/img,1/vmlinux"; // -kernel takes a plain file name: no escaping
    spec.tsc_khz = 1;
    spec.shares = {Share{.tag = "t,0", .host_path = "/x", .readonly = false},
                   Share{.tag = "t1", .host_path = "/y,,z", .readonly = false},
                   Share{.tag = "t2", .host_path = "/w", .readonly = true}};
    auto a = qemu_argv(spec);
    CHECK(arg_after(a, "-kernel") == "/img,1/vmlinux");
    CHECK(arg_after(a, "-chardev", 0) == "file,id=con,path=/run/a,,b/console.log");
    CHECK(arg_after(a, "-chardev", 1) == "socket,id=agent,path=/run/a,,b/agent.sock,server=on,wait=off");
    CHECK(arg_after(a, "-fsdev", 0) == "local,id=fs0,path=/x,security_model=none");
    CHECK(arg_after(a, "-fsdev", 1) == "local,id=fs1,path=/y,,,,z,security_model=none");
    CHECK(arg_after(a, "-fsdev", 2) == "local,id=fs2,path=/w,security_model=none,readonly=on");
    CHECK(has(a, "virtio-9p-device,fsdev=fs0,mount_tag=t,,0"));
    CHECK(has(a, "virtio-9p-device,fsdev=fs1,mount_tag=t1"));
    CHECK(has(a, "virtio-9p-device,fsdev=fs2,mount_tag=t2"));
    // One virtio-9p device per share, one serial port, one rng.
    CHECK(std::count_if(a.begin(), a.end(), [](const std::string& s) { return s.starts_with("virtio-9p-device,"); })
          == 3);
    CHECK(std::count(a.begin(), a.end(), "virtio-serial-device") == 1);
    CHECK(arg_after(a, "-append").ends_with("tsc_early_khz=1 tsc=reliable"));
}

TEST_CASE("sandbox vmm: the TSC frequency comes from /proc/cpuinfo when the spec has none")
{
    std::string cpuinfo = read("/proc/cpuinfo");
    std::string expect;
    if (auto at = cpuinfo.find("cpu MHz"); at != std::string::npos) {
        double mhz = std::strtod(cpuinfo.c_str() + cpuinfo.find(':', at) + 1, nullptr);
        if (mhz > 0)
            expect = " tsc_early_khz=" + std::to_string(unsigned(mhz * 1000)) + " tsc=reliable";
    }
    VmSpec spec;
    spec.tsc_khz = 0;
    spec.accel = "kvm";
    std::string append = arg_after(qemu_argv(spec), "-append");
    if (expect.empty()) {
        CHECK(append.find("tsc_early_khz") == std::string::npos);
    } else {
        CHECK(append.find(expect) != std::string::npos);
    }
    // KVM: no norandmaps, the host CPU, no probe flag unless asked; nothing trails the line.
    CHECK(append.find("norandmaps") == std::string::npos);
    CHECK(append.find("husk.probe") == std::string::npos);
    CHECK_FALSE(append.ends_with(" "));
    CHECK(arg_after(qemu_argv(spec), "-cpu") == "host");
}

TEST_CASE("sandbox vmm: launch gives QEMU /dev/null for stdin, appends to the log, leaks no fds")
{
    std::string dir = make_temp_dir();
    std::string fake = dir + "/fake-qemu";
    write_script(fake, "echo \"stdin=$(readlink /proc/$$/fd/0)\"\n"
                       "echo \"fds=$(ls /proc/self/fd | sort -n | tr '\\n' ' ')\"\n"
                       "echo \"args=$*\"\n"
                       "echo \"to stderr\" >&2\n");
    std::ofstream(dir + "/console.log.qemu") << "earlier run\n";
    // A descriptor the caller left inheritable must not reach QEMU.
    int leak = ::open("/dev/null", O_RDONLY);
    REQUIRE(leak >= 0);

    VmSpec spec;
    spec.qemu = fake;
    spec.console_log = dir + "/console.log";
    spec.tsc_khz = 1;
    auto pid = launch(spec);
    ::close(leak);
    REQUIRE(pid);
    int status = -1;
    REQUIRE(::waitpid(*pid, &status, 0) == *pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    std::string out = read(dir + "/console.log.qemu");
    CHECK(out.starts_with("earlier run\n"));
    CHECK(out.find("stdin=/dev/null\n") != std::string::npos);
    // ls's own: 0-2 and the directory it reads; the leak would be one more.
    CHECK(out.find("fds=0 1 2 3 \n") != std::string::npos);
    CHECK(out.find("args=-M microvm,x-option-roms=off,rtc=on -accel tcg") != std::string::npos);
    CHECK(out.find("to stderr\n") != std::string::npos);
    struct stat st {};
    REQUIRE(::stat((dir + "/console.log.qemu").c_str(), &st) == 0);
    remove_tree(dir);
}

TEST_CASE("sandbox vmm: launch reports why QEMU could not start")
{
    std::string dir = make_temp_dir();
    VmSpec spec;
    spec.console_log = dir + "/console.log";

    std::ofstream(dir + "/not-executable") << "#!/bin/sh\n";
    spec.qemu = dir + "/not-executable";
    auto noexec = launch(spec);
    REQUIRE_FALSE(noexec);
    CHECK(noexec.error().code() == EACCES);
    CHECK(noexec.error().message().find(spec.qemu) != std::string::npos);

    spec.qemu = "husk-no-such-qemu-in-path";
    auto nopath = launch(spec);
    REQUIRE_FALSE(nopath);
    CHECK(nopath.error().code() == ENOENT);

    // The log's directory does not exist: QEMU cannot get its stdout.
    spec.qemu = "/bin/true";
    spec.console_log = dir + "/missing/console.log";
    auto nolog = launch(spec);
    REQUIRE_FALSE(nolog);
    CHECK(nolog.error().code() == ENOENT);
    CHECK(nolog.error().message().find(spec.console_log + ".qemu") != std::string::npos);
    remove_tree(dir);
}

TEST_CASE("sandbox vmm: QEMU dies with the process that launched it")
{
    std::string dir = make_temp_dir();
    std::string fake = dir + "/fake-qemu";
    write_script(fake, "exec sleep 60\n");
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    pid_t middle = ::fork();
    REQUIRE(middle >= 0);
    if (middle == 0) {
        VmSpec spec;
        spec.qemu = fake;
        spec.console_log = dir + "/console.log";
        auto pid = launch(spec);
        pid_t got = pid ? *pid : -1;
        (void)!::write(p[1], &got, sizeof got);
        ::usleep(200'000); // QEMU (sleep) is running when its parent goes
        ::_exit(0);
    }
    ::close(p[1]);
    pid_t qemu = -1;
    REQUIRE(::read(p[0], &qemu, sizeof qemu) == sizeof qemu);
    ::close(p[0]);
    REQUIRE(qemu > 0);
    int status = 0;
    REQUIRE(::waitpid(middle, &status, 0) == middle);
    bool died = gone(qemu);
    CHECK(died);
    if (!died)
        ::kill(qemu, SIGKILL);
    remove_tree(dir);
}

TEST_CASE("sandbox vmm: choose_accel without a usable /dev/kvm, or with a cached answer")
{
    std::string dir = make_temp_dir();
    VmSpec probe;
    probe.qemu = "/bin/false";
    probe.console_log = dir + "/probe.log";
    std::string cache_dir = dir + "/cache/nested";
    if (!kvm_openable()) {
        auto a = choose_accel("auto", probe, cache_dir, 1000);
        REQUIRE(a);
        CHECK(*a == "tcg");
        auto k = choose_accel("kvm", probe, cache_dir, 1000);
        REQUIRE_FALSE(k);
        CHECK(k.error().message().find("/dev/kvm") != std::string::npos);
    } else {
        REQUIRE(::mkdir((dir + "/cache").c_str(), 0700) == 0);
        REQUIRE(::mkdir(cache_dir.c_str(), 0700) == 0);
        std::ofstream(cache_dir + "/accel") << boot_id() << " tcg\n";
        auto a = choose_accel("auto", probe, cache_dir, 1000);
        REQUIRE(a);
        CHECK(*a == "tcg");
        // Asked for KVM where this boot's probe said no: an error that says where it came from.
        auto k = choose_accel("kvm", probe, cache_dir, 1000);
        REQUIRE_FALSE(k);
        CHECK(k.error().message().find(cache_dir + "/accel") != std::string::npos);
        // A cache file in a format of its own is ignored (the probe then runs; the image is
        // missing, so nothing is learnt and nothing is cached).
        std::ofstream(cache_dir + "/accel") << boot_id() << " hvf\n";
        auto odd = choose_accel("auto", probe, cache_dir, 1000);
        REQUIRE(odd);
        CHECK(*odd == "tcg");
        CHECK(read(cache_dir + "/accel") == boot_id() + " hvf\n");
    }
    remove_tree(dir);
}

TEST_CASE("sandbox vmm: the KVM probe boot, with fake QEMUs")
{
    if (!kvm_openable()) {
        MESSAGE("no usable /dev/kvm: the probe does not run here");
        return;
    }
    std::string dir = make_temp_dir();
    std::ofstream(dir + "/vmlinux") << "kernel";
    std::ofstream(dir + "/initramfs.cpio") << "initrd";
    VmSpec probe;
    probe.kernel = dir + "/vmlinux";
    probe.initrd = dir + "/initramfs.cpio";
    probe.console_log = dir + "/probe.log";
    probe.agent_socket = dir + "/agent.sock"; // not used by a probe
    probe.shares = {Share{.tag = "rootfs", .host_path = dir, .readonly = false}};
    probe.tsc_khz = 1;

    // A guest that boots: the fake writes the agent's marker into the console file, but only
    // when the command line asks for KVM and a probe.
    std::string good = dir + "/good-qemu";
    write_script(good, "con=; accel=; probe=; prev=\n"
                       "for a in \"$@\"; do\n"
                       "  case \"$prev/$a\" in\n"
                       "  -chardev/file,id=con,path=*) con=${a#file,id=con,path=} ;;\n"
                       "  -accel/kvm) accel=1 ;;\n"
                       "  -append/*husk.probe=1*) probe=1 ;;\n"
                       "  esac\n"
                       "  case \"$a\" in *virtserialport*|*virtio-9p*) exit 3 ;; esac\n"
                       "  prev=$a\n"
                       "done\n"
                       "[ -n \"$con\" ] && [ -n \"$accel\" ] && [ -n \"$probe\" ] || exit 2\n"
                       "echo 'HUSK-AGENT: probe ok' >\"$con\"\n");
    probe.qemu = good;
    std::string cache_dir = dir + "/cache";
    auto kvm = choose_accel("auto", probe, cache_dir, 10'000);
    REQUIRE(kvm);
    CHECK(*kvm == "kvm");
    CHECK(read(cache_dir + "/accel") == boot_id() + " kvm\n");
    // The probe's files are gone.
    CHECK(::access(probe.console_log.c_str(), F_OK) < 0);
    CHECK(::access((probe.console_log + ".qemu").c_str(), F_OK) < 0);

    // A guest that hangs (a PVM host): killed at the time limit, TCG, remembered.
    std::string hang = dir + "/hang-qemu";
    write_script(hang, "exec sleep 60\n");
    probe.qemu = hang;
    std::string cache2 = dir + "/cache2";
    auto t0 = std::chrono::steady_clock::now();
    auto tcg = choose_accel("auto", probe, cache2, 300);
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(tcg);
    CHECK(*tcg == "tcg");
    CHECK(took < std::chrono::seconds(5));
    CHECK(read(cache2 + "/accel") == boot_id() + " tcg\n");
    // ... and then believed without a probe, also by one who insists on KVM (an error).
    auto again = choose_accel("kvm", probe, cache2, 300);
    REQUIRE_FALSE(again);

    // A QEMU that exits 0 without the marker, and one that prints it but fails: not KVM.
    std::string quiet = dir + "/quiet-qemu";
    write_script(quiet, "exit 0\n");
    probe.qemu = quiet;
    auto q = choose_accel("kvm", probe, dir + "/cache3", 10'000);
    REQUIRE_FALSE(q);
    CHECK(q.error().message().find("did not reach the agent") != std::string::npos);
    std::string failing = dir + "/failing-qemu";
    write_script(failing, "for a; do case $a in file,id=con,path=*) echo 'HUSK-AGENT: probe ok' >${a#file,id=con,path=} ;; "
                          "esac; done\nexit 1\n");
    probe.qemu = failing;
    auto f = choose_accel("auto", probe, dir + "/cache4", 10'000);
    REQUIRE(f);
    CHECK(*f == "tcg");

    // No image to probe with: nothing learnt, nothing cached; KVM insisted on is an error.
    probe.qemu = good;
    probe.kernel = dir + "/no-vmlinux";
    auto noimg = choose_accel("auto", probe, dir + "/cache5", 10'000);
    REQUIRE(noimg);
    CHECK(*noimg == "tcg");
    CHECK(::access((dir + "/cache5/accel").c_str(), F_OK) < 0);
    auto noimg_kvm = choose_accel("kvm", probe, dir + "/cache5", 10'000);
    REQUIRE_FALSE(noimg_kvm);
    CHECK(noimg_kvm.error().message().find("no-vmlinux") != std::string::npos);
    remove_tree(dir);
}

TEST_CASE("sandbox vmm: a tap reaches QEMU under its own number, with a virtio-net device of its MAC")
{
    std::string dir = make_temp_dir();
    std::string fake = dir + "/fake-qemu";
    write_script(fake, "echo \"fds=$(ls /proc/self/fd | sort -n | tr '\\n' ' ')\"\n"
                       "echo \"args=$*\"\n");
    // Close-on-exec, as husk opens it: launch passes it anyway, and only it.
    int tap = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(tap >= 0);
    int tap_fd = ::fcntl(tap, F_DUPFD_CLOEXEC, 40);
    ::close(tap);
    REQUIRE(tap_fd >= 40);

    VmSpec spec;
    spec.qemu = fake;
    spec.console_log = dir + "/console.log";
    spec.tsc_khz = 1;
    spec.nets.push_back(NetDevice{.fd = tap_fd, .mac = "02:42:0a:00:00:07"});
    auto argv = qemu_argv(spec);
    CHECK(arg_after(argv, "-netdev") == "tap,id=net0,fd=" + std::to_string(tap_fd) + ",vhost=off");
    CHECK(has(argv, "virtio-net-device,netdev=net0,mac=02:42:0a:00:00:07"));
    auto pid = launch(spec);
    REQUIRE(pid);
    int status = -1;
    REQUIRE(::waitpid(*pid, &status, 0) == *pid);
    CHECK(WIFEXITED(status));
    std::string out = read(dir + "/console.log.qemu");
    CHECK(out.find("fds=0 1 2 3 " + std::to_string(tap_fd) + " \n") != std::string::npos);
    // The caller's copy stays close-on-exec.
    CHECK((::fcntl(tap_fd, F_GETFD) & FD_CLOEXEC) != 0);
    ::close(tap_fd);
    remove_tree(dir);
}
