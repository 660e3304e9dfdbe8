#include "runtime/rootfs/devices.hpp"

#include "common/fs.hpp"
#include "runtime/rootfs/in_root.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace husk::rootfs {

const std::vector<spec::Device>& default_devices()
{
    static const std::vector<spec::Device> devices = {
        { "/dev/null", 'c', 1, 3, 0666, 0, 0 },
        { "/dev/zero", 'c', 1, 5, 0666, 0, 0 },
        { "/dev/full", 'c', 1, 7, 0666, 0, 0 },
        { "/dev/random", 'c', 1, 8, 0666, 0, 0 },
        { "/dev/urandom", 'c', 1, 9, 0666, 0, 0 },
        { "/dev/tty", 'c', 5, 0, 0666, 0, 0 },
    };
    return devices;
}

namespace {

std::string parent_of(const std::string& path) { return path.substr(0, path.rfind('/')); }
std::string base_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

Result<> bind_device(BorrowedFd root, const spec::Device& d)
{
    Fd target = TRY(open_in_root(root, d.path, Create::File));
    if (::mount(d.path.c_str(), fd_path(target.borrow()).c_str(), "", MS_BIND, nullptr) < 0)
        return fail_errno("bind device " + d.path);
    return {};
}

Result<> mknod_device(BorrowedFd root, const spec::Device& d)
{
    Fd parent = TRY(open_in_root(root, parent_of(d.path).empty() ? "/" : parent_of(d.path), Create::Directory));
    // The O_PATH fd cannot be used for mknodat; reopen it as a directory through /proc.
    Fd dir = TRY(fs::open(fd_path(parent.borrow()), O_DIRECTORY | O_RDONLY));
    std::string name = base_of(d.path);
    mode_t type = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
    mode_t mode = d.file_mode ? (*d.file_mode & 07777) : 0666;
    dev_t dev = d.type == 'p' ? 0 : makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
    // A node or file already there (a rootfs with its own /dev) is replaced.
    if (::unlinkat(dir.get(), name.c_str(), 0) < 0 && errno != ENOENT && errno != EISDIR)
        return fail_errno("remove " + d.path);
    if (::mknodat(dir.get(), name.c_str(), type | mode, dev) < 0)
        return fail_errno("mknod " + d.path);
    if (::fchmodat(dir.get(), name.c_str(), mode, 0) < 0)
        return fail_errno("chmod " + d.path);
    if (::fchownat(dir.get(), name.c_str(), d.uid.value_or(0), d.gid.value_or(0), AT_SYMLINK_NOFOLLOW) < 0)
        return fail_errno("chown " + d.path);
    return {};
}

Result<> symlinks(BorrowedFd root)
{
    Fd dev = TRY(open_in_root(root, "/dev", Create::Directory));
    Fd dir = TRY(fs::open(fd_path(dev.borrow()), O_DIRECTORY | O_RDONLY));
    struct Link {
        const char* target;
        const char* name;
    };
    static const Link links[] = {
        { "/proc/self/fd", "fd" },     { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
        { "/proc/self/fd/2", "stderr" },
    };
    for (const auto& l : links) {
        if (::symlinkat(l.target, dir.get(), l.name) < 0 && errno != EEXIST)
            return fail_errno(std::string("symlink /dev/") + l.name);
    }
    if (::access("/proc/kcore", F_OK) == 0 && ::symlinkat("/proc/kcore", dir.get(), "core") < 0 && errno != EEXIST)
        return fail_errno("symlink /dev/core");
    // /dev/ptmx must be the container's own devpts instance.
    if (::unlinkat(dir.get(), "ptmx", 0) < 0 && errno != ENOENT)
        return fail_errno("remove /dev/ptmx");
    if (::symlinkat("pts/ptmx", dir.get(), "ptmx") < 0)
        return fail_errno("symlink /dev/ptmx");
    return {};
}

} // namespace

Result<> create_devices(BorrowedFd root, const DevicePlan& plan)
{
    mode_t old = ::umask(0);
    auto make = [&](const spec::Device& d) -> Result<> {
        if (plan.bind_instead_of_mknod)
            return bind_device(root, d);
        return mknod_device(root, d);
    };
    Result<> r;
    for (const auto& d : default_devices()) {
        bool overridden = false;
        for (const auto& s : plan.devices)
            overridden |= s.path == d.path;
        if (!overridden && !(r = make(d)))
            break;
    }
    if (r) {
        for (const auto& d : plan.devices)
            if (!(r = make(d)))
                break;
    }
    if (r && plan.dev_is_own_mount)
        r = symlinks(root);
    ::umask(old);
    return r;
}

} // namespace husk::rootfs
