// `husk pause ID` / `husk resume ID`: freeze and thaw every process of a container.
#include "runtime/cli/cli.hpp"
#include "sandbox/host/vm_container.hpp"

#include <memory>

namespace husk::cli {

void register_pause(CLI::App& app, Context& ctx)
{
    auto pause_id = std::make_shared<std::string>();
    auto* pause = app.add_subcommand("pause", "pause suspends all processes inside the container");
    pause->add_option("id", *pause_id, "container id")->required();
    pause->callback([&ctx, pause_id] {
        ctx.action = [&ctx, pause_id]() -> Result<int> {
            if (sandbox::is_vm_container(ctx.globals.root, *pause_id)) {
                TRY(sandbox::vm_pause(ctx.globals.root, *pause_id));
                return 0;
            }
            Runtime rt(ctx.globals.root);
            TRY(rt.pause(*pause_id));
            return 0;
        };
    });
    auto resume_id = std::make_shared<std::string>();
    auto* resume = app.add_subcommand("resume", "resumes all processes that have been previously paused");
    resume->add_option("id", *resume_id, "container id")->required();
    resume->callback([&ctx, resume_id] {
        ctx.action = [&ctx, resume_id]() -> Result<int> {
            if (sandbox::is_vm_container(ctx.globals.root, *resume_id)) {
                TRY(sandbox::vm_resume(ctx.globals.root, *resume_id));
                return 0;
            }
            Runtime rt(ctx.globals.root);
            TRY(rt.resume(*resume_id));
            return 0;
        };
    });
}

} // namespace husk::cli
