#include "runtime/process/setup.hpp"
#include "runtime/process/sync.hpp"

#include "common/fs.hpp"
#include "common/sys.hpp"
#include "runtime/caps/caps.hpp"

#include <climits>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::process {

Result<> sys_check(int rc, const std::string& what)
{
    if (rc < 0)
        return fail_errno(what);
    return {};
}

Result<> arm_parent_death(pid_t parent)
{
    TRY(sys_check(::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)"));
    // A parent outside our pid namespace shows as 0; then the sync socket tells.
    pid_t now = ::getppid();
    if (now != 0 && parent != 0 && now != parent)
        ::_exit(1);
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

namespace {

bool setgroups_allowed()
{
    auto text = fs::read_file("/proc/self/setgroups");
    return !text || text->find("deny") == std::string::npos;
}

} // namespace

Result<> set_user(const spec::Process& p, pid_t parent)
{
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
    TRY(arm_parent_death(parent));
    return {};
}

std::string env_value(const std::vector<std::string>& env, std::string_view key)
{
    for (const auto& e : env)
        if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=')
            return e.substr(key.size() + 1);
    return {};
}

namespace {

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

} // namespace

namespace {

// close_range, or where it fails (a kernel before 5.9, or a seccomp profile that refuses
// it: this runs after the filter is loaded) close(2) on every number up to the fd limit.
// Either way no descriptor of husk's reaches the program (CVE-2024-21626).
void close_fds(unsigned first, unsigned last)
{
    if (sys::close_range(first, last, 0) == 0)
        return;
    struct rlimit rl {};
    unsigned limit = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < UINT_MAX
        ? static_cast<unsigned>(rl.rlim_cur) : 1U << 20;
    for (unsigned fd = first; fd <= last && fd < limit; ++fd)
        ::close(static_cast<int>(fd));
}

} // namespace

void close_inherited(int preserve_fds, int keep)
{
    unsigned first = 3 + static_cast<unsigned>(preserve_fds);
    for (int fd = 3; fd < static_cast<int>(first); ++fd) {
        if (fd_was_inherited(fd))
            ::fcntl(fd, F_SETFD, 0);
        else
            close_raw(fd);
    }
    if (keep >= 0 && static_cast<unsigned>(keep) >= first) {
        if (static_cast<unsigned>(keep) > first)
            close_fds(first, static_cast<unsigned>(keep) - 1);
        close_fds(static_cast<unsigned>(keep) + 1, UINT_MAX);
    } else {
        close_fds(first, UINT_MAX);
    }
}

int move_above_preserved(int fd, int preserve_fds)
{
    int first = 3 + preserve_fds;
    if (fd >= first)
        return fd;
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, first);
    return moved >= 0 ? moved : fd;
}

Result<ExecPlan> plan_exec(const spec::Process& p)
{
    ExecPlan plan;
    plan.args = p.args;
    plan.env = p.env;
    if (!has_env(plan.env, "HOME"))
        plan.env.push_back("HOME=" + home_for(p.user.uid));
    plan.path = TRY(find_executable(p.args.at(0), plan.env));
    return plan;
}

Result<> enter_cwd(const spec::Process& p)
{
    if (::chdir(p.cwd.c_str()) < 0)
        return fail_errno("chdir to cwd (\"" + p.cwd + "\") set in config.json");
    // A working directory reached through a descriptor from outside the root shows as
    // "(unreachable)..." rather than an absolute path.
    char cwd[PATH_MAX];
    if (!::getcwd(cwd, sizeof cwd) || cwd[0] != '/')
        return fail("cwd \"" + p.cwd + "\" is outside the container root");
    return {};
}

namespace {

bool apparmor_enabled()
{
    auto text = fs::read_file("/sys/module/apparmor/parameters/enabled");
    return text && text->starts_with("Y");
}

bool selinux_enabled()
{
    struct stat st {};
    return ::stat("/sys/fs/selinux/enforce", &st) == 0;
}

} // namespace

Result<> check_lsm(const spec::Process& p, const std::string& mount_label)
{
    if (!p.apparmor_profile.empty() && !apparmor_enabled())
        return fail("process.apparmorProfile \"" + p.apparmor_profile
                    + "\" is set, but AppArmor is not enabled on this host");
    if (!p.selinux_label.empty() && !selinux_enabled())
        return fail("process.selinuxLabel \"" + p.selinux_label + "\" is set, but SELinux is not enabled on this host");
    if (!mount_label.empty() && !selinux_enabled())
        return fail("linux.mountLabel \"" + mount_label + "\" is set, but SELinux is not enabled on this host");
    return {};
}

Result<> set_exec_labels(const spec::Process& p)
{
    TRY(check_lsm(p, {}));
    if (!p.apparmor_profile.empty()) {
        // The per-LSM file where the kernel has it, the shared one otherwise.
        auto r = fs::write_procfs_file("/proc/self/attr/apparmor/exec", "exec " + p.apparmor_profile);
        if (!r)
            r = fs::write_procfs_file("/proc/self/attr/exec", "exec " + p.apparmor_profile);
        if (!r)
            return std::unexpected(r.error().prefix("apply AppArmor profile " + p.apparmor_profile));
    }
    if (!p.selinux_label.empty())
        TRY_CTX(fs::write_procfs_file("/proc/self/attr/exec", p.selinux_label), "set SELinux label " + p.selinux_label);
    return {};
}

Result<> load_seccomp(const seccomp::Program& program, int sync_fd)
{
    int listener = TRY(seccomp::load(program));
    if (listener < 0)
        return {};
    // First thing after the load: until the agent holds the fd, a notifying syscall blocks.
    bool sent = sync_send_fd(sync_fd, MsgType::SeccompListener, listener);
    close_raw(listener);
    if (!sent)
        return fail_errno("send the seccomp listener to husk");
    return {};
}

Result<ExecPlan> finish_process(const spec::Process& p, const seccomp::Program* filter, pid_t parent, int sync_fd)
{
    TRY(set_rlimits(p));
    TRY(set_exec_labels(p));
    if (filter && !p.no_new_privileges)
        TRY(load_seccomp(*filter, sync_fd));
    TRY(set_user(p, parent));
    if (p.no_new_privileges)
        TRY(sys_check(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)"));
    ExecPlan exec = TRY(plan_exec(p));
    TRY(enter_cwd(p));
    ::umask(p.user.umask ? static_cast<mode_t>(*p.user.umask) : 0022);
    // With no_new_privs the filter comes last, so few of husk's own syscalls meet it.
    if (filter && p.no_new_privileges)
        TRY(load_seccomp(*filter, sync_fd));
    return exec;
}

Result<bool> recv_from_child(int sync_fd, SyncMsg& msg, const ListenerHandoff& handoff)
{
    for (;;) {
        int fd = -1;
        if (!sync_recv_fd(sync_fd, msg, &fd))
            return false;
        Fd received(fd);
        if (msg.type != MsgType::SeccompListener)
            return true;
        if (!received || !handoff.filter || !handoff.filter->needs_listener)
            return fail("seccomp: unexpected listener message from the container process");
        TRY(seccomp::send_to_listener(*handoff.filter, received.get(), handoff.pid, handoff.state_json));
    }
}

void ready_and_commit(int sync_fd)
{
    SyncMsg msg;
    sync_send(sync_fd, MsgType::Ready, 0, nullptr, 0, Side::Child);
    if (!sync_recv(sync_fd, msg) || msg.type != MsgType::Commit)
        ::_exit(1);
    ::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    sync_send(sync_fd, MsgType::Committed, 0, nullptr, 0, Side::Child);
    close_raw(sync_fd);
}

void fail_to_parent(int sync_fd, const Error& err)
{
    sync_send(sync_fd, MsgType::Error, err.code(), err.what().c_str(), 0, Side::Child);
    ::_exit(1);
}

void exec_or_die(const ExecPlan& plan)
{
    std::vector<char*> argv;
    for (const auto& a : plan.args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : plan.env)
        envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    // The program starts with every signal at its default and none blocked, whatever
    // husk's caller ignored and husk blocked for forwarding.
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP)
            ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(plan.path.c_str(), argv.data(), envp.data());
    int err = errno;
    std::string text = "husk: exec " + plan.path + ": " + std::strerror(err) + "\n";
    (void)!::write(STDERR_FILENO, text.data(), text.size());
    ::_exit(127);
}

} // namespace husk::process
