// cgroups::Manager: the one interface the runtime uses to place a container's processes in
// a cgroup, find them again, and remove the cgroup. The backend (unified v2, or v1 on
// legacy/hybrid hosts) is chosen from what the host mounts; callers never see which.
// Resource limits, freezing and stats belong here too as they are added; nothing else in
// husk writes under /sys/fs/cgroup.
#pragma once

#include "cgroups/resources.hpp"
#include "cgroups/stats.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"

#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace husk::cgroups {

enum class Mode { Unified, Legacy };

// One mounted cgroup hierarchy and the directory of our cgroup in it.
struct Hierarchy {
    std::string mountpoint;  // /sys/fs/cgroup/memory
    std::string controllers; // "memory", "cpu,cpuacct", "name=systemd", "" for cgroup2
    bool v2 = false;
    std::string dir;         // absolute directory of the container's cgroup
};

class Manager {
public:
    virtual ~Manager() = default;

    // The cgroup path as a container sees it in /proc/self/cgroup terms, e.g. "/c1".
    virtual const std::string& path() const = 0;
    virtual Mode mode() const = 0;
    virtual const std::vector<Hierarchy>& hierarchies() const = 0;

    // Creates the cgroup directories (idempotent).
    virtual Result<> create() = 0;
    // An fd for clone3(CLONE_INTO_CGROUP), when the host is unified; an invalid Fd otherwise.
    virtual Result<Fd> open_for_clone() = 0;
    // Moves a process into the cgroup in every hierarchy.
    virtual Result<> add(pid_t pid) = 0;
    // The processes in the cgroup.
    virtual Result<std::vector<pid_t>> pids() const = 0;
    // Sends `sig` to every process in the cgroup.
    virtual Result<> signal_all(int sig) const = 0;
    // Removes the cgroup directories; retries while the last processes exit.
    virtual Result<> destroy() = 0;
    // Freezes or thaws every process in the cgroup, waiting until the kernel is done.
    virtual Result<> set_frozen(bool frozen) = 0;
    virtual Result<bool> frozen() const = 0;
    // Writes the limits into the cgroup (v1: each controller's hierarchy; v2: enabling the
    // controllers they need in every ancestor first). Unset fields are left alone. Errors
    // name the file and value ("set memory.limit_in_bytes to 4096: Device or resource busy")
    // or the setting this host cannot honour; the writes before a failure stay in place.
    virtual Result<> apply(const Limits& limits) = 0;
    // Device access rules, replacing what was there: v1 devices.deny/allow; v2 an eBPF
    // device program (device_filter.hpp), swapped for the old one atomically.
    virtual Result<> set_device_rules(const std::vector<DeviceRule>& rules) = 0;
    // What the cgroup has used so far (`events --stats`, the shim's metrics).
    virtual Result<Stats> stats() const = 0;
    // An fd that turns readable when the cgroup meets its memory limit: v1 an eventfd on
    // memory.oom_control (each wakeup is an OOM), v2 an inotify watch of memory.events
    // (compare Stats::oom_kills/memory.events to tell an OOM from other events).
    virtual Result<Fd> watch_oom() const = 0;
    // `husk update`: the same writes on a live container.
    Result<> update(const Limits& limits) { return apply(limits); }
};

// Resolves `cgroups_path` as the runtime-spec says for cgroupfs: absolute paths from the
// hierarchy root, relative ones under the caller's own cgroup; empty means `id` relative.
Result<std::unique_ptr<Manager>> make_manager(const std::string& cgroups_path, const std::string& id);

// Reopens a manager for the cgroup directories recorded earlier (Hierarchy::dir of each,
// as kept in the container's state).
Result<std::unique_ptr<Manager>> reopen_manager(const std::vector<std::string>& dirs);

} // namespace husk::cgroups
