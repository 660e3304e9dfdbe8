// `husk ps [--format table|json] ID [PS-OPTIONS...]`: the container's processes. The table
// is the host's ps(1) output (default options -ef) cut down to the container's pids; json
// is the list of pids.
#include "runtime/cli/cli.hpp"
#include "sandbox/host/vm_container.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

namespace husk::cli {

namespace {

// Runs ps with `args` and returns its stdout.
Result<std::string> run_ps(const std::vector<std::string>& args)
{
    int out[2];
    if (::pipe2(out, O_CLOEXEC) < 0)
        return fail_errno("pipe");
    pid_t pid = ::fork();
    if (pid < 0)
        return fail_errno("fork");
    if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        std::vector<char*> argv { const_cast<char*>("ps") };
        for (const auto& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execvp("ps", argv.data());
        ::_exit(127);
    }
    close_raw(out[1]);
    std::string text;
    char buf[8192];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            text.append(buf, static_cast<size_t>(n));
    close_raw(out[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail("ps failed (exit status " + std::to_string(WEXITSTATUS(status)) + ")");
    return text;
}

} // namespace

void register_ps(CLI::App& app, Context& ctx)
{
    struct PsFlags {
        std::string id;
        std::string format = "table";
    };
    auto flags = std::make_shared<PsFlags>();
    auto* cmd = app.add_subcommand("ps", "ps displays the processes running inside a container");
    cmd->add_option("-f,--format", flags->format, "select one of: table or json (default: \"table\")")
        ->check(CLI::IsMember({ "table", "json" }));
    cmd->add_option("id", flags->id, "container id (then options for ps)")->required();
    cmd->callback([&ctx, flags] {
        ctx.action = [&ctx, flags]() -> Result<int> {
            if (sandbox::is_vm_container(ctx.globals.root, flags->id)) {
                // The processes live in the guest: their guest pids and command lines.
                if (!ctx.exec_command.empty())
                    return fail("ps options are not supported for a container in a VM sandbox");
                auto procs = TRY(sandbox::vm_ps(ctx.globals.root, flags->id));
                if (flags->format == "json") {
                    std::vector<uint32_t> ids;
                    for (const auto& p : procs)
                        ids.push_back(p.pid);
                    std::printf("%s\n", nlohmann::json(ids).dump().c_str());
                    return 0;
                }
                std::printf("%-8s %s\n", "PID", "CMD");
                for (const auto& p : procs)
                    std::printf("%-8u %s\n", p.pid, p.command.c_str());
                return 0;
            }
            Runtime rt(ctx.globals.root);
            auto pids = TRY(rt.pids(flags->id));
            if (flags->format == "json") {
                if (!ctx.exec_command.empty())
                    return fail("don't pass ps options when using json format");
                std::printf("%s\n", nlohmann::json(pids).dump().c_str());
                return 0;
            }
            std::vector<std::string> args = ctx.exec_command;
            if (args.empty())
                args = { "-ef" };
            std::string out = TRY(run_ps(args));
            std::istringstream in(out);
            std::string header;
            std::getline(in, header);
            // The column under "PID" in the header.
            std::istringstream hs(header);
            std::string word;
            int pid_col = -1;
            for (int i = 0; hs >> word; ++i)
                if (word == "PID")
                    pid_col = i;
            if (pid_col < 0)
                return fail("ps output has no PID column");
            std::printf("%s\n", header.c_str());
            std::string line;
            while (std::getline(in, line)) {
                std::istringstream ls(line);
                std::string field;
                for (int i = 0; i <= pid_col && ls >> field; ++i) {
                }
                pid_t p = static_cast<pid_t>(std::atoi(field.c_str()));
                if (std::find(pids.begin(), pids.end(), p) != pids.end())
                    std::printf("%s\n", line.c_str());
            }
            return 0;
        };
    });
}

} // namespace husk::cli
