#include "runtime/rootfs/rootfs.hpp"

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/sys.hpp"
#include "runtime/rootfs/devices.hpp"
#include "runtime/rootfs/in_root.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace husk::rootfs {

namespace {

constexpr unsigned long propagation_mask = MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE;

Result<> do_mount(const char* source, const std::string& target, const char* type, unsigned long flags,
                  const char* data, const std::string& shown)
{
    if (::mount(source, target.c_str(), type, flags, data) < 0)
        return fail_errno("mount " + std::string(source && *source ? source : "(none)") + " on " + shown
                          + (type && *type ? " (" + std::string(type) + ")" : std::string()));
    return {};
}

// Flags a remount must keep: in a user namespace the kernel refuses to drop flags that
// were locked by a more privileged mount namespace.
unsigned long locked_flags(const std::string& target)
{
    struct statvfs sv {};
    if (::statvfs(target.c_str(), &sv) < 0)
        return 0;
    unsigned long out = 0;
    if (sv.f_flag & ST_NOSUID) out |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) out |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) out |= MS_NOEXEC;
    if (sv.f_flag & ST_RDONLY) out |= MS_RDONLY;
    if (sv.f_flag & ST_NOATIME) out |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) out |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) out |= MS_RELATIME;
    return out;
}

Result<> remount_bind(const std::string& target, unsigned long flags, unsigned long clear, const std::string& shown)
{
    unsigned long keep = locked_flags(target) & ~clear;
    // RDONLY only stays when asked for or when it was locked and not cleared.
    if (!(flags & MS_RDONLY) && (clear & MS_RDONLY))
        keep &= ~MS_RDONLY;
    unsigned long f = MS_BIND | MS_REMOUNT | (flags & ~(MS_BIND | MS_REC | propagation_mask)) | keep;
    if (::mount("", target.c_str(), "", f, nullptr) == 0)
        return {};
    return fail_errno("remount " + shown);
}

bool source_is_dir(const spec::Mount& m)
{
    if (!m.is_bind())
        return true;
    struct stat st {};
    return ::stat(m.source.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string cgroup_subdir_name(const cgroups::Hierarchy& h)
{
    if (h.v2)
        return "unified";
    if (h.controllers.starts_with("name="))
        return h.controllers.substr(5);
    return h.controllers;
}

// type "cgroup"/"cgroup2": the container sees its own cgroup, read-only unless asked.
Result<> mount_cgroups(const Plan& plan, BorrowedFd root, const spec::Mount& m, const std::string& target)
{
    unsigned long flags = m.flags & ~(MS_BIND | MS_REC);
    if (plan.cgroup_mode == cgroups::Mode::Unified || m.type == "cgroup2") {
        const cgroups::Hierarchy* h = nullptr;
        for (const auto& c : plan.cgroups)
            if (c.v2)
                h = &c;
        if (plan.new_cgroup_ns || !h)
            return do_mount("cgroup2", target, "cgroup2", flags, nullptr, m.destination);
        TRY(do_mount(h->dir.c_str(), target, "", MS_BIND | MS_REC, nullptr, m.destination));
        Fd again = TRY(open_in_root(root, m.destination, Create::No));
        return remount_bind(fd_path(again.borrow()), flags, m.clear_flags, m.destination);
    }
    // Legacy/hybrid: a tmpfs with one directory per hierarchy.
    TRY(do_mount("tmpfs", target, "tmpfs", flags & ~MS_RDONLY, "mode=755", m.destination));
    for (const auto& h : plan.cgroups) {
        std::string name = cgroup_subdir_name(h);
        std::string sub_path = m.destination + "/" + name;
        Fd sub = TRY(open_in_root(root, sub_path, Create::Directory));
        std::string sub_target = fd_path(sub.borrow());
        if (plan.new_cgroup_ns) {
            if (h.v2)
                TRY(do_mount("cgroup2", sub_target, "cgroup2", flags, nullptr, sub_path));
            else
                TRY(do_mount("cgroup", sub_target, "cgroup", flags, h.controllers.c_str(), sub_path));
        } else {
            TRY(do_mount(h.dir.c_str(), sub_target, "", MS_BIND | MS_REC, nullptr, sub_path));
            Fd again = TRY(open_in_root(root, sub_path, Create::No));
            TRY(remount_bind(fd_path(again.borrow()), flags, m.clear_flags, sub_path));
        }
        // Combined hierarchies ("cpu,cpuacct") are also reachable by each name.
        if (!h.v2 && name.find(',') != std::string::npos) {
            Fd dir = TRY(open_in_root(root, m.destination, Create::No));
            size_t pos = 0;
            while (pos <= name.size()) {
                size_t next = name.find(',', pos);
                if (next == std::string::npos)
                    next = name.size();
                std::string alias = name.substr(pos, next - pos);
                pos = next + 1;
                if (::symlinkat(name.c_str(), dir.get(), alias.c_str()) < 0 && errno != EEXIST)
                    return fail_errno("symlink " + m.destination + "/" + alias);
            }
        }
    }
    if (flags & MS_RDONLY) {
        Fd again = TRY(open_in_root(root, m.destination, Create::No));
        TRY(remount_bind(fd_path(again.borrow()), MS_RDONLY | flags, 0, m.destination));
    }
    return {};
}

// CVE-2019-16884 class: proc and sysfs go only onto an ordinary directory of the rootfs.
// A symlink there (even one that stays inside the root) or a file is refused, so the
// rootfs cannot steer where the kernel's files appear, or put its own files where husk
// expects them.
Result<> check_special_destination(BorrowedFd root, const spec::Mount& m)
{
    if (m.type != "proc" && m.type != "sysfs")
        return {};
    auto slash = m.destination.find_last_of('/');
    std::string parent = slash == 0 ? "/" : m.destination.substr(0, slash);
    std::string name = m.destination.substr(slash + 1);
    if (name.empty() || name == "." || name == "..")
        return fail("mount " + m.type + " on " + m.destination + ": not an ordinary directory");
    Fd dir = TRY(open_in_root(root, parent, Create::Directory));
    struct stat st {};
    if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return {};
        return fail_errno("stat " + m.destination);
    }
    if (!S_ISDIR(st.st_mode))
        return fail("mount " + m.type + " on " + m.destination + ": " + (S_ISLNK(st.st_mode) ? "a symlink" : "not a directory")
                    + " in the rootfs; " + m.type + " must be mounted on an ordinary directory");
    return {};
}

Result<> mount_one(const Plan& plan, BorrowedFd root, const spec::Mount& m)
{
    TRY(check_special_destination(root, m));
    Create kind = source_is_dir(m) ? Create::Directory : Create::File;
    Fd target_fd = TRY(open_in_root(root, m.destination, kind));
    std::string target = fd_path(target_fd.borrow());

    if (m.type == "cgroup" || m.type == "cgroup2") {
        TRY(mount_cgroups(plan, root, m, target));
    } else if (m.is_bind()) {
        TRY(do_mount(m.source.c_str(), target, "", MS_BIND | (m.flags & MS_REC), nullptr, m.destination));
        unsigned long extra = m.flags & ~(MS_BIND | MS_REC | propagation_mask);
        if (extra) {
            // The new mount sits on top of the fd's path: address it by path through the fd.
            Fd again = TRY(open_in_root(root, m.destination, Create::No));
            TRY(remount_bind(fd_path(again.borrow()), extra, m.clear_flags, m.destination));
        }
    } else {
        // linux.mountLabel labels the file systems husk makes (create refuses it on hosts
        // without SELinux); proc, sysfs and mqueue keep the kernel's labels.
        std::string options = m.data;
        const std::string& label = plan.config->linux.mount_label;
        if (!label.empty() && m.type != "proc" && m.type != "sysfs" && m.type != "mqueue")
            options += (options.empty() ? "" : ",") + std::string("context=\"") + label + "\"";
        const char* data = options.empty() ? nullptr : options.c_str();
        auto r = do_mount(m.source.c_str(), target, m.type.c_str(), m.flags & ~propagation_mask, data, m.destination);
        if (!r && m.type == "sysfs" && (r.error().code() == EPERM || r.error().code() == EBUSY)) {
            // A user namespace without its own network namespace may not mount sysfs:
            // give it the host's, read-only, as a bind.
            TRY(do_mount("/sys", target, "", MS_BIND | MS_REC, nullptr, m.destination));
            Fd again = TRY(open_in_root(root, m.destination, Create::No));
            TRY(remount_bind(fd_path(again.borrow()), MS_RDONLY | (m.flags & ~propagation_mask), 0, m.destination));
        } else if (!r && m.type == "mqueue" && r.error().code() == EPERM) {
            TRY(do_mount("/dev/mqueue", target, "", MS_BIND, nullptr, m.destination));
        } else if (!r) {
            return std::unexpected(r.error());
        }
    }
    if (m.propagation) {
        Fd again = TRY(open_in_root(root, m.destination, Create::No));
        TRY(do_mount("", fd_path(again.borrow()), "", m.propagation, nullptr, m.destination));
    }
    return {};
}

bool dev_is_bind(const spec::Config& config)
{
    for (const auto& m : config.mounts)
        if (m.destination == "/dev" && m.is_bind())
            return true;
    return false;
}

bool dev_is_mounted(const spec::Config& config)
{
    for (const auto& m : config.mounts)
        if (m.destination == "/dev")
            return true;
    return false;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& s)
{
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
            out.push_back(static_cast<char>(v));
            i += 3;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

// pivot_root refuses a new root whose parent mount is shared (rootfsPropagation "shared"
// or "rshared", or a shared host mount): make just that parent mount private.
Result<> make_parent_mount_private(const std::string& rootfs)
{
    auto text = TRY(fs::read_file("/proc/self/mountinfo"));
    std::string best;
    bool best_shared = false;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos)
            end = text.size();
        std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        // id parent dev root mountpoint options optional... - type source superopts
        size_t f[5];
        size_t p = 0;
        bool ok = true;
        for (int i = 0; i < 5; ++i) {
            p = line.find(' ', p);
            if (p == std::string::npos) {
                ok = false;
                break;
            }
            f[i] = ++p;
        }
        if (!ok)
            continue;
        std::string mp = unescape_mountinfo(line.substr(f[3], f[4] - f[3] - 1));
        bool under = mp == "/" || rootfs == mp || rootfs.starts_with(mp + "/");
        if (under && mp.size() >= best.size()) {
            best = mp;
            size_t dash = line.find(" - ");
            best_shared = line.substr(f[4], dash - f[4]).find(" shared:") != std::string::npos;
        }
    }
    if (best.empty() || !best_shared)
        return {};
    return do_mount("", best, "", MS_PRIVATE, nullptr, best);
}

Result<> pivot_into(const std::string& rootfs, Pivot how)
{
    if (how == Pivot::Chroot) {
        if (::chdir(rootfs.c_str()) < 0)
            return fail_errno("chdir " + rootfs);
        TRY(do_mount(rootfs.c_str(), "/", "", MS_MOVE, nullptr, "/"));
        if (::chroot(".") < 0)
            return fail_errno("chroot " + rootfs);
        if (::chdir("/") < 0)
            return fail_errno("chdir /");
        return {};
    }
    Fd oldroot = TRY(fs::open("/", O_DIRECTORY | O_RDONLY));
    Fd newroot = TRY(fs::open(rootfs, O_DIRECTORY | O_RDONLY));
    if (::fchdir(newroot.get()) < 0)
        return fail_errno("chdir " + rootfs);
    // pivot_root(".", ".") stacks the old root on top of the new one; detach it afterwards.
    if (sys::pivot_root(".", ".") < 0)
        return fail_errno("pivot_root " + rootfs);
    if (::fchdir(oldroot.get()) < 0)
        return fail_errno("chdir to the old root");
    // Keep the unmount from propagating back to the host.
    TRY(do_mount("", ".", "", MS_SLAVE | MS_REC, nullptr, "the old root"));
    if (::umount2(".", MNT_DETACH) < 0)
        return fail_errno("unmount the old root");
    if (::chdir("/") < 0)
        return fail_errno("chdir /");
    return {};
}

Result<> write_sysctl(const std::string& key, const std::string& value)
{
    std::string path = "/proc/sys/";
    for (char c : key)
        path.push_back(c == '.' ? '/' : c);
    auto r = fs::write_procfs_file(path, value);
    if (!r)
        return std::unexpected(r.error().prefix("sysctl " + key));
    return {};
}

Result<> mask_path(const std::string& path)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0) {
        if (errno == ENOENT)
            return {};
        return fail_errno("stat " + path);
    }
    if (S_ISDIR(st.st_mode))
        return do_mount("tmpfs", path, "tmpfs", MS_RDONLY, nullptr, path);
    return do_mount("/dev/null", path, "", MS_BIND, nullptr, path);
}

Result<> readonly_path(const std::string& path)
{
    if (::mount(path.c_str(), path.c_str(), "", MS_BIND | MS_REC, nullptr) < 0) {
        if (errno == ENOENT)
            return {};
        return fail_errno("bind " + path + " read-only");
    }
    return remount_bind(path, MS_RDONLY | MS_REC, 0, path);
}

} // namespace

Result<> setup(const Plan& plan, const std::function<Result<>()>& before_pivot)
{
    const spec::Config& config = *plan.config;
    const std::string& rootfs = config.root.path;

    unsigned long prop = config.linux.rootfs_propagation ? config.linux.rootfs_propagation : (MS_SLAVE | MS_REC);
    TRY(do_mount("", "/", "", prop, nullptr, "/"));
    TRY(make_parent_mount_private(rootfs));
    // A bind of the root onto itself makes it a mount point, which pivot_root requires.
    TRY(do_mount(rootfs.c_str(), rootfs, "", MS_BIND | MS_REC, nullptr, rootfs));

    Fd root = TRY(fs::open(rootfs, O_PATH | O_DIRECTORY));
    for (const auto& m : config.mounts)
        TRY(mount_one(plan, root.borrow(), m));

    if (!dev_is_bind(config)) {
        DevicePlan dp { config.linux.devices, plan.in_user_ns, dev_is_mounted(config) };
        TRY(create_devices(root.borrow(), dp));
    }

    // The working directory is made as root, before users and the pivot change.
    if (config.has_process)
        TRY_CTX(open_in_root(root.borrow(), config.process.cwd, Create::Directory), "create cwd");

    if (before_pivot)
        TRY(before_pivot());
    return pivot_into(rootfs, plan.pivot);
}

Result<> finalize(const Plan& plan)
{
    const spec::Config& config = *plan.config;
    for (const auto& [key, value] : config.linux.sysctl)
        TRY(write_sysctl(key, value));
    for (const auto& p : config.linux.readonly_paths)
        TRY(readonly_path(p));
    for (const auto& p : config.linux.masked_paths)
        TRY(mask_path(p));
    if (config.root.readonly)
        TRY(remount_bind("/", MS_RDONLY, 0, "/ read-only"));
    return {};
}

} // namespace husk::rootfs
