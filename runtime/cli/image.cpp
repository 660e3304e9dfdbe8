// `husk image unpack [--platform P] [--rootless] [--cache DIR] LAYOUT[:REF] BUNDLE` and
// `husk image remove BUNDLE`: an OCI image layout (directory or tar) made into a runtime
// bundle, so running an image needs no second tool. The work is in image/.
#include "runtime/cli/cli.hpp"

#include "common/log.hpp"
#include "image/bundle.hpp"

#include <memory>

namespace husk::cli {

void register_image(CLI::App& app, Context& ctx)
{
    struct UnpackFlags {
        std::string image;
        std::string bundle;
        std::string platform = "linux/amd64";
        std::string cache;
        bool rootless = false;
    };
    auto flags = std::make_shared<UnpackFlags>();
    auto* cmd = app.add_subcommand("image", "make runtime bundles from OCI image layouts");
    cmd->require_subcommand(1);
    auto* unpack = cmd->add_subcommand("unpack", "unpack an image (LAYOUT[:TAG|:DIGEST]) into a bundle");
    unpack->add_option("--platform", flags->platform, "the image's platform, OS/ARCH[/VARIANT] (default linux/amd64)");
    unpack->add_flag("--rootless", flags->rootless, "make a rootless bundle: files owned by the caller, only root mapped");
    unpack->add_option("--cache", flags->cache,
                       "unpack each layer once into DIR and make the rootfs an overlay of the cached layers (root only)");
    unpack->add_option("image", flags->image, "image layout directory or tar, with an optional :TAG or :DIGEST")->required();
    unpack->add_option("bundle", flags->bundle, "bundle directory to create (or an empty one)")->required();
    unpack->callback([&ctx, flags] {
        ctx.action = [flags]() -> Result<int> {
            image::UnpackRequest req;
            req.image = flags->image;
            req.bundle = flags->bundle;
            req.platform = TRY(image::parse_platform(flags->platform));
            req.rootless = flags->rootless;
            req.cache_dir = flags->cache;
            auto report = TRY(image::unpack_image(req));
            for (const auto& w : report.warnings)
                log::warn(w);
            log::debug("unpacked " + report.manifest + ": " + std::to_string(report.layers) + " layers (" +
                       std::to_string(report.layers_from_cache) + " from the cache), " + std::to_string(report.entries) +
                       " entries, " + std::to_string(report.bytes) + " bytes");
            return 0;
        };
    });

    auto remove_path = std::make_shared<std::string>();
    auto* remove = cmd->add_subcommand("remove", "remove a bundle `image unpack` made (unmounting a cached overlay)");
    remove->alias("rm");
    remove->add_option("bundle", *remove_path, "bundle directory")->required();
    remove->callback([&ctx, remove_path] {
        ctx.action = [remove_path]() -> Result<int> {
            TRY(image::remove_bundle(*remove_path));
            return 0;
        };
    });
}

} // namespace husk::cli
