// The container init, from clone to execve. Runs in the cloned child of a single-threaded
// husk, on the plan the parent prepared; it reports the first failure to the parent over
// the sync socket and exits, so the parent can clean up and tell the user what went wrong.
#include "common/fs.hpp"
#include "common/sys.hpp"
#include "netns/loopback.hpp"
#include "runtime/caps/caps.hpp"
#include "runtime/process/init_plan.hpp"
#include "runtime/process/sync.hpp"
#include "runtime/terminal/console.hpp"

#include <climits>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <linux/keyctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace husk::process {

namespace {

[[noreturn]] void die(const InitPlan& plan, const Error& err)
{
    sync_send(plan.sync_fd, MsgType::Error, err.code(), err.what().c_str());
    ::_exit(1);
}

#define CHILD_TRY(plan, expr)                                                  \
    ({                                                                         \
        auto&& child_try_result_ = (expr);                                     \
        if (!child_try_result_)                                                \
            die(plan, child_try_result_.error());                              \
        std::move(child_try_result_).value();                                  \
    })

Result<> sys_check(int rc, const std::string& what)
{
    if (rc < 0)
        return fail_errno(what);
    return {};
}

// The parent-death signal is cleared by every credential change: set it again after each.
Result<> arm_parent_death(const InitPlan& plan)
{
    TRY(sys_check(::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)"));
    if (::getppid() != plan.parent_pid && plan.parent_pid != 0) {
        // Our parent is already gone (a pid namespace shows ppid 0: then the socket tells).
        if (::getppid() != 0)
            ::_exit(1);
    }
    return {};
}

Result<> join_namespaces(const InitPlan& plan)
{
    if (plan.join_user_fd >= 0) {
        TRY(sys_check(::setns(plan.join_user_fd, CLONE_NEWUSER), "join user namespace"));
    }
    if (plan.in_user_ns) {
        // Become root of the user namespace: the rest of the setup needs its capabilities.
        TRY(sys_check(::setresgid(0, 0, 0), "setresgid(0) in the user namespace"));
        TRY(sys_check(::setresuid(0, 0, 0), "setresuid(0) in the user namespace"));
        TRY(arm_parent_death(plan));
    }
    for (const auto& j : plan.joins) {
        const char* what = j.nstype == CLONE_NEWNET ? "join network namespace"
            : j.nstype == CLONE_NEWIPC              ? "join ipc namespace"
            : j.nstype == CLONE_NEWUTS              ? "join uts namespace"
            : j.nstype == CLONE_NEWNS               ? "join mount namespace"
            : j.nstype == CLONE_NEWCGROUP           ? "join cgroup namespace"
                                                    : "join namespace";
        TRY(sys_check(::setns(j.fd, j.nstype), what));
    }
    if (plan.unshare_flags)
        TRY(sys_check(::unshare(plan.unshare_flags), "unshare namespaces"));
    return {};
}

// A session keyring of its own keeps the container from reading husk's (or the host
// session's) keys.
Result<> join_session_keyring(const InitPlan& plan)
{
    if (plan.session_keyring.empty())
        return {};
    if (::syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, plan.session_keyring.c_str()) >= 0)
        return {};
    // Kernels without keys, or user namespaces where the keyring quota is not ours.
    if (errno == ENOSYS || (plan.in_user_ns && (errno == EACCES || errno == EPERM || errno == EDQUOT)))
        return {};
    return fail_errno("join session keyring " + plan.session_keyring);
}

Result<> set_names(const spec::Config& config)
{
    if (!config.hostname.empty())
        TRY(sys_check(::sethostname(config.hostname.data(), config.hostname.size()), "sethostname"));
    if (!config.domainname.empty())
        TRY(sys_check(::setdomainname(config.domainname.data(), config.domainname.size()), "setdomainname"));
    return {};
}

Result<> set_rlimits(const spec::Process& p)
{
    for (const auto& r : p.rlimits) {
        rlimit lim { static_cast<rlim_t>(r.soft), static_cast<rlim_t>(r.hard) };
        if (::setrlimit(r.resource, &lim) < 0)
            return fail_errno("setrlimit " + std::to_string(r.resource));
    }
    return {};
}

bool setgroups_allowed()
{
    auto text = fs::read_file("/proc/self/setgroups");
    return !text || text->find("deny") == std::string::npos;
}

Result<> set_user(const InitPlan& plan)
{
    const spec::Process& p = plan.config->process;
    const spec::Capabilities* caps = p.capabilities ? &*p.capabilities : nullptr;
    TRY(caps::prepare_for_user_change(caps));
    if (setgroups_allowed()) {
        std::vector<gid_t> groups(p.user.additional_gids.begin(), p.user.additional_gids.end());
        TRY(sys_check(::setgroups(groups.size(), groups.data()), "setgroups"));
    } else if (!p.user.additional_gids.empty()) {
        return fail("process.user.additionalGids: setgroups is denied in this user namespace");
    }
    TRY(sys_check(::setresgid(p.user.gid, p.user.gid, p.user.gid), "setresgid " + std::to_string(p.user.gid)));
    TRY(sys_check(::setresuid(p.user.uid, p.user.uid, p.user.uid), "setresuid " + std::to_string(p.user.uid)));
    TRY(caps::apply(caps));
    TRY(arm_parent_death(plan));
    return {};
}

std::string env_value(const std::vector<std::string>& env, std::string_view key)
{
    for (const auto& e : env)
        if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=')
            return e.substr(key.size() + 1);
    return {};
}

bool has_env(const std::vector<std::string>& env, std::string_view key)
{
    for (const auto& e : env)
        if (e.size() >= key.size() && e.compare(0, key.size(), key) == 0 && (e.size() == key.size() || e[key.size()] == '='))
            return true;
    return false;
}

// HOME, when the spec does not set it, comes from the container's /etc/passwd.
std::string home_for(uint32_t uid)
{
    auto text = fs::read_file("/etc/passwd");
    if (!text)
        return "/";
    size_t pos = 0;
    while (pos < text->size()) {
        size_t end = text->find('\n', pos);
        if (end == std::string::npos)
            end = text->size();
        std::string line = text->substr(pos, end - pos);
        pos = end + 1;
        std::vector<std::string> f;
        size_t s = 0;
        for (;;) {
            size_t c = line.find(':', s);
            f.push_back(line.substr(s, c == std::string::npos ? std::string::npos : c - s));
            if (c == std::string::npos)
                break;
            s = c + 1;
        }
        if (f.size() >= 6 && f[2] == std::to_string(uid))
            return f[5].empty() ? "/" : f[5];
    }
    return "/";
}

bool executable(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

Result<std::string> find_executable(const std::string& name, const std::vector<std::string>& env)
{
    if (name.find('/') != std::string::npos) {
        if (!executable(name))
            return fail_errno(errno ? errno : EACCES, "exec: \"" + name + "\"");
        return name;
    }
    std::string path = env_value(env, "PATH");
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t end = path.find(':', pos);
        if (end == std::string::npos)
            end = path.size();
        std::string dir = path.substr(pos, end - pos);
        pos = end + 1;
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (executable(candidate))
            return candidate;
    }
    return fail("exec: \"" + name + "\": executable file not found in $PATH");
}

// Closes every descriptor except stdio, the preserved ones and `keep`.
void close_inherited(int preserve_fds, int keep)
{
    unsigned first = 3 + static_cast<unsigned>(preserve_fds);
    if (keep >= 0 && static_cast<unsigned>(keep) >= first) {
        if (static_cast<unsigned>(keep) > first)
            sys::close_range(first, static_cast<unsigned>(keep) - 1, 0);
        sys::close_range(static_cast<unsigned>(keep) + 1, UINT_MAX, 0);
    } else {
        sys::close_range(first, UINT_MAX, 0);
    }
}

} // namespace

void init_main(const InitPlan& plan)
{
    const spec::Config& config = *plan.config;
    const spec::Process& proc = config.process;
    close_raw(plan.parent_sync_fd);
    ::umask(0022);
    CHILD_TRY(plan, arm_parent_death(plan));

    SyncMsg msg;
    if (!sync_recv(plan.sync_fd, msg) || msg.type != MsgType::Go)
        ::_exit(1);
    hooks::HookState hook_state = plan.hook_state;
    hook_state.pid = static_cast<pid_t>(msg.value);

    CHILD_TRY(plan, join_namespaces(plan));
    CHILD_TRY(plan, join_session_keyring(plan));
    if (plan.new_net_ns)
        CHILD_TRY(plan, netns::loopback_up());
    if (plan.new_uts_ns)
        CHILD_TRY(plan, set_names(config));
    if (plan.new_mount_ns) {
        auto before_pivot = [&]() -> Result<> {
            if (plan.parent_hooks) {
                SyncMsg reply;
                if (!sync_send(plan.sync_fd, MsgType::CreateRuntimeHooks) || !sync_recv(plan.sync_fd, reply)
                    || reply.type != MsgType::HooksDone)
                    ::_exit(1); // the parent failed a hook and reports it
            }
            hook_state.status = "creating";
            return hooks::run(config.hooks.create_container, "createContainer", hooks::state_json(hook_state));
        };
        CHILD_TRY(plan, rootfs::setup(plan.rootfs, before_pivot));
        CHILD_TRY(plan, rootfs::finalize(plan.rootfs));
    }

    if (plan.console_socket_fd >= 0) {
        CHILD_TRY(plan, terminal::setup_console(BorrowedFd(plan.console_socket_fd), proc.console_size, proc.user.uid));
        close_raw(plan.console_socket_fd);
    }
    CHILD_TRY(plan, set_rlimits(proc));
    CHILD_TRY(plan, set_user(plan));
    if (proc.no_new_privileges)
        CHILD_TRY(plan, sys_check(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)"));

    std::vector<std::string> env = proc.env;
    if (!has_env(env, "HOME"))
        env.push_back("HOME=" + home_for(proc.user.uid));
    std::string exe = CHILD_TRY(plan, find_executable(proc.args.at(0), env));

    if (::chdir(proc.cwd.c_str()) < 0)
        die(plan, Error::from_errno("chdir to cwd (\"" + proc.cwd + "\") set in config.json"));
    // The working directory must be inside the container root (CVE-2024-21626 class):
    // a cwd reached through a leaked fd shows as "(unreachable)".
    char cwd[PATH_MAX];
    if (!::getcwd(cwd, sizeof cwd) || cwd[0] != '/')
        die(plan, Error::plain("cwd \"" + proc.cwd + "\" is outside the container root"));

    ::umask(proc.user.umask ? static_cast<mode_t>(*proc.user.umask) : 0022);

    std::vector<char*> argv;
    for (const auto& a : proc.args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env)
        envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    sync_send(plan.sync_fd, MsgType::Ready);
    if (!sync_recv(plan.sync_fd, msg) || msg.type != MsgType::Commit)
        ::_exit(1);
    ::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    sync_send(plan.sync_fd, MsgType::Committed);
    close_raw(plan.sync_fd);
    close_inherited(plan.preserve_fds, plan.exec_fifo_fd);

    // Created: wait for start's byte on the exec fifo.
    char byte;
    ssize_t n;
    while ((n = ::read(plan.exec_fifo_fd, &byte, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1)
        ::_exit(1);
    close_raw(plan.exec_fifo_fd);

    if (!config.hooks.start_container.empty()) {
        hook_state.status = "created";
        auto r = hooks::run(config.hooks.start_container, "startContainer", hooks::state_json(hook_state));
        if (!r) {
            std::string text = "husk: " + r.error().message() + "\n";
            (void)!::write(STDERR_FILENO, text.data(), text.size());
            ::_exit(1);
        }
    }

    ::execve(exe.c_str(), argv.data(), envp.data());
    int err = errno;
    std::string text = "husk: exec " + exe + ": " + std::strerror(err) + "\n";
    (void)!::write(STDERR_FILENO, text.data(), text.size());
    ::_exit(127);
}

} // namespace husk::process
