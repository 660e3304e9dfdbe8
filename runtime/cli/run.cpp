// `husk run [flags] ID`: create and start; attached, it waits and exits with the
// container's exit code.
#include "runtime/cli/cli.hpp"

#include <memory>

namespace husk::cli {

void register_run(CLI::App& app, Context& ctx)
{
    struct RunFlags {
        CreateOptions options;
        bool detach = false;
        bool keep = false;
        bool no_subreaper = false;
    };
    auto flags = std::make_shared<RunFlags>();
    auto* cmd = app.add_subcommand("run", "create and run a container");
    add_create_flags(*cmd, flags->options);
    cmd->add_flag("-d,--detach", flags->detach, "detach from the container's process");
    cmd->add_flag("--keep", flags->keep, "do not delete the container after it exits");
    cmd->add_flag("--no-subreaper", flags->no_subreaper, "disable the use of the subreaper used to reap reparented processes");
    cmd->callback([&ctx, flags] {
        ctx.action = [&ctx, flags]() -> Result<int> {
            if (flags->detach && flags->keep)
                return fail("--detach and --keep cannot both be used");
            Runtime rt(ctx.globals.root);
            return rt.run(flags->options, flags->detach ? Detach::Yes : Detach::No,
                          flags->keep ? Keep::Yes : Keep::No);
        };
    });
}

} // namespace husk::cli
