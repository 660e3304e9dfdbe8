// What the parent prepares for the container init before clone: every fd it will need is
// already open and every decision made, so the child only executes the plan.
#pragma once

#include "runtime/hooks/hooks.hpp"
#include "runtime/rootfs/rootfs.hpp"
#include "runtime/seccomp/seccomp.hpp"
#include "runtime/spec/config.hpp"

#include <sys/types.h>
#include <vector>

namespace husk::process {

struct JoinNamespace {
    int fd;
    int nstype; // CLONE_NEW*
};

struct InitPlan {
    const spec::Config* config = nullptr;
    int sync_fd = -1;        // the child's end
    int parent_sync_fd = -1; // the parent's end, closed by the child first thing
    int exec_fifo_fd = -1;
    int preserve_fds = 0;
    pid_t parent_pid = 0;
    int join_user_fd = -1;            // user namespace to join first, or -1
    std::vector<JoinNamespace> joins; // the other namespaces to join, in order
    int unshare_flags = 0;            // namespaces created after joining (cgroup, ...)
    bool in_user_ns = false;
    bool new_mount_ns = false;
    bool new_uts_ns = false;
    bool new_net_ns = false;
    std::string session_keyring;
    int console_socket_fd = -1;
    bool parent_hooks = false;       // prestart/createRuntime: ask the parent before pivot
    hooks::HookState hook_state;     // pid filled in from Go
    const seccomp::Program* seccomp = nullptr;
    rootfs::Plan rootfs;
};

[[noreturn]] void init_main(const InitPlan& plan);

} // namespace husk::process
