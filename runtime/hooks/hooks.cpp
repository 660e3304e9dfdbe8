#include "runtime/hooks/hooks.hpp"

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/sys.hpp"

#include <csignal>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace husk::hooks {

std::string state_json(const HookState& st)
{
    nlohmann::ordered_json j;
    j["ociVersion"] = st.oci_version;
    j["id"] = st.id;
    j["status"] = st.status;
    if (st.pid > 0)
        j["pid"] = st.pid;
    j["bundle"] = st.bundle;
    if (!st.annotations.empty())
        j["annotations"] = st.annotations;
    return j.dump();
}

namespace {

int64_t now_ms()
{
    timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Result<> run_one(const spec::Hook& hook, std::string_view state)
{
    int in[2], err[2];
    if (::pipe2(in, O_CLOEXEC) < 0)
        return fail_errno("pipe");
    Fd in_r(in[0]), in_w(in[1]);
    if (::pipe2(err, O_CLOEXEC) < 0)
        return fail_errno("pipe");
    Fd err_r(err[0]), err_w(err[1]);

    std::vector<char*> argv;
    std::vector<std::string> args = hook.args.empty() ? std::vector<std::string> { hook.path } : hook.args;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = hook.env;
    std::vector<char*> envp;
    for (auto& e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);

    int pidfd = -1;
    sys::CloneArgs ca;
    ca.flags = CLONE_PIDFD;
    ca.pidfd_out = &pidfd;
    pid_t pid = sys::clone3_fork(ca);
    if (pid < 0)
        return fail_errno("fork hook");
    if (pid == 0) {
        ::dup2(in_r.get(), STDIN_FILENO);
        ::dup2(err_w.get(), STDERR_FILENO);
        // A hook's stdout is not ours to interleave with husk's output.
        int devnull = ::open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            ::dup2(devnull, STDOUT_FILENO);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::execve(hook.path.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    Fd owned_pidfd(pidfd);
    in_r.reset();
    err_w.reset();
    // The state goes in as the hook reads it, from the same loop that waits for it, so a
    // hook that never reads (or exits early) cannot block husk; SIGPIPE is ignored
    // meanwhile (EPIPE instead).
    auto old_pipe = ::signal(SIGPIPE, SIG_IGN);
    ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
    size_t written = 0;

    std::string stderr_text;
    int64_t deadline = hook.timeout ? now_ms() + *hook.timeout * 1000LL : -1;
    bool timed_out = false;
    bool err_open = true;
    for (;;) {
        pollfd fds[3] = {
            { owned_pidfd.get(), POLLIN, 0 },
            { err_open ? err_r.get() : -1, POLLIN, 0 },
            { in_w ? in_w.get() : -1, POLLOUT, 0 },
        };
        int wait_ms = deadline < 0 ? -1 : static_cast<int>(std::max<int64_t>(0, deadline - now_ms()));
        int n = ::poll(fds, 3, wait_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            timed_out = true;
            sys::pidfd_send_signal(owned_pidfd.get(), SIGKILL);
            break;
        }
        if (in_w && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = ::write(in_w.get(), state.data() + written, state.size() - written);
            if (w > 0)
                written += static_cast<size_t>(w);
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == state.size())
                in_w.reset(); // all of it, or the hook closed its stdin
        }
        if (err_open && (fds[1].revents & (POLLIN | POLLHUP))) {
            char buf[4096];
            ssize_t r = ::read(err_r.get(), buf, sizeof buf);
            if (r > 0 && stderr_text.size() < 65536)
                stderr_text.append(buf, static_cast<size_t>(r));
            if (r <= 0)
                err_open = false;
        }
        if (fds[0].revents & POLLIN)
            break;
    }
    in_w.reset();
    ::signal(SIGPIPE, old_pipe);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    while (!stderr_text.empty() && (stderr_text.back() == '\n'))
        stderr_text.pop_back();
    std::string tail = stderr_text.empty() ? "" : ", stderr: " + stderr_text;
    if (timed_out)
        return fail("timed out after " + std::to_string(*hook.timeout) + "s" + tail);
    if (WIFSIGNALED(status))
        return fail("killed by signal " + std::to_string(WTERMSIG(status)) + tail);
    if (WEXITSTATUS(status) == 127 && stderr_text.empty())
        return fail("could not be executed (exit status 127)");
    if (WEXITSTATUS(status) != 0)
        return fail("exit status " + std::to_string(WEXITSTATUS(status)) + tail);
    return {};
}

} // namespace

Result<> run(const std::vector<spec::Hook>& hooks, std::string_view phase, std::string_view state)
{
    for (size_t i = 0; i < hooks.size(); ++i) {
        auto r = run_one(hooks[i], state);
        if (!r)
            return std::unexpected(
                r.error().prefix(std::string(phase) + " hook #" + std::to_string(i) + " (" + hooks[i].path + ")"));
    }
    return {};
}

void run_all_warn(const std::vector<spec::Hook>& hooks, std::string_view phase, std::string_view state)
{
    for (size_t i = 0; i < hooks.size(); ++i) {
        auto r = run_one(hooks[i], state);
        if (!r)
            log::warn(std::string(phase) + " hook #" + std::to_string(i) + " (" + hooks[i].path
                      + "): " + r.error().message());
    }
}

} // namespace husk::hooks
