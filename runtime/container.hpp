// The container lifecycle as the CLI verbs see it: create, start, run, state, kill, delete,
// list. Each operation takes the container's lock in the state store for its duration.
#pragma once

#include "cgroups/manager.hpp"
#include "common/error.hpp"
#include "runtime/state/store.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace husk {

struct CreateOptions {
    std::string id;
    std::string bundle = ".";
    std::string pid_file;
    std::string console_socket;
    bool no_pivot = false;
    bool no_new_keyring = false;
    int preserve_fds = 0;
};

enum class Detach { No, Yes };

// `husk exec`: a process from --process FILE, or the container's own process with the
// given overrides.
struct ExecOptions {
    std::string id;
    std::string process_file;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd;
    std::string user; // "uid[:gid]"
    std::vector<uint32_t> additional_gids;
    std::vector<std::string> caps;
    bool no_new_privs = false;
    bool tty = false;
    std::string console_socket;
    Detach detach = Detach::No;
    std::string pid_file;
    int preserve_fds = 0;
    std::string apparmor;
    std::string process_label;
    bool ignore_paused = false;
};
enum class Keep { No, Yes };

// What `state` prints (runtime-spec state plus runc's extra fields).
struct StateView {
    std::string oci_version;
    std::string id;
    pid_t pid = 0;
    state::Status status = state::Status::Stopped;
    std::string bundle;
    std::string rootfs;
    std::string created;
    std::string owner;
    std::map<std::string, std::string> annotations;
};

class Runtime {
public:
    explicit Runtime(std::string root) : m_store(std::move(root)) {}

    Result<> create(const CreateOptions& options);
    Result<> start(const std::string& id);
    // create + start; attached, waits and returns the container's exit code (128+signal
    // when killed), deleting it afterwards unless kept.
    Result<int> run(const CreateOptions& options, Detach detach, Keep keep);
    // Attached: the process's exit code; detached: 0 once it runs.
    Result<int> exec(const ExecOptions& options);
    Result<StateView> state(const std::string& id);
    Result<> pause(const std::string& id);
    Result<> resume(const std::string& id);
    // `update`: applies a linux.resources document (JSON, unset fields left alone) to a
    // live container and records it in the saved config; device rules are replaced when
    // the document has "devices".
    Result<> update(const std::string& id, const std::string& resources_json);
    // The cgroup of a container that is not stopped (events, stats).
    Result<std::unique_ptr<cgroups::Manager>> cgroup(const std::string& id);
    // The processes of a running container (for ps).
    Result<std::vector<pid_t>> pids(const std::string& id);
    Result<> kill(const std::string& id, int sig, bool all);
    Result<> remove(const std::string& id, bool force);
    Result<std::vector<StateView>> list();

private:
    state::Store m_store;
};

} // namespace husk
