// `husk delete [--force] ID`: removes a stopped (or, forced, any) container.
#include "runtime/cli/cli.hpp"
#include "sandbox/host/vm_container.hpp"

#include "common/log.hpp"
#include "image/bundle.hpp"

#include <memory>

namespace husk::cli {

void register_delete(CLI::App& app, Context& ctx)
{
    struct DeleteFlags {
        std::string id;
        bool force = false;
    };
    auto flags = std::make_shared<DeleteFlags>();
    auto* cmd = app.add_subcommand("delete", "delete any resources held by the container often used with detached container");
    cmd->add_flag("-f,--force", flags->force, "forcibly deletes the container if it is still running (uses SIGKILL)");
    cmd->add_option("id", flags->id, "container id")->required();
    cmd->callback([&ctx, flags] {
        ctx.action = [&ctx, flags]() -> Result<int> {
            if (sandbox::is_vm_container(ctx.globals.root, flags->id)) {
                TRY(sandbox::vm_delete(ctx.globals.root, flags->id, flags->force));
                return 0;
            }
            Runtime rt(ctx.globals.root);
            auto r = rt.remove(flags->id, flags->force);
            // Forced deletion of something already gone is not an error.
            if (!r && flags->force && r.error().what() == "container does not exist")
                return 0;
            TRY(std::move(r));
            // A bundle `run --image` made for this container goes with it.
            if (auto b = image::remove_owned_bundle(flags->id, ctx.globals.root); !b)
                log::warn("remove the image bundle: " + b.error().message());
            return 0;
        };
    });
}

} // namespace husk::cli
