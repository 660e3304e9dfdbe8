// `husk start ID`: lets a created container exec its process.
#include "runtime/cli/cli.hpp"
#include "sandbox/host/vm_container.hpp"

#include <memory>

namespace husk::cli {

void register_start(CLI::App& app, Context& ctx)
{
    auto id = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("start", "executes the user defined process in a created container");
    cmd->add_option("id", *id, "container id")->required();
    cmd->callback([&ctx, id] {
        ctx.action = [&ctx, id]() -> Result<int> {
            if (sandbox::is_vm_container(ctx.globals.root, *id)) {
                TRY(sandbox::vm_start(ctx.globals.root, *id));
                return 0;
            }
            Runtime rt(ctx.globals.root);
            TRY(rt.start(*id));
            return 0;
        };
    });
}

} // namespace husk::cli
