#include "shim/runtime.hpp"

#include "common/fd.hpp"
#include "common/fs.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

extern char** environ;

namespace husk::shim {

namespace {

std::string trim(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r'))
        s.pop_back();
    std::size_t start = 0;
    while (start < s.size() && (s[start] == '\n' || s[start] == ' '))
        ++start;
    return s.substr(start);
}

// The log file's size now, so that a failure reports only what this call logged.
off_t log_size(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

std::string log_since(const std::string& path, off_t from)
{
    auto text = fs::read_file(path);
    if (!text)
        return {};
    if (from > 0 && static_cast<std::size_t>(from) <= text->size())
        return text->substr(static_cast<std::size_t>(from));
    return *text;
}

} // namespace

std::string last_logged_error(const std::string& log_text)
{
    std::string found;
    std::size_t pos = 0;
    while (pos < log_text.size()) {
        std::size_t end = log_text.find('\n', pos);
        if (end == std::string::npos)
            end = log_text.size();
        std::string_view line(log_text.data() + pos, end - pos);
        pos = end + 1;
        if (line.empty() || line.front() != '{')
            continue;
        auto doc = nlohmann::json::parse(line, nullptr, false);
        if (doc.is_discarded() || !doc.is_object())
            continue;
        auto level = doc.find("level");
        auto msg = doc.find("msg");
        if (level == doc.end() || msg == doc.end() || !level->is_string() || !msg->is_string())
            continue;
        const auto& l = level->get_ref<const std::string&>();
        if (l == "error" || l == "fatal")
            found = msg->get<std::string>();
    }
    return found;
}

std::vector<std::string> Runtime::argv(const std::vector<std::string>& args) const
{
    std::vector<std::string> v{m_config.binary};
    if (!m_config.root.empty()) {
        v.push_back("--root");
        v.push_back(m_config.root);
    }
    if (!m_log_path.empty()) {
        v.push_back("--log");
        v.push_back(m_log_path);
        v.push_back("--log-format");
        v.push_back("json");
    }
    if (m_config.systemd_cgroup)
        v.push_back("--systemd-cgroup");
    if (!m_config.sandbox.empty()) {
        v.push_back("--sandbox");
        v.push_back(m_config.sandbox);
    }
    v.insert(v.end(), args.begin(), args.end());
    return v;
}

Result<std::string> Runtime::spawn(const std::vector<std::string>& args, int in, int out, int err,
                                   bool capture) const
{
    const auto full = argv(args);
    std::vector<char*> cargv;
    for (const auto& a : full)
        cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);

    Fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull)
        return fail_errno("open /dev/null");
    Fd out_r, out_w, err_mem;
    if (capture) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0)
            return fail_errno("pipe");
        out_r = Fd(p[0]);
        out_w = Fd(p[1]);
        err_mem = Fd(::memfd_create("runtime-stderr", MFD_CLOEXEC));
        if (!err_mem)
            return fail_errno("memfd_create");
        out = out_w.get();
        err = err_mem.get();
    }
    if (in < 0)
        in = devnull.get();
    if (out < 0)
        out = devnull.get();
    if (err < 0)
        err = devnull.get();

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, err, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // The shim blocks SIGCHLD (it reads it from a signalfd); the runtime gets a clean mask.
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t deflt;
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    // The shim's environment, with HUSK_CONFIG naming the sandbox settings when configured.
    std::vector<std::string> env_text;
    std::vector<char*> env;
    char** envp = environ;
    if (!m_config.sandbox_config.empty()) {
        for (char** e = environ; *e; ++e) {
            if (std::string_view(*e).starts_with("HUSK_CONFIG="))
                continue;
            env.push_back(*e);
        }
        env_text.push_back("HUSK_CONFIG=" + m_config.sandbox_config);
        env.push_back(env_text.back().data());
        env.push_back(nullptr);
        envp = env.data();
    }

    const off_t log_from = log_size(m_log_path);
    pid_t pid = -1;
    int rc = m_config.binary.find('/') == std::string::npos
                 ? ::posix_spawnp(&pid, m_config.binary.c_str(), &fa, &attr, cargv.data(), envp)
                 : ::posix_spawn(&pid, m_config.binary.c_str(), &fa, &attr, cargv.data(), envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return fail_errno(rc, "run " + m_config.binary);
    out_w.reset();

    std::string output;
    if (capture) {
        char buf[16384];
        for (;;) {
            ssize_t n = ::read(out_r.get(), buf, sizeof buf);
            if (n > 0) {
                output.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return fail_errno("wait for " + m_config.binary);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return output;

    std::string why = last_logged_error(log_since(m_log_path, log_from));
    if (why.empty() && capture) {
        ::lseek(err_mem.get(), 0, SEEK_SET); // the runtime's writes moved the shared offset
        auto text = fs::read_fd(err_mem.borrow());
        if (text)
            why = trim(*text);
    }
    std::string verb = args.empty() ? std::string("") : args.front();
    std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                        : "signal " + std::to_string(WTERMSIG(status));
    return fail(m_config.binary + " " + verb + " failed (" + how + ")" + (why.empty() ? "" : ": " + why));
}

Result<std::string> Runtime::call(const std::vector<std::string>& args) const
{
    return spawn(args, -1, -1, -1, true);
}

Result<> Runtime::call_with_stdio(const std::vector<std::string>& args, int in, int out, int err) const
{
    TRY(spawn(args, in, out, err, false));
    return {};
}

} // namespace husk::shim
