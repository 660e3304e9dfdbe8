// `husk run [flags] ID`: create and start; attached, it waits and exits with the
// container's exit code.
#include "runtime/cli/cli.hpp"

#include "common/fs.hpp"
#include "common/log.hpp"
#include "image/bundle.hpp"
#include "runtime/state/container_id.hpp"
#include "sandbox/host/vm_container.hpp"

#include <memory>

namespace husk::cli {

namespace {

// run for a container in a VM sandbox: create, start, and unless detached wait for its exit,
// which comes after all of its output (the monitor relays it to our stdout and stderr).
Result<int> run_in_vm(const std::string& root, const CreateOptions& options, const sandbox::Selection& sel,
                      bool detach, bool keep)
{
    TRY(sandbox::vm_create(root, options, sel));
    if (auto s = sandbox::vm_start(root, options.id); !s) {
        (void)sandbox::vm_delete(root, options.id, true);
        return std::unexpected(s.error());
    }
    if (detach)
        return 0;
    auto status = sandbox::vm_wait(root, options.id);
    if (!keep) {
        if (auto d = sandbox::vm_delete(root, options.id, true); !d)
            log::warn("delete " + options.id + ": " + d.error().message());
    }
    return status;
}

} // namespace

void register_run(CLI::App& app, Context& ctx)
{
    struct RunFlags {
        CreateOptions options;
        bool detach = false;
        bool keep = false;
        bool no_subreaper = false;
        std::string image; // --image LAYOUT[:REF]: unpacked into the bundle first
    };
    auto flags = std::make_shared<RunFlags>();
    auto* cmd = app.add_subcommand("run", "create and run a container");
    add_create_flags(*cmd, flags->options);
    cmd->add_flag("-d,--detach", flags->detach, "detach from the container's process");
    cmd->add_flag("--keep", flags->keep, "do not delete the container after it exits");
    cmd->add_flag("--no-subreaper", flags->no_subreaper, "disable the use of the subreaper used to reap reparented processes");
    cmd->add_option("--image", flags->image,
                    "run an image: unpack LAYOUT[:TAG|:DIGEST] into --bundle (which must be new or empty), or, "
                    "without --bundle, into a bundle husk owns and removes with the container");
    cmd->callback([&ctx, flags, cmd] {
        bool bundle_given = cmd->get_option("--bundle")->count() > 0;
        ctx.action = [&ctx, flags, bundle_given]() -> Result<int> {
            if (flags->detach && flags->keep)
                return fail("--detach and --keep cannot both be used");
            bool owned = false;
            if (!flags->image.empty()) {
                TRY(validate_container_id(flags->options.id));
                image::UnpackRequest req;
                req.image = flags->image;
                if (bundle_given) {
                    req.bundle = flags->options.bundle;
                } else {
                    req.bundle = image::owned_bundle_path(flags->options.id);
                    TRY(fs::mkdir_all(fs::clean(req.bundle + "/.."), 0700));
                    req.owner_id = flags->options.id;
                    req.owner_root = ctx.globals.root;
                    owned = true;
                }
                auto report = TRY(image::unpack_image(req));
                for (const auto& w : report.warnings)
                    log::warn(w);
                flags->options.bundle = req.bundle;
            }
            Result<int> result = 0;
            sandbox::Selection sel{.flag = ctx.globals.sandbox, .config_path = ""};
            auto vm = sandbox::wants_vm(flags->options.bundle, sel);
            if (!vm)
                result = std::unexpected(vm.error());
            else if (*vm)
                result = run_in_vm(ctx.globals.root, flags->options, sel, flags->detach, flags->keep);
            else
                result = Runtime(ctx.globals.root).run(flags->options, flags->detach ? Detach::Yes : Detach::No,
                                 flags->keep ? Keep::Yes : Keep::No);
            // The bundle goes with the container: now, if it is gone (run failed, or ran attached
            // without --keep); otherwise at `delete`.
            if (owned && (!result || (!flags->detach && !flags->keep))) {
                if (auto r = image::remove_owned_bundle(flags->options.id, ctx.globals.root); !r)
                    log::warn("remove the image bundle: " + r.error().message());
            }
            return result;
        };
    });
}

} // namespace husk::cli
