// husk's verbs for a container that runs inside its own micro-VM. `husk create` decides (the
// io.husk.sandbox annotation, else the --sandbox flag, else husk.yaml) and records the
// container in the same state root as every other, with sandbox.json in place of state.json;
// every later verb sees that file and comes here. The VM, its QEMU and the agent connection
// belong to the sandbox monitor (monitor.hpp); these functions talk to it.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/container.hpp"

#include <string>
#include <vector>

namespace husk::sandbox {

inline constexpr const char* sandbox_annotation = "io.husk.sandbox";

// What the caller asked for, before the annotation is read: "" (husk.yaml decides), "vm" or
// "none" (the --sandbox flag).
struct Selection {
    std::string flag;
    std::string config_path; // husk.yaml; "" for the default (HUSK_CONFIG or /etc/husk/husk.yaml)
};

// Whether the bundle's container is to run in a VM. Reads BUNDLE/config.json's annotation;
// an unknown value is an error.
Result<bool> wants_vm(const std::string& bundle, const Selection& sel);

// Whether a recorded container is a VM sandbox.
bool is_vm_container(const std::string& root, const std::string& id);

// Boots the sandbox, creates the container in it and starts its keeper (keeper.hpp), whose pid
// is returned and written to options.pid_file. attached: the keeper is the caller's child.
// With process.terminal, the master of the host pty the keeper holds goes to
// options.console_socket or, without one, to TERMINAL_MASTER (an attached run relays it);
// with neither, a terminal is refused.
Result<pid_t> vm_create(const std::string& root, const CreateOptions& options, const Selection& sel,
                        bool attached = false, Fd* terminal_master = nullptr);
Result<> vm_start(const std::string& root, const std::string& id);
Result<StateView> vm_state(const std::string& root, const std::string& id);
Result<> vm_kill(const std::string& root, const std::string& id, int sig, bool all);
// Attached: the exit status of the process; detached: 0 once it runs, its keeper's pid in
// options.pid_file.
Result<int> vm_exec(const std::string& root, const ExecOptions& options);
Result<> vm_pause(const std::string& root, const std::string& id);
Result<> vm_resume(const std::string& root, const std::string& id);
Result<> vm_delete(const std::string& root, const std::string& id, bool force);

struct GuestProcess {
    uint32_t pid = 0; // in the guest
    std::string command;
};
Result<std::vector<GuestProcess>> vm_ps(const std::string& root, const std::string& id);

} // namespace husk::sandbox
