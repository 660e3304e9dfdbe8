// `husk features`: what this build supports, per the runtime-spec features document.
#include "runtime/cli/cli.hpp"
#include "runtime/spec/config.hpp"

#include <cstdio>

namespace husk::cli {

void register_features(CLI::App& app, Context& ctx)
{
    auto* cmd = app.add_subcommand("features", "show the enabled features");
    cmd->callback([&ctx] {
        ctx.action = []() -> Result<int> {
            std::printf("%s\n", spec::features_json().c_str());
            return 0;
        };
    });
}

} // namespace husk::cli
