#include "runtime/state/store.hpp"

#include "common/fs.hpp"
#include "common/sys.hpp"
#include "runtime/state/container_id.hpp"

#include <algorithm>
#include <dirent.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::state {

using nlohmann::json;

std::string_view status_name(Status s)
{
    switch (s) {
    case Status::Creating: return "creating";
    case Status::Created: return "created";
    case Status::Running: return "running";
    case Status::Paused: return "paused";
    case Status::Stopped: return "stopped";
    }
    return "unknown";
}

namespace {

Result<Fd> lock_dir(const std::string& path, Lock lock)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fail_errno("open " + path);
    Fd dir(fd);
    while (::flock(dir.get(), lock == Lock::Shared ? LOCK_SH : LOCK_EX) < 0) {
        if (errno != EINTR)
            return fail_errno("lock " + path);
    }
    return dir;
}

Result<> ensure_root(const std::string& root)
{
    if (::mkdir(root.c_str(), 0700) == 0 || errno == EEXIST)
        return {};
    if (errno == ENOENT) {
        TRY(fs::mkdir_all(root, 0700));
        return {};
    }
    return fail_errno("create state root " + root);
}

} // namespace

Result<ContainerDir> Store::create(const std::string& id) const
{
    TRY(validate_container_id(id));
    TRY(ensure_root(m_root));
    std::string path = m_root + "/" + id;
    if (::mkdir(path.c_str(), 0711) < 0) {
        if (errno == EEXIST)
            return fail("container with given ID already exists");
        return fail_errno("create " + path);
    }
    auto dir = lock_dir(path, Lock::Exclusive);
    if (!dir) {
        ::rmdir(path.c_str());
        return std::unexpected(dir.error());
    }
    return ContainerDir(path, std::move(*dir));
}

Result<ContainerDir> Store::open(const std::string& id, Lock lock) const
{
    TRY(validate_container_id(id));
    std::string path = m_root + "/" + id;
    auto dir = lock_dir(path, lock);
    if (!dir) {
        if (dir.error().code() == ENOENT)
            return fail("container does not exist");
        return std::unexpected(dir.error());
    }
    // A concurrent delete may have removed the directory while we waited for the lock.
    struct stat st {};
    if (::fstat(dir->get(), &st) == 0 && st.st_nlink == 0)
        return fail("container does not exist");
    return ContainerDir(path, std::move(*dir));
}

Result<> Store::remove(const ContainerDir& dir) const { return fs::remove_all(dir.path()); }

Result<std::vector<std::string>> Store::list() const
{
    std::vector<std::string> ids;
    DIR* d = ::opendir(m_root.c_str());
    if (!d) {
        if (errno == ENOENT)
            return ids;
        return fail_errno("open " + m_root);
    }
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..")
            continue;
        if (validate_container_id(name))
            ids.push_back(std::move(name));
    }
    ::closedir(d);
    std::sort(ids.begin(), ids.end());
    return ids;
}

Result<std::optional<ContainerState>> ContainerDir::load() const
{
    auto text = fs::read_file(file("state.json"));
    if (!text) {
        if (text.error().code() == ENOENT)
            return std::optional<ContainerState> {};
        return std::unexpected(text.error());
    }
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return fail(file("state.json") + ": corrupt state file");
    ContainerState st;
    try {
        st.id = j.at("id").get<std::string>();
        st.pid = j.at("pid").get<pid_t>();
        st.pid_start_time = j.at("pid_start_time").get<uint64_t>();
        st.bundle = j.at("bundle").get<std::string>();
        st.rootfs = j.at("rootfs").get<std::string>();
        st.created = j.at("created").get<std::string>();
        st.oci_version = j.value("ociVersion", std::string());
        st.annotations = j.value("annotations", std::map<std::string, std::string> {});
        st.cgroup_dirs = j.value("cgroup_dirs", std::vector<std::string> {});
        st.init_is_pid1 = j.value("init_is_pid1", false);
        st.has_hooks = j.value("has_hooks", false);
        st.owner = j.value("owner", std::string());
    } catch (const json::exception& e) {
        return fail(file("state.json") + ": corrupt state file: " + e.what());
    }
    return std::optional<ContainerState>(std::move(st));
}

Result<> ContainerDir::save(const ContainerState& st) const
{
    json j = {
        { "id", st.id },
        { "pid", st.pid },
        { "pid_start_time", st.pid_start_time },
        { "bundle", st.bundle },
        { "rootfs", st.rootfs },
        { "created", st.created },
        { "ociVersion", st.oci_version },
        { "annotations", st.annotations },
        { "cgroup_dirs", st.cgroup_dirs },
        { "init_is_pid1", st.init_is_pid1 },
        { "has_hooks", st.has_hooks },
        { "owner", st.owner },
    };
    return fs::write_file_atomic(m_dir.borrow(), "state.json", j.dump(), 0600);
}

bool ContainerDir::has_exec_fifo() const
{
    struct stat st {};
    return ::fstatat(m_dir.get(), "exec.fifo", &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool init_alive(const ContainerState& st)
{
    auto ps = sys::proc_stat(st.pid);
    if (!ps || ps->start_time != st.pid_start_time)
        return false;
    return ps->state != 'Z' && ps->state != 'X';
}

Status derive_status(const ContainerDir& dir, const ContainerState& st)
{
    if (st.pid <= 0 || !init_alive(st))
        return Status::Stopped;
    if (dir.has_exec_fifo())
        return Status::Created;
    return Status::Running;
}

} // namespace husk::state
