// The last steps every container process takes before execve, shared by the container
// init and by exec'd processes: rlimits, user and groups, capabilities, no_new_privs,
// environment (HOME), finding the executable, the working directory check, and closing
// every descriptor that is not the process's own. Runs in the child, inside the container.
#pragma once

#include "common/error.hpp"
#include "runtime/process/sync.hpp"
#include "runtime/seccomp/seccomp.hpp"
#include "runtime/spec/config.hpp"

#include <string>
#include <sys/types.h>
#include <vector>

namespace husk::process {

Result<> sys_check(int rc, const std::string& what);

// Sets PR_SET_PDEATHSIG(SIGKILL) and exits if the parent is already gone. Credential
// changes clear the setting, so it is armed again after each.
Result<> arm_parent_death(pid_t parent);

Result<> set_rlimits(const spec::Process& p);
// Groups, gid, uid and capabilities, in the order that keeps the capabilities asked for.
Result<> set_user(const spec::Process& p, pid_t parent);

// A ready-to-exec program: the resolved path, argv and envp (HOME added when missing).
struct ExecPlan {
    std::string path;
    std::vector<std::string> args;
    std::vector<std::string> env;
};
Result<ExecPlan> plan_exec(const spec::Process& p);

// chdir to the process's cwd and check it is inside the container root (CVE-2024-21626).
Result<> enter_cwd(const spec::Process& p);

// Leaves the process stdio and the `preserve_fds` descriptors after it that husk was
// started with (CLOEXEC cleared so they survive execve), and closes everything else but
// `keep` (-1: none), which must lie above the preserved range.
void close_inherited(int preserve_fds, int keep);
// Moves `fd` above the preserved range so close_inherited can keep it; returns the new fd.
int move_above_preserved(int fd, int preserve_fds);

// Everything between a set-up root and the Ready message, in the one order that works:
// rlimits and LSM labels while privileged, the seccomp filter before the user change when
// it needs CAP_SYS_ADMIN (no no_new_privs) or else as late as possible, the user and
// capabilities, no_new_privs, the program and its cwd, the umask.
// A notify listener goes to husk over `sync_fd` as soon as the filter is loaded.
Result<ExecPlan> finish_process(const spec::Process& p, const seccomp::Program* filter, pid_t parent, int sync_fd);

// husk's side: what a seccomp notify agent is told about the process (its pid in husk's
// pid namespace and the container state as JSON).
struct ListenerHandoff {
    const seccomp::Program* filter = nullptr;
    pid_t pid = 0;
    std::string state_json;
};
// Receives the child's next message. A SeccompListener message on the way is handled here:
// its fd goes to the agent at the filter's listenerPath, then the next message is read.
// false when the child closed the socket (died); an error when the agent cannot be reached.
Result<bool> recv_from_child(int sync_fd, SyncMsg& msg, const ListenerHandoff& handoff);

// A child's failure: the error goes to husk over the sync socket, then the child exits.
[[noreturn]] void fail_to_parent(int sync_fd, const Error& err);

// TRY for the cloned children: on error, fail_to_parent(plan.sync_fd, error).
#define CHILD_TRY(plan, expr)                                                  \
    ({                                                                         \
        auto&& child_try_result_ = (expr);                                     \
        if (!child_try_result_)                                                \
            ::husk::process::fail_to_parent((plan).sync_fd, child_try_result_.error()); \
        std::move(child_try_result_).value();                                  \
    })

// The child's end of Ready -> Commit -> Committed: tells husk it is set up, waits to be
// committed (exits if husk dies instead), stops dying with husk, acknowledges, and closes
// the sync socket. From here on the process lives on its own.
void ready_and_commit(int sync_fd);

// execve; on failure writes "husk: exec PATH: error" to stderr and _exits with 127.
[[noreturn]] void exec_or_die(const ExecPlan& plan);

// LSM labels for the program about to be exec'd: the AppArmor profile and the SELinux
// label take effect at execve. Written through procfs-checked files (CVE-2019-16884).
Result<> set_exec_labels(const spec::Process& p);
// A label asked for on a host without that LSM is an error, not silently dropped: the
// container would run unconfined. Checked by husk before it clones anything.
Result<> check_lsm(const spec::Process& p, const std::string& mount_label);

// Installs a compiled seccomp filter; a notify listener fd is sent to husk over sync_fd.
Result<> load_seccomp(const seccomp::Program& program, int sync_fd);

std::string env_value(const std::vector<std::string>& env, std::string_view key);

} // namespace husk::process
