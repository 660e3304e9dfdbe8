// `husk features`: what this build supports, per the runtime-spec features document.
#include "runtime/cli/cli.hpp"
#include "runtime/seccomp/seccomp.hpp"
#include "runtime/spec/config.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace husk::cli {

void register_features(CLI::App& app, Context& ctx)
{
    auto* cmd = app.add_subcommand("features", "show the enabled features");
    cmd->callback([&ctx] {
        ctx.action = []() -> Result<int> {
            // The spec module knows namespaces, capabilities and mount options; the seccomp
            // lists come from the seccomp module.
            auto doc = nlohmann::ordered_json::parse(spec::features_json());
            auto sc = seccomp::supported();
            doc["linux"]["seccomp"] = { { "enabled", true },
                                        { "actions", sc.actions },
                                        { "operators", sc.operators },
                                        { "archs", sc.archs } };
            std::printf("%s\n", doc.dump(4).c_str());
            return 0;
        };
    });
}

} // namespace husk::cli
