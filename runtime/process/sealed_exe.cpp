#include "runtime/process/sealed_exe.hpp"

#include "common/fd.hpp"
#include "common/log.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char** environ;

namespace husk::process {

namespace {

constexpr const char* marker = "HUSK_SEALED_EXE";
constexpr long overlayfs_magic = 0x794c7630;
// Linux 6.3 asks memfds that will be exec'd to say so (vm.memfd_noexec); older kernels
// refuse the flag, and then exec is allowed anyway.
constexpr unsigned memfd_exec = 0x0010U;
constexpr int wanted_seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

const char* g_kind = "none";

const char* kind_of(int fd)
{
    int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals >= 0 && (seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)) == (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW))
        return "memfd";
    struct statfs fs {};
    if (::fstatfs(fd, &fs) == 0 && (fs.f_flags & ST_RDONLY))
        return fs.f_type == overlayfs_magic ? "overlay" : "read-only mount";
    return "none";
}

// The overlay: the binary's directory as the top lower layer, no upper layer, mounted detached
// and read-only. Fails (quietly: the caller falls back) without CAP_SYS_ADMIN or on a
// directory name overlayfs cannot take.
bool exec_from_overlay(const std::string& exe, char** argv)
{
    auto slash = exe.rfind('/');
    if (slash == std::string::npos)
        return false;
    std::string dir = slash == 0 ? "/" : exe.substr(0, slash);
    std::string base = exe.substr(slash + 1);
    if (dir.find_first_of(":,\\") != std::string::npos || base.empty())
        return false;
    // Overlayfs wants two layers when there is no upper one: the second is an empty tmpfs,
    // itself a detached mount, named through our fd table.
    Fd tmpfs_ctx(::fsopen("tmpfs", FSOPEN_CLOEXEC));
    if (!tmpfs_ctx || ::fsconfig(tmpfs_ctx.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
        return false;
    Fd empty(::fsmount(tmpfs_ctx.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY));
    if (!empty)
        return false;
    std::string layers = dir + ":/proc/self/fd/" + std::to_string(empty.get());
    Fd ctx(::fsopen("overlay", FSOPEN_CLOEXEC));
    if (!ctx)
        return false;
    if (::fsconfig(ctx.get(), FSCONFIG_SET_STRING, "lowerdir", layers.c_str(), 0) < 0
        || ::fsconfig(ctx.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
        log::debug("sealed exe: overlay of " + dir + ": " + std::strerror(errno));
        return false;
    }
    Fd mnt(::fsmount(ctx.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID));
    if (!mnt)
        return false;
    ctx.reset();
    ::execveat(mnt.get(), base.c_str(), argv, environ, 0);
    log::debug("sealed exe: exec from the overlay: " + std::string(std::strerror(errno)));
    return false;
}

Result<> exec_from_memfd(int exe, char** argv)
{
    int fd = ::memfd_create("husk", MFD_CLOEXEC | MFD_ALLOW_SEALING | memfd_exec);
    if (fd < 0 && errno == EINVAL)
        fd = ::memfd_create("husk", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return fail_errno("memfd for a sealed copy of husk");
    Fd mem(fd);
    struct stat st {};
    if (::fstat(exe, &st) < 0)
        return fail_errno("stat /proc/self/exe");
    off_t offset = 0;
    while (offset < st.st_size) {
        ssize_t n = ::sendfile(mem.get(), exe, &offset, static_cast<size_t>(st.st_size - offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fail_errno("copy husk into a memfd");
    }
    if (::fcntl(mem.get(), F_ADD_SEALS, wanted_seals) < 0)
        return fail_errno("seal the memfd copy of husk");
    ::execveat(mem.get(), "", argv, environ, AT_EMPTY_PATH);
    return fail_errno("exec the sealed copy of husk");
}

} // namespace

Result<> ensure_sealed_exe(char** argv)
{
    Fd exe(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!exe)
        return fail_errno("open /proc/self/exe");
    g_kind = kind_of(exe.get());
    if (std::getenv(marker)) {
        ::unsetenv(marker);
        if (g_kind == std::string_view("none"))
            return fail("husk was re-executed from a sealed copy, but still runs from a writable binary");
        return {};
    }
    if (g_kind != std::string_view("none"))
        return {};

    char path[4096];
    ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    std::string exe_path = n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
    ::setenv(marker, "1", 1);
    if (!exe_path.empty() && exe_path[0] == '/' && !exe_path.ends_with(" (deleted)"))
        exec_from_overlay(exe_path, argv);
    auto r = exec_from_memfd(exe.get(), argv);
    ::unsetenv(marker);
    return r;
}

const char* sealed_exe_kind()
{
    return g_kind;
}

} // namespace husk::process
