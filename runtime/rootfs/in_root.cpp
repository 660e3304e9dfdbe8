#include "runtime/rootfs/in_root.hpp"

#include "common/sys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace husk::rootfs {

namespace {

int open_resolved(int root, const std::string& rel, int flags)
{
    return sys::openat2_resolved(root, rel, flags, RESOLVE_IN_ROOT);
}

std::vector<std::string> components(const std::string& path)
{
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < path.size()) {
        size_t next = path.find('/', pos);
        if (next == std::string::npos)
            next = path.size();
        if (next > pos)
            out.push_back(path.substr(pos, next - pos));
        pos = next + 1;
    }
    return out;
}

} // namespace

std::string fd_path(BorrowedFd fd) { return "/proc/self/fd/" + std::to_string(fd.get()); }

Result<Fd> open_in_root(BorrowedFd root, const std::string& path, Create create)
{
    std::string rel = path;
    while (!rel.empty() && rel[0] == '/')
        rel.erase(0, 1);
    int fd = open_resolved(root.get(), rel, O_PATH);
    if (fd >= 0)
        return Fd(fd);
    if (errno != ENOENT || create == Create::No)
        return fail_errno("open " + path + " in the container root");

    // Walk down, making what is missing. Each parent is itself resolved in the root, so a
    // symlinked component still lands inside it.
    auto parts = components(rel);
    Fd dir(open_resolved(root.get(), "", O_PATH | O_DIRECTORY));
    if (!dir)
        return fail_errno("open container root");
    std::string sofar;
    for (size_t i = 0; i < parts.size(); ++i) {
        const std::string& name = parts[i];
        if (name == "..") // cleaned paths have none; refuse rather than guess
            return fail("path " + path + " has '..' components");
        sofar += "/" + name;
        bool last = i + 1 == parts.size();
        int next = open_resolved(root.get(), sofar, O_PATH);
        if (next < 0 && errno == ENOENT) {
            int dirfd = open_resolved(root.get(), sofar.substr(0, sofar.rfind('/')), O_DIRECTORY | O_RDONLY);
            if (dirfd < 0)
                return fail_errno("open parent of " + sofar + " in the container root");
            Fd parent(dirfd);
            if (last && create == Create::File) {
                int f = ::openat(parent.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (f < 0 && errno != EEXIST)
                    return fail_errno("create " + sofar + " in the container root");
                Fd created(f);
            } else if (::mkdirat(parent.get(), name.c_str(), 0755) < 0 && errno != EEXIST) {
                return fail_errno("mkdir " + sofar + " in the container root");
            }
            next = open_resolved(root.get(), sofar, O_PATH);
        }
        if (next < 0)
            return fail_errno("open " + sofar + " in the container root");
        dir = Fd(next);
    }
    return dir;
}

} // namespace husk::rootfs
