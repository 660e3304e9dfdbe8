// `husk spec [--bundle DIR] [--rootless]`: writes a starting config.json.
#include "common/fs.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/spec/config.hpp"

#include <memory>
#include <unistd.h>

namespace husk::cli {

void register_spec(CLI::App& app, Context& ctx)
{
    struct SpecFlags {
        std::string bundle;
        bool rootless = false;
    };
    auto flags = std::make_shared<SpecFlags>();
    auto* cmd = app.add_subcommand("spec", "create a new specification file");
    cmd->add_option("-b,--bundle", flags->bundle, "path to the root of the bundle directory");
    cmd->add_flag("--rootless", flags->rootless, "generate a configuration for a rootless container");
    cmd->callback([&ctx, flags] {
        ctx.action = [flags]() -> Result<int> {
            std::string dir = flags->bundle.empty() ? fs::current_dir() : flags->bundle;
            std::string path = dir + "/config.json";
            if (fs::exists(path))
                return fail("File " + path + " exists. Remove it first");
            std::string text = spec::default_spec_json(flags->rootless, ::getuid(), ::getgid());
            TRY(fs::write_file(path, text, 0666 & ~0022));
            return 0;
        };
    });
}

} // namespace husk::cli
