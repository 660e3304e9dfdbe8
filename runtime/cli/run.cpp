// `husk run [flags] ID`: create and start; attached, it waits and exits with the
// container's exit code.
#include "runtime/cli/cli.hpp"

#include "common/fs.hpp"
#include "common/log.hpp"
#include "image/bundle.hpp"
#include "runtime/state/container_id.hpp"
#include "runtime/terminal/attach.hpp"
#include "sandbox/host/vm_container.hpp"

#include "common/sys.hpp"

#include <cerrno>
#include <csignal>
#include <memory>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

namespace husk::cli {

namespace {

// run for a container in a VM sandbox: create, start, and unless detached wait for its
// keeper, our child, which exits as the container's process did once all of its output is
// written. Signals husk gets meanwhile go to the keeper, which passes them on.
Result<int> run_in_vm(const std::string& root, const CreateOptions& options, const sandbox::Selection& sel,
                      bool detach, bool keep)
{
    sigset_t forwarded, old;
    sigemptyset(&forwarded);
    for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH})
        sigaddset(&forwarded, sig);
    if (!detach)
        ::sigprocmask(SIG_BLOCK, &forwarded, &old);
    // With a terminal and no console socket, the pty's master comes back here to relay.
    Fd master;
    auto keeper = sandbox::vm_create(root, options, sel, !detach, detach ? nullptr : &master);
    if (!keeper)
        return std::unexpected(keeper.error());
    if (auto s = sandbox::vm_start(root, options.id); !s) {
        (void)sandbox::vm_delete(root, options.id, true);
        return std::unexpected(s.error());
    }
    if (detach)
        return 0;
    Fd pidfd(sys::pidfd_open(*keeper));
    if (master) {
        int code = 0;
        {
            terminal::SignalForwarding forwarding(terminal::SignalForwarding::Active::Yes);
            code = terminal::attach_and_wait(*keeper, pidfd.borrow(), std::move(master));
        }
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        if (!keep) {
            if (auto d = sandbox::vm_delete(root, options.id, true); !d)
                log::warn("delete " + options.id + ": " + d.error().message());
        }
        return code;
    }
    Fd sigfd(::signalfd(-1, &forwarded, SFD_CLOEXEC | SFD_NONBLOCK));
    int status = 0;
    for (;;) {
        pollfd p[2] = {{.fd = pidfd.get(), .events = POLLIN, .revents = 0},
                       {.fd = sigfd.get(), .events = POLLIN, .revents = 0}};
        if (pidfd.valid() && ::poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents & POLLIN) {
            signalfd_siginfo si;
            while (::read(sigfd.get(), &si, sizeof si) == ssize_t(sizeof si)) {
                // A terminal's ^C or ^\ (SI_KERNEL) reached the keeper too: it is in our
                // process group.
                if (si.ssi_code != SI_KERNEL)
                    ::kill(*keeper, int(si.ssi_signo));
            }
        }
        if (!pidfd.valid() || (p[0].revents & POLLIN)) {
            while (::waitpid(*keeper, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
    }
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    if (!keep) {
        if (auto d = sandbox::vm_delete(root, options.id, true); !d)
            log::warn("delete " + options.id + ": " + d.error().message());
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
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
