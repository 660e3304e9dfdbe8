// `husk exec [flags] ID COMMAND [ARGS...]` or `husk exec --process FILE ID`: a new process
// in a running container. Attached, husk exits with the process's exit code; failures of
// exec itself exit 255, as callers of runc expect.
#include "runtime/cli/cli.hpp"
#include "sandbox/host/vm_container.hpp"

#include <memory>

namespace husk::cli {

void register_exec(CLI::App& app, Context& ctx)
{
    struct ExecFlags {
        ExecOptions options;
        bool detach = false;
        bool ignore_paused = false;
        std::string id;
    };
    auto flags = std::make_shared<ExecFlags>();
    ExecOptions& o = flags->options;
    auto* cmd = app.add_subcommand("exec", "execute new process inside the container");
    cmd->add_option("-p,--process", o.process_file, "path to the process.json");
    cmd->add_option("--console-socket", o.console_socket,
                    "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal");
    cmd->add_option("--pid-file", o.pid_file, "specify the file to write the process id to");
    cmd->add_flag("-d,--detach", flags->detach, "detach from the container's process");
    cmd->add_flag("-t,--tty", o.tty, "allocate a pseudo-TTY");
    cmd->add_option("--cwd", o.cwd, "current working directory in the container");
    cmd->add_option("-e,--env", o.env, "set environment variables")->take_last()->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_option("-u,--user", o.user, "UID (format: <uid>[:<gid>])");
    cmd->add_option("-g,--additional-gids", o.additional_gids, "additional gids")->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_option("-c,--cap", o.caps, "add a capability to the bounding set for the process")->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_flag("--no-new-privs", o.no_new_privs, "set the no new privileges value for the process");
    cmd->add_option("-a,--apparmor", o.apparmor, "set the apparmor profile for the process");
    cmd->add_option("--process-label", o.process_label, "set the asm process label for the process commonly used with selinux");
    cmd->add_option("--preserve-fds", o.preserve_fds, "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--ignore-paused", flags->ignore_paused, "allow exec in a paused container");
    // Everything from the container id on is positional: the command's own flags are not ours.
    cmd->add_option("id", flags->id, "container id (then the command and its arguments)")->required();
    cmd->footer("Usage: husk exec [OPTIONS] ID COMMAND [ARGS...]");
    cmd->callback([&ctx, flags] {
        ctx.action = [&ctx, flags]() -> Result<int> {
            ExecOptions options = flags->options;
            options.id = flags->id;
            options.args = ctx.exec_command;
            options.detach = flags->detach ? Detach::Yes : Detach::No;
            options.ignore_paused = flags->ignore_paused;
            Runtime rt(ctx.globals.root);
            auto r = sandbox::is_vm_container(ctx.globals.root, options.id) ? sandbox::vm_exec(ctx.globals.root, options)
                                                                           : rt.exec(options);
            if (!r)
                return report_failure(r.error(), 255);
            return *r;
        };
    });
}

std::vector<std::string> split_exec_command(std::vector<std::string> args, std::vector<std::string>& command)
{
    auto takes_value = [](const std::string& a, std::initializer_list<const char*> names) {
        for (const char* n : names)
            if (a == n)
                return true;
        return false;
    };
    size_t i = 1;
    // Global options up to the verb.
    while (i < args.size() && args[i].starts_with("-")) {
        if (takes_value(args[i], { "--root", "--log", "--log-format", "--rootless", "--criu", "--sandbox" }))
            ++i;
        ++i;
    }
    if (i >= args.size() || (args[i] != "exec" && args[i] != "ps"))
        return args;
    bool exec = args[i] == "exec";
    for (++i; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--") {
            args.erase(args.begin() + static_cast<long>(i));
            break;
        }
        if (!a.starts_with("-") || a == "-")
            break;
        if (exec
                ? takes_value(a, { "-p", "--process", "--console-socket", "--pid-file", "--cwd", "-e", "--env", "-u",
                                   "--user", "-g", "--additional-gids", "-c", "--cap", "-a", "--apparmor",
                                   "--process-label", "--preserve-fds" })
                : takes_value(a, { "-f", "--format" }))
            ++i;
    }
    // args[i] is the container id: everything after it is the command ("--" first is dropped).
    if (i + 1 < args.size()) {
        size_t from = i + 1;
        if (args[from] == "--")
            ++from;
        command.assign(args.begin() + static_cast<long>(from), args.end());
        args.resize(i + 1);
    }
    return args;
}

} // namespace husk::cli
