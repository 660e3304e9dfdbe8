#include "image/unpack.hpp"

#include "common/fs.hpp"
#include "common/sys.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

namespace husk::image {

namespace {

constexpr const char* kWhiteoutPrefix = ".wh.";
constexpr const char* kOpaqueMarker = ".wh..wh..opq";

// Opens the directory `rel` below `root` without leaving it. A symlink on the way that
// stays below the root is followed; one that does not (absolute, or ".." past the root) is
// followed as the container will see it, from the root (RESOLVE_IN_ROOT): Debian's
// var/run -> /run is the image's /run. Such a lookup must find an existing directory of the
// image, so a link to a host path the image does not have (link -> /etc/cron.d) fails with
// EXDEV instead of being made inside; "" is the root itself.
int open_dir_beneath(BorrowedFd root, const std::string& rel, int flags)
{
    int fd = sys::openat2_resolved(root.get(), rel, flags, RESOLVE_BENEATH);
    if (fd >= 0 || errno != EXDEV)
        return fd;
    fd = sys::openat2_resolved(root.get(), rel, flags, RESOLVE_IN_ROOT);
    if (fd < 0 && errno == ENOENT)
        errno = EXDEV;
    return fd;
}

std::string dir_of(const std::string& path)
{
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string base_of(const std::string& path)
{
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

class Applier {
public:
    Applier(BorrowedFd root, const std::string& label, const ApplyOptions& options)
        : m_root(root), m_label(label), m_options(options)
    {
    }

    Result<> entry(struct archive* a, struct archive_entry* e);
    Result<> finish();
    ApplyStats& stats() { return m_stats; }

private:
    Error refuse(const std::string& name, const std::string& why) const
    {
        return Error::plain("layer " + m_label + ": entry \"" + name + "\": " + why);
    }
    Error refuse_errno(const std::string& name, const std::string& what) const
    {
        return Error::from_errno("layer " + m_label + ": entry \"" + name + "\": " + what);
    }
    void warn(std::string text)
    {
        if (m_stats.warnings.size() < 100)
            m_stats.warnings.push_back("layer " + m_label + ": " + std::move(text));
    }

    // The directory `dir` (relative to the root), made when missing if `create`; -1 with
    // errno ENOENT when missing and not made. The fd is owned by the one-entry cache.
    Result<int> parent(const std::string& dir, const std::string& entry_name, bool create);
    // Removes what is at `base` for a new entry; with KeepDir::Yes an existing directory stays
    // (a directory entry over a directory merges). Returns whether something was kept.
    enum class KeepDir { No, Yes };
    Result<bool> replace_existing(int pfd, const std::string& base, const std::string& name, KeepDir keep_dir = KeepDir::No);
    Result<> whiteout(const std::string& dir, const std::string& target, const std::string& name);
    Result<> opaque(const std::string& dir, const std::string& name);
    Result<> prune(BorrowedFd dfd, const std::string& dir);
    Result<> metadata(const std::string& name, int fd, int pfd, const std::string& base, struct archive_entry* e,
                      bool is_symlink);
    Result<> xattrs(const std::string& name, int fd, struct archive_entry* e);
    void invalidate() { m_cached_fd = Fd(); }

    BorrowedFd m_root;
    const std::string& m_label;
    const ApplyOptions& m_options;
    ApplyStats m_stats;
    std::string m_cached_dir;
    Fd m_cached_fd;
    std::unordered_set<std::string> m_created; // names this layer made (for opaque dirs)
    struct DirMeta {
        std::string name;
        mode_t mode;
        bool has_mtime;
        timespec times[2];
    };
    std::vector<DirMeta> m_dirs; // mode and times set when the layer is done
};

Result<int> Applier::parent(const std::string& dir, const std::string& name, bool create)
{
    if (m_cached_fd && m_cached_dir == dir)
        return m_cached_fd.get();
    invalidate();
    int fd = open_dir_beneath(m_root, dir, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT && create) {
        // Make the missing directories one by one, each looked up again beneath the root.
        std::string sofar;
        size_t pos = 0;
        Fd cur(open_dir_beneath(m_root, "", O_PATH | O_DIRECTORY));
        if (!cur)
            return std::unexpected(refuse_errno(name, "open the root"));
        while (pos <= dir.size()) {
            size_t slash = dir.find('/', pos);
            if (slash == std::string::npos)
                slash = dir.size();
            std::string comp = dir.substr(pos, slash - pos);
            pos = slash + 1;
            sofar = join(sofar, comp);
            int next = open_dir_beneath(m_root, sofar, O_PATH | O_DIRECTORY);
            if (next < 0 && errno == ENOENT) {
                // EEXIST here is a dangling symlink: mkdir does not follow it, and the
                // lookup below fails on it again.
                if (::mkdirat(cur.get(), comp.c_str(), 0755) < 0 && errno != EEXIST)
                    return std::unexpected(refuse_errno(name, "make directory " + sofar));
                m_created.insert(sofar);
                next = open_dir_beneath(m_root, sofar, O_PATH | O_DIRECTORY);
                if (next < 0 && errno == ENOENT)
                    errno = EXDEV;
            }
            if (next < 0)
                break; // reported below from errno
            cur = Fd(next);
        }
        fd = pos > dir.size() ? cur.release() : -1;
    }
    if (fd < 0) {
        if (errno == EXDEV || errno == ELOOP)
            return std::unexpected(refuse(name, "its directory \"" + dir +
                                                    "\" goes through a symlink that leads out of the root (to nothing the image has)"));
        if (errno == ENOTDIR)
            return std::unexpected(refuse(name, "a component of \"" + dir + "\" is not a directory"));
        if (errno == ENOENT && !create)
            return -1;
        return std::unexpected(refuse_errno(name, "open directory \"" + dir + "\""));
    }
    m_cached_dir = dir;
    m_cached_fd = Fd(fd);
    return fd;
}

Result<bool> Applier::replace_existing(int pfd, const std::string& base, const std::string& name, KeepDir keep_dir)
{
    struct stat st;
    if (::fstatat(pfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return false;
        return std::unexpected(refuse_errno(name, "stat the existing entry"));
    }
    if (keep_dir == KeepDir::Yes && S_ISDIR(st.st_mode))
        return true;
    TRY_CTX(fs::remove_all_at(BorrowedFd(pfd), base), "layer " + m_label + ": entry \"" + name + "\": replace");
    return false;
}

Result<> Applier::xattrs(const std::string& name, int fd, struct archive_entry* e)
{
    if (archive_entry_xattr_reset(e) == 0)
        return {};
    const char* key = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
        if (::fsetxattr(fd, key, value, size, 0) < 0) {
            if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP)
                warn("entry \"" + name + "\": xattr " + key + " not set: " + std::string(strerror(errno)));
            else
                return std::unexpected(refuse_errno(name, std::string("set xattr ") + key));
        }
    }
    return {};
}

Result<> Applier::metadata(const std::string& name, int fd, int pfd, const std::string& base, struct archive_entry* e,
                           bool is_symlink)
{
    if (m_options.ownership == Ownership::Keep) {
        uid_t uid = static_cast<uid_t>(archive_entry_uid(e));
        gid_t gid = static_cast<gid_t>(archive_entry_gid(e));
        int r = fd >= 0 ? ::fchown(fd, uid, gid) : ::fchownat(pfd, base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
        if (r < 0)
            return std::unexpected(refuse_errno(name, "chown to " + std::to_string(uid) + ":" + std::to_string(gid)));
    }
    if (is_symlink) {
        // Symlinks have no mode of their own; their times are set without following them.
    } else if (fd >= 0) {
        // After chown: chown clears the set-id bits.
        if (::fchmod(fd, archive_entry_mode(e) & 07777) < 0)
            return std::unexpected(refuse_errno(name, "chmod"));
    } else if (::fchmodat(pfd, base.c_str(), archive_entry_mode(e) & 07777, 0) < 0) {
        return std::unexpected(refuse_errno(name, "chmod"));
    }
    if (archive_entry_mtime_is_set(e)) {
        timespec ts[2];
        ts[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
        ts[0] = archive_entry_atime_is_set(e) ? timespec {archive_entry_atime(e), archive_entry_atime_nsec(e)} : ts[1];
        int r = fd >= 0 ? ::futimens(fd, ts) : ::utimensat(pfd, base.c_str(), ts, AT_SYMLINK_NOFOLLOW);
        if (r < 0)
            return std::unexpected(refuse_errno(name, "set times"));
    }
    return {};
}

Result<> Applier::prune(BorrowedFd dfd, const std::string& dir)
{
    std::string where = "layer " + m_label + ": opaque directory \"" + dir + "\"";
    auto children = TRY_CTX(fs::list_dir(dfd), where);
    for (const auto& child : children) {
        std::string full = join(dir, child);
        if (!m_created.contains(full)) {
            TRY_CTX(fs::remove_all_at(dfd, child), where);
            continue;
        }
        // Made again by this layer over an earlier one's: what the earlier had is hidden too.
        // (Not a directory, or a symlink: ENOTDIR/ELOOP, nothing below to hide.)
        int sub = ::openat(dfd.get(), child.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            Fd subfd(sub);
            TRY(prune(subfd.borrow(), full));
        }
    }
    return {};
}

Result<> Applier::opaque(const std::string& dir, const std::string& name)
{
    bool overlay = m_options.whiteouts == WhiteoutMode::Overlay;
    int pfd = TRY(parent(dir, name, true));
    if (overlay) {
        // fsetxattr needs a real fd; the O_PATH one from the cache is not enough.
        int fd = ::openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return std::unexpected(refuse_errno(name, "open its directory"));
        Fd dfd(fd);
        if (::fsetxattr(dfd.get(), "trusted.overlay.opaque", "y", 1, 0) < 0)
            return std::unexpected(refuse_errno(name, "mark the directory opaque"));
        return {};
    }
    BorrowedFd dfd(pfd);
    TRY(prune(dfd, dir));
    invalidate();
    return {};
}

Result<> Applier::whiteout(const std::string& dir, const std::string& target, const std::string& name)
{
    if (target.empty() || target == "." || target == ".." || target.starts_with(kWhiteoutPrefix))
        return std::unexpected(refuse(name, "not a valid whiteout"));
    bool overlay = m_options.whiteouts == WhiteoutMode::Overlay;
    int pfd = TRY(parent(dir, name, overlay));
    if (pfd < 0)
        return {}; // whiting out under a directory no layer made: nothing to remove
    TRY(replace_existing(pfd, target, name));
    m_created.erase(join(dir, target));
    if (overlay) {
        if (::mknodat(pfd, target.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0)
            return std::unexpected(refuse_errno(name, "make the overlay whiteout"));
    }
    invalidate();
    return {};
}

Result<> Applier::entry(struct archive* a, struct archive_entry* e)
{
    const char* raw = archive_entry_pathname(e);
    if (raw == nullptr)
        return fail("layer " + m_label + ": an entry without a name");
    auto cleaned = clean_entry_name(raw);
    if (!cleaned)
        return std::unexpected(refuse(raw, cleaned.error().what()));
    const std::string& name = *cleaned;
    ++m_stats.entries;
    std::string dir = dir_of(name);
    std::string base = base_of(name);

    if (base == kOpaqueMarker)
        return opaque(dir, name);
    if (base.starts_with(kWhiteoutPrefix))
        return whiteout(dir, base.substr(4), name);

    mode_t type = archive_entry_filetype(e);
    if (name.empty()) {
        // "./": the root directory's own metadata.
        if (type != AE_IFDIR)
            return std::unexpected(refuse(raw, "the root is not a directory"));
        if (m_options.ownership == Ownership::Keep &&
            ::fchownat(m_root.get(), "", static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e)),
                       AT_EMPTY_PATH) < 0)
            return std::unexpected(refuse_errno(raw, "chown the root"));
        DirMeta meta {name, archive_entry_mode(e) & 07777, archive_entry_mtime_is_set(e) != 0, {}};
        meta.times[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
        meta.times[0] = meta.times[1];
        m_dirs.push_back(meta);
        return {};
    }

    int pfd = TRY(parent(dir, name, true));
    m_created.insert(name);

    if (const char* link = archive_entry_hardlink(e)) {
        auto target = clean_entry_name(link);
        if (!target)
            return std::unexpected(refuse(name, "hard link target \"" + std::string(link) + "\": " + target.error().what()));
        if (target->empty())
            return std::unexpected(refuse(name, "hard link to the root"));
        if (*target == name)
            return {};
        std::string tdir = dir_of(*target);
        int tfd = open_dir_beneath(m_root, tdir, O_PATH | O_DIRECTORY);
        if (tfd < 0) {
            if (errno == EXDEV || errno == ELOOP)
                return std::unexpected(refuse(name, "hard link target \"" + *target + "\" goes through a symlink that leads out of the root"));
            return std::unexpected(refuse_errno(name, "hard link target \"" + *target + "\""));
        }
        Fd tparent(tfd);
        TRY(replace_existing(pfd, base, name));
        // flags 0: a symlink target is linked itself, never followed.
        if (::linkat(tparent.get(), base_of(*target).c_str(), pfd, base.c_str(), 0) < 0) {
            if (errno == ENOENT)
                return std::unexpected(refuse(name, "hard link to \"" + *target + "\", which no layer so far has"));
            return std::unexpected(refuse_errno(name, "hard link to \"" + *target + "\""));
        }
        return {};
    }

    switch (type) {
    case AE_IFREG: {
        int fd = ::openat(pfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST) {
            TRY(replace_existing(pfd, base, name));
            fd = ::openat(pfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        }
        if (fd < 0)
            return std::unexpected(refuse_errno(name, "create"));
        Fd out(fd);
        const void* buf = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        for (;;) {
            int r = archive_read_data_block(a, &buf, &size, &offset);
            if (r == ARCHIVE_EOF)
                break;
            if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
                return fail("layer " + m_label + ": entry \"" + name + "\": read: " + archive_error_string(a));
            const char* p = static_cast<const char*>(buf);
            while (size > 0) {
                ssize_t n = ::pwrite(out.get(), p, size, offset);
                if (n < 0) {
                    if (errno == EINTR)
                        continue;
                    return std::unexpected(refuse_errno(name, "write"));
                }
                p += n;
                size -= static_cast<size_t>(n);
                offset += n;
                m_stats.bytes += static_cast<uint64_t>(n);
            }
        }
        // A sparse file's last hole has no data block.
        la_int64_t want = archive_entry_size(e);
        if (archive_entry_size_is_set(e) && want > 0 && offset < want && ::ftruncate(out.get(), want) < 0)
            return std::unexpected(refuse_errno(name, "set size"));
        TRY(metadata(name, out.get(), pfd, base, e, false));
        TRY(xattrs(name, out.get(), e));
        return {};
    }
    case AE_IFDIR: {
        if (::mkdirat(pfd, base.c_str(), 0700) < 0) {
            if (errno != EEXIST)
                return std::unexpected(refuse_errno(name, "make directory"));
            bool kept = TRY(replace_existing(pfd, base, name, KeepDir::Yes));
            if (!kept && ::mkdirat(pfd, base.c_str(), 0700) < 0)
                return std::unexpected(refuse_errno(name, "make directory"));
        }
        if (m_options.ownership == Ownership::Keep &&
            ::fchownat(pfd, base.c_str(), static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e)),
                       AT_SYMLINK_NOFOLLOW) < 0)
            return std::unexpected(refuse_errno(name, "chown"));
        if (archive_entry_xattr_count(e) > 0) {
            int fd = ::openat(pfd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0)
                return std::unexpected(refuse_errno(name, "open directory"));
            Fd dfd(fd);
            TRY(xattrs(name, dfd.get(), e));
        }
        // Mode and times last: entries below change the times, and a read-only mode would
        // stop a rootless unpack from writing them.
        DirMeta meta {name, archive_entry_mode(e) & 07777, archive_entry_mtime_is_set(e) != 0, {}};
        meta.times[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
        meta.times[0] = archive_entry_atime_is_set(e) ? timespec {archive_entry_atime(e), archive_entry_atime_nsec(e)} : meta.times[1];
        m_dirs.push_back(meta);
        return {};
    }
    case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        if (target == nullptr || *target == '\0')
            return std::unexpected(refuse(name, "symlink without a target"));
        // The target is stored as written: it is resolved inside the container, at run time.
        if (::symlinkat(target, pfd, base.c_str()) < 0) {
            if (errno != EEXIST)
                return std::unexpected(refuse_errno(name, "make symlink"));
            TRY(replace_existing(pfd, base, name));
            if (::symlinkat(target, pfd, base.c_str()) < 0)
                return std::unexpected(refuse_errno(name, "make symlink"));
        }
        if (archive_entry_xattr_count(e) > 0)
            warn("entry \"" + name + "\": xattrs on a symlink not set");
        return metadata(name, -1, pfd, base, e, true);
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
        if (type != AE_IFIFO && m_options.ownership == Ownership::Ignore) {
            warn("entry \"" + name + "\": device node skipped (rootless)");
            return {};
        }
        dev_t dev = type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        if (::mknodat(pfd, base.c_str(), type | 0600, dev) < 0) {
            if (errno != EEXIST)
                return std::unexpected(refuse_errno(name, "make node"));
            TRY(replace_existing(pfd, base, name));
            if (::mknodat(pfd, base.c_str(), type | 0600, dev) < 0)
                return std::unexpected(refuse_errno(name, "make node"));
        }
        return metadata(name, -1, pfd, base, e, false);
    }
    case AE_IFSOCK:
        warn("entry \"" + name + "\": socket skipped");
        return {};
    default:
        return std::unexpected(refuse(name, "unknown file type"));
    }
}

Result<> Applier::finish()
{
    invalidate();
    for (auto it = m_dirs.rbegin(); it != m_dirs.rend(); ++it) {
        // O_NOFOLLOW: a later entry may have replaced the directory with a symlink.
        int fd = open_dir_beneath(m_root, it->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        if (fd < 0) {
            if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
                continue; // replaced or whited out later in the layer
            return fail_errno("layer " + m_label + ": entry \"" + it->name + "\": open to set its mode");
        }
        Fd dfd(fd);
        if (::fchmod(dfd.get(), it->mode) < 0)
            return fail_errno("layer " + m_label + ": entry \"" + it->name + "\": chmod");
        if (it->has_mtime && ::futimens(dfd.get(), it->times) < 0)
            return fail_errno("layer " + m_label + ": entry \"" + it->name + "\": set times");
    }
    return {};
}

} // namespace

Result<std::string> clean_entry_name(std::string_view name)
{
    if (name.starts_with("/"))
        return fail("an absolute name: layers hold names relative to the root");
    std::string out;
    size_t pos = 0;
    while (pos <= name.size()) {
        size_t slash = name.find('/', pos);
        if (slash == std::string_view::npos)
            slash = name.size();
        std::string_view comp = name.substr(pos, slash - pos);
        pos = slash + 1;
        if (comp.empty() || comp == ".")
            continue;
        if (comp == "..")
            return fail("a \"..\" component: names may not climb out of the root");
        if (!out.empty())
            out += '/';
        out += comp;
    }
    return out;
}

namespace {

// Decompression on a second thread. Inflating a layer costs about as much CPU as creating
// its files does in system calls, so the two overlap: this thread turns the compressed blob
// into tar bytes (libarchive's "raw" format with its gzip and zstd filters) and hands them
// over in chunks to the thread that applies entries, through a short bounded queue.
class Decompressor {
public:
    explicit Decompressor(int fd) : m_thread([this, fd] { run(fd); }) {}
    ~Decompressor()
    {
        {
            std::lock_guard lock(m_mutex);
            m_cancel = true;
        }
        m_cv.notify_all();
        m_thread.join();
    }
    Decompressor(const Decompressor&) = delete;
    Decompressor& operator=(const Decompressor&) = delete;

    // libarchive's read callback on the applying side.
    static la_ssize_t read(struct archive* a, void* self, const void** buffer)
    {
        auto* d = static_cast<Decompressor*>(self);
        std::unique_lock lock(d->m_mutex);
        d->m_cv.wait(lock, [d] { return !d->m_queue.empty() || d->m_done; });
        if (!d->m_queue.empty()) {
            d->m_current = std::move(d->m_queue.front());
            d->m_queue.pop_front();
            lock.unlock();
            d->m_cv.notify_all();
            *buffer = d->m_current.data();
            return static_cast<la_ssize_t>(d->m_current.size());
        }
        if (!d->m_error.empty()) {
            archive_set_error(a, EIO, "%s", d->m_error.c_str());
            return -1;
        }
        return 0;
    }

private:
    static constexpr size_t kChunk = 1 << 20;
    static constexpr size_t kQueued = 4;

    void run(int fd)
    {
        std::string error;
        struct archive* r = archive_read_new();
        archive_read_support_filter_gzip(r);
        archive_read_support_filter_zstd(r);
        archive_read_support_format_raw(r);
        struct archive_entry* e = nullptr;
        if (archive_read_open_fd(r, fd, kChunk) != ARCHIVE_OK || archive_read_next_header(r, &e) != ARCHIVE_OK) {
            error = std::string("decompress: ") + archive_error_string(r);
        } else {
            for (;;) {
                std::vector<char> chunk(kChunk);
                la_ssize_t n = archive_read_data(r, chunk.data(), chunk.size());
                if (n < 0) {
                    error = std::string("decompress: ") + archive_error_string(r);
                    break;
                }
                if (n == 0)
                    break;
                chunk.resize(static_cast<size_t>(n));
                std::unique_lock lock(m_mutex);
                m_cv.wait(lock, [this] { return m_queue.size() < kQueued || m_cancel; });
                if (m_cancel)
                    break;
                m_queue.push_back(std::move(chunk));
                lock.unlock();
                m_cv.notify_all();
            }
        }
        archive_read_free(r);
        {
            std::lock_guard lock(m_mutex);
            m_error = std::move(error);
            m_done = true;
        }
        m_cv.notify_all();
    }

    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<std::vector<char>> m_queue;
    std::vector<char> m_current; // the chunk libarchive reads now
    bool m_done = false;
    bool m_cancel = false;
    std::string m_error;
    std::thread m_thread; // last: it starts once everything above exists
};

bool is_compressed(BorrowedFd fd)
{
    unsigned char magic[4] = {};
    off_t at = ::lseek(fd.get(), 0, SEEK_CUR);
    if (at < 0 || ::pread(fd.get(), magic, sizeof magic, at) != static_cast<ssize_t>(sizeof magic))
        return false;
    bool gzip = magic[0] == 0x1f && magic[1] == 0x8b;
    bool zstd = magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd;
    return gzip || zstd;
}

} // namespace

Result<ApplyStats> apply_layer(BorrowedFd root, BorrowedFd layer, const std::string& label, const ApplyOptions& options)
{
    struct archive* a = archive_read_new();
    struct Closer {
        struct archive* a;
        ~Closer() { archive_read_free(a); }
    } closer {a};
    archive_read_support_format_tar(a);
    std::optional<Decompressor> inflater;
    int opened = ARCHIVE_OK;
    if (is_compressed(layer)) {
        inflater.emplace(layer.get());
        opened = archive_read_open(a, &*inflater, nullptr, Decompressor::read, nullptr);
    } else {
        opened = archive_read_open_fd(a, layer.get(), 1 << 20);
    }
    if (opened != ARCHIVE_OK)
        return fail("layer " + label + ": " + archive_error_string(a));
    Applier applier(root, label, options);
    for (;;) {
        struct archive_entry* e = nullptr;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return fail("layer " + label + ": not a readable tar: " + archive_error_string(a));
        TRY(applier.entry(a, e));
    }
    TRY(applier.finish());
    return std::move(applier.stats());
}

} // namespace husk::image
