// `husk state ID`: the runtime-spec state of a container as JSON.
#include "runtime/cli/cli.hpp"
#include "sandbox/host/vm_container.hpp"
#include "runtime/cli/state_json.hpp"

#include <cstdio>
#include <memory>

namespace husk::cli {

nlohmann::ordered_json state_to_json(const StateView& v)
{
    nlohmann::ordered_json j;
    j["ociVersion"] = v.oci_version;
    j["id"] = v.id;
    j["pid"] = v.pid;
    j["status"] = std::string(state::status_name(v.status));
    j["bundle"] = v.bundle;
    j["rootfs"] = v.rootfs;
    j["created"] = v.created;
    if (!v.annotations.empty())
        j["annotations"] = v.annotations;
    j["owner"] = "";
    return j;
}

void register_state(CLI::App& app, Context& ctx)
{
    auto id = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("state", "output the state of a container");
    cmd->add_option("id", *id, "container id")->required();
    cmd->callback([&ctx, id] {
        ctx.action = [&ctx, id]() -> Result<int> {
            Runtime rt(ctx.globals.root);
            StateView v = sandbox::is_vm_container(ctx.globals.root, *id) ? TRY(sandbox::vm_state(ctx.globals.root, *id))
                                                                          : TRY(rt.state(*id));
            std::printf("%s\n", state_to_json(v).dump(2).c_str());
            return 0;
        };
    });
}

} // namespace husk::cli
