// The state store: one directory per container under the runtime root (--root). It holds
// state.json (written temp+rename), a copy of the bundle's config.json, and exec.fifo while
// the container is "created". Every operation on one id runs under an flock of its
// directory, so two husk invocations never interleave on the same container.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace husk::state {

enum class Status { Creating, Created, Running, Paused, Stopped };
// Readers (state, list) share the lock; everything that changes a container holds it alone.
enum class Lock { Shared, Exclusive };
std::string_view status_name(Status s);

// What husk records about a container; status is derived, never stored.
struct ContainerState {
    std::string id;
    pid_t pid = 0;
    uint64_t pid_start_time = 0; // /proc/PID/stat field 22: tells a recycled pid apart
    std::string bundle;
    std::string rootfs;
    std::string created;         // RFC 3339 with nanoseconds
    std::string oci_version;
    std::map<std::string, std::string> annotations;
    std::vector<std::string> cgroup_dirs;
    bool init_is_pid1 = false;   // a new pid namespace: the container dies with its init
    bool has_hooks = false;      // the saved config has hooks for later verbs to run
    std::string owner;           // user name shown by list
};

// A locked container directory. Dropping it releases the lock.
class ContainerDir {
public:
    ContainerDir(std::string path, Fd dir) : m_path(std::move(path)), m_dir(std::move(dir)) {}
    const std::string& path() const { return m_path; }
    BorrowedFd fd() const { return m_dir.borrow(); }
    std::string file(const std::string& name) const { return m_path + "/" + name; }

    Result<std::optional<ContainerState>> load() const; // nullopt: no state.json yet
    Result<> save(const ContainerState& st) const;
    bool has_exec_fifo() const;
    // Gives up the lock early (run, while it only waits for the container).
    void unlock() { m_dir.reset(); }

private:
    std::string m_path;
    Fd m_dir;
};

class Store {
public:
    explicit Store(std::string root) : m_root(std::move(root)) {}
    const std::string& root() const { return m_root; }

    // Makes the container directory (error if the id exists) and locks it.
    Result<ContainerDir> create(const std::string& id) const;
    // Locks an existing container's directory; a clear error if there is none.
    Result<ContainerDir> open(const std::string& id, Lock lock = Lock::Exclusive) const;
    // Removes a container's directory (call while holding its lock).
    Result<> remove(const ContainerDir& dir) const;
    // Ids of all containers, sorted.
    Result<std::vector<std::string>> list() const;

private:
    std::string m_root;
};

// The status of a recorded container from its init process and state files: created,
// running or stopped (whether a running container is paused is the cgroup's to say).
Status derive_status(const ContainerDir& dir, const ContainerState& st);
// True when st.pid is still the process that was recorded (and is not a zombie).
bool init_alive(const ContainerState& st);

} // namespace husk::state
