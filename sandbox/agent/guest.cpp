#include "sandbox/agent/guest.hpp"

#include "common/fs.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sstream>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace husk::agent::guest {

namespace {

void do_mount(const char* source, const char* target, const char* type, unsigned long flags, const char* data)
{
    (void)fs::mkdir_all(target, 0755);
    // Already mounted (the agent re-executed itself from its sealed copy): a device of its
    // own, or the same inode as its parent (a root).
    struct stat st {}, parent {};
    if (::stat(target, &st) == 0 && ::stat((std::string(target) + "/..").c_str(), &parent) == 0
        && (st.st_dev != parent.st_dev || st.st_ino == parent.st_ino))
        return;
    if (::mount(source, target, type, flags, data) < 0 && errno != EBUSY)
        console(std::string("HUSK-AGENT: mount ") + type + " on " + target + ": " + std::strerror(errno));
}

void ensure_stdio()
{
    for (int fd = 0; fd < 3; ++fd) {
        if (::fcntl(fd, F_GETFD) >= 0)
            continue;
        int c = ::open("/dev/console", O_RDWR | O_NOCTTY);
        if (c < 0)
            c = ::open("/dev/null", O_RDWR);
        if (c >= 0 && c != fd) {
            ::dup2(c, fd);
            close_raw(c);
        }
    }
}

void enable_controllers()
{
    auto controllers = fs::read_file("/sys/fs/cgroup/cgroup.controllers");
    if (!controllers)
        return;
    std::istringstream in(*controllers);
    std::string name;
    // One at a time: a controller the kernel refuses must not keep the others off.
    while (in >> name) {
        if (auto r = fs::write_file("/sys/fs/cgroup/cgroup.subtree_control", "+" + name); !r)
            console("HUSK-AGENT: enable cgroup controller " + name + ": " + r.error().message());
    }
}

void load_modules()
{
    auto order = fs::read_file("/lib/modules/husk/order");
    if (!order)
        return; // a kernel with everything built in
    std::istringstream in(*order);
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == ' ' || line.back() == '\r'))
            line.pop_back();
        if (line.empty() || line[0] == '#')
            continue;
        std::string path = "/lib/modules/husk/" + line + (line.ends_with(".ko") ? "" : ".ko");
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            console("HUSK-AGENT: module " + path + ": " + std::strerror(errno));
            continue;
        }
        Fd owned(fd);
        if (::syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
            console("HUSK-AGENT: load module " + path + ": " + std::strerror(errno));
    }
}

} // namespace

void console(const std::string& line)
{
    int fd = ::open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    std::string text = line + "\n";
    if (fd < 0) {
        (void)!::write(STDERR_FILENO, text.data(), text.size());
        return;
    }
    Fd owned(fd);
    (void)!::write(fd, text.data(), text.size());
}

void milestone(const std::string& what)
{
    timespec ts {};
    ::clock_gettime(CLOCK_BOOTTIME, &ts);
    char at[32];
    std::snprintf(at, sizeof at, "%ld.%03ld", static_cast<long>(ts.tv_sec), ts.tv_nsec / 1'000'000);
    console("HUSK-AGENT: " + what + " at " + at + " s");
}

// The initramfs is the kernel's rootfs, a mount with no parent, and pivot_root(2) refuses to
// move such a root away (EINVAL): every container's create would fail. So the agent puts a
// bind mount of it over itself and enters that, as switch_root does for a real root; the
// new root has a parent and pivots. Done once: the agent's re-exec (sealed copy) is told by
// the environment.
void enter_bound_root()
{
    constexpr const char* marker = "HUSK_AGENT_BOUND_ROOT";
    if (std::getenv(marker))
        return;
    const char* dir = "/.root";
    (void)::mkdir(dir, 0700);
    if (::mount("/", dir, nullptr, MS_BIND | MS_REC, nullptr) < 0 || ::chdir(dir) < 0
        || ::mount(".", "/", nullptr, MS_MOVE, nullptr) < 0 || ::chroot(".") < 0 || ::chdir("/") < 0) {
        console(std::string("HUSK-AGENT: bind the initramfs over itself: ") + std::strerror(errno));
        return;
    }
    ::setenv(marker, "1", 1);
}

void early_setup()
{
    constexpr unsigned long nsx = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    enter_bound_root();
    do_mount("proc", "/proc", "proc", nsx, nullptr);
    do_mount("sysfs", "/sys", "sysfs", nsx, nullptr);
    do_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    ensure_stdio();
    do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    do_mount("shm", "/dev/shm", "tmpfs", nsx, "mode=1777");
    do_mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    do_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    do_mount("cgroup2", "/sys/fs/cgroup", "cgroup2", nsx, nullptr);
    enable_controllers();
    load_modules();
}

bool probe_requested()
{
    auto cmdline = fs::read_file("/proc/cmdline");
    if (!cmdline)
        return false;
    std::istringstream in(*cmdline);
    std::string word;
    while (in >> word)
        if (word == "husk.probe=1")
            return true;
    return false;
}

Result<Fd> open_agent_port(int timeout_ms)
{
    for (int waited = 0;; waited += 50) {
        if (DIR* d = ::opendir("/sys/class/virtio-ports")) {
            std::string found;
            while (dirent* e = ::readdir(d)) {
                if (e->d_name[0] == '.')
                    continue;
                auto name = fs::read_file(std::string("/sys/class/virtio-ports/") + e->d_name + "/name");
                if (name && (*name == "agent" || *name == "agent\n")) {
                    found = e->d_name;
                    break;
                }
            }
            ::closedir(d);
            if (!found.empty()) {
                int fd = ::open(("/dev/" + found).c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
                if (fd >= 0)
                    return Fd(fd);
                if (waited >= timeout_ms)
                    return fail_errno("open /dev/" + found);
            }
        }
        if (waited >= timeout_ms)
            return fail("no virtio-serial port named \"agent\" in /sys/class/virtio-ports");
        ::usleep(50'000);
    }
}

void power_off()
{
    ::sync();
    ::reboot(RB_POWER_OFF);
    // Only reached when the kernel refused; PID 1 must not exit (that panics the guest).
    for (;;)
        ::pause();
}

} // namespace husk::agent::guest
