// `husk create [flags] ID`: builds the container and leaves it waiting for `start`.
#include "runtime/cli/cli.hpp"
#include "sandbox/host/vm_container.hpp"

#include <memory>

namespace husk::cli {

void add_create_flags(CLI::App& cmd, CreateOptions& options)
{
    cmd.add_option("-b,--bundle", options.bundle, "path to the root of the bundle directory");
    cmd.add_option("--console-socket", options.console_socket,
                   "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal");
    cmd.add_option("--pid-file", options.pid_file, "specify the file to write the process id to");
    cmd.add_flag("--no-pivot", options.no_pivot, "do not use pivot root to jail process inside rootfs");
    cmd.add_flag("--no-new-keyring", options.no_new_keyring, "do not create a new session keyring for the container");
    cmd.add_option("--preserve-fds", options.preserve_fds, "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)")
        ->check(CLI::NonNegativeNumber);
    cmd.add_option("id", options.id, "container id")->required();
}

void register_create(CLI::App& app, Context& ctx)
{
    auto options = std::make_shared<CreateOptions>();
    auto* cmd = app.add_subcommand("create", "create a container");
    add_create_flags(*cmd, *options);
    cmd->callback([&ctx, options] {
        ctx.action = [&ctx, options]() -> Result<int> {
            sandbox::Selection sel{.flag = ctx.globals.sandbox, .config_path = ""};
            if (TRY(sandbox::wants_vm(options->bundle, sel))) {
                TRY(sandbox::vm_create(ctx.globals.root, *options, sel));
                return 0;
            }
            Runtime rt(ctx.globals.root);
            TRY(rt.create(*options));
            return 0;
        };
    });
}

} // namespace husk::cli
