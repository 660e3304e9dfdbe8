#include "common/fs.hpp"

#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace husk::fs {

Result<Fd> open(const std::string& path, int flags, mode_t mode)
{
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0)
        return fail_errno("open " + path);
    return Fd(fd);
}

Result<Fd> open_at(BorrowedFd dir, const std::string& path, int flags, mode_t mode)
{
    int fd = ::openat(dir.get(), path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0)
        return fail_errno("open " + path);
    return Fd(fd);
}

Result<std::string> read_fd(BorrowedFd fd)
{
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail_errno("read");
        }
        if (n == 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

Result<std::string> read_file(const std::string& path)
{
    Fd fd = TRY(open(path, O_RDONLY));
    return TRY_CTX(read_fd(fd.borrow()), path);
}

Result<> write_all(BorrowedFd fd, std::string_view content)
{
    size_t off = 0;
    while (off < content.size()) {
        ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail_errno("write");
        }
        off += static_cast<size_t>(n);
    }
    return {};
}

Result<> write_file(const std::string& path, std::string_view content, mode_t mode)
{
    Fd fd = TRY(open(path, O_WRONLY | O_CREAT | O_TRUNC, mode));
    TRY_CTX(write_all(fd.borrow(), content), "write " + path);
    return {};
}

Result<> write_procfs_file(const std::string& path, std::string_view content)
{
    Fd fd = TRY(open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
    struct statfs st {};
    if (::fstatfs(fd.get(), &st) < 0)
        return fail_errno("statfs " + path);
    if (st.f_type != PROC_SUPER_MAGIC)
        return fail(path + " is not on procfs: refusing to write to it");
    TRY_CTX(write_all(fd.borrow(), content), "write " + path);
    return {};
}

Result<> write_file_atomic(BorrowedFd dir, const std::string& name, std::string_view content, mode_t mode)
{
    std::string tmp = "." + name + ".tmp";
    int raw = ::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (raw < 0)
        return fail_errno("create " + tmp);
    Fd fd(raw);
    if (auto r = write_all(fd.borrow(), content); !r) {
        ::unlinkat(dir.get(), tmp.c_str(), 0);
        return std::unexpected(r.error().prefix("write " + tmp));
    }
    fd.reset();
    if (::renameat(dir.get(), tmp.c_str(), dir.get(), name.c_str()) < 0) {
        int err = errno;
        ::unlinkat(dir.get(), tmp.c_str(), 0);
        return fail_errno(err, "rename " + tmp + " to " + name);
    }
    return {};
}

Result<> mkdir_all(const std::string& path, mode_t mode)
{
    std::string cur;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t next = path.find('/', pos);
        if (next == std::string::npos)
            next = path.size();
        cur = path.substr(0, next);
        pos = next + 1;
        if (cur.empty())
            continue;
        if (::mkdir(cur.c_str(), mode) < 0 && errno != EEXIST)
            return fail_errno("mkdir " + cur);
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0)
        return fail_errno("stat " + path);
    if (!S_ISDIR(st.st_mode))
        return fail_errno(ENOTDIR, "mkdir " + path);
    return {};
}

namespace {

Result<> remove_at(int dirfd, const char* name, const std::string& shown)
{
    if (::unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return {};
    if (errno != EISDIR && errno != EPERM)
        return fail_errno("remove " + shown);
    int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail_errno("open " + shown);
    Fd dir(fd);
    auto names = list_dir(dir.borrow());
    if (!names)
        return std::unexpected(names.error().prefix(shown));
    Result<> result;
    for (const auto& n : *names) {
        auto r = remove_at(dir.get(), n.c_str(), shown + "/" + n);
        if (!r && result)
            result = r;
    }
    if (::unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && result)
        return fail_errno("rmdir " + shown);
    return result;
}

} // namespace

Result<std::vector<std::string>> list_dir(BorrowedFd dir)
{
    // readdir on a duplicate: closedir closes the descriptor it was given, not the caller's.
    int fd = ::openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail_errno("open directory");
    DIR* d = ::fdopendir(fd);
    if (!d) {
        ::close(fd);
        return fail_errno("opendir");
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..")
            names.push_back(std::move(n));
    }
    ::closedir(d);
    return names;
}

Result<> remove_all(const std::string& path) { return remove_at(AT_FDCWD, path.c_str(), path); }

Result<> remove_all_at(BorrowedFd dir, const std::string& name) { return remove_at(dir.get(), name.c_str(), name); }

bool exists(const std::string& path)
{
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::string clean(const std::string& path)
{
    bool abs = !path.empty() && path[0] == '/';
    std::vector<std::string> parts;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t next = path.find('/', pos);
        if (next == std::string::npos)
            next = path.size();
        std::string part = path.substr(pos, next - pos);
        pos = next + 1;
        if (part.empty() || part == ".")
            continue;
        if (part == "..") {
            if (!parts.empty() && parts.back() != "..")
                parts.pop_back();
            else if (!abs)
                parts.push_back(part);
            continue;
        }
        parts.push_back(std::move(part));
    }
    std::string out = abs ? "/" : "";
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i)
            out += '/';
        out += parts[i];
    }
    if (out.empty())
        out = ".";
    return out;
}

std::string current_dir()
{
    char* cwd = ::get_current_dir_name();
    std::string out = cwd ? cwd : "/";
    std::free(cwd);
    return out;
}

std::string absolute(const std::string& path, const std::string& base)
{
    if (!path.empty() && path[0] == '/')
        return clean(path);
    return clean(base + "/" + path);
}

} // namespace husk::fs
