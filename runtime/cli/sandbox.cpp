// `husk sandbox build-image [--out DIR] [--agent PATH] [--builder PATH] [--cache DIR]`: the
// guest image of VM sandboxes (Debian's kernel and an initramfs whose /init is husk-agent),
// written where husk.yaml's sandbox.image_dir says unless --out names another place. The
// work is the builder script's (sandbox/image/build-image.sh, installed next to husk-agent).
#include "runtime/cli/cli.hpp"

#include "sandbox/host/config.hpp"

#include <cerrno>
#include <memory>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HUSK_LIBEXECDIR
#define HUSK_LIBEXECDIR "/usr/local/libexec/husk"
#endif

namespace husk::cli {

namespace {

struct BuildImageFlags {
    std::string out;
    std::string agent = HUSK_LIBEXECDIR "/husk-agent";
    std::string builder = HUSK_LIBEXECDIR "/build-image.sh";
    std::string cache;
};

// Runs the builder with its output on ours; its exit status is ours.
Result<int> build_image(const BuildImageFlags& f)
{
    std::string out = f.out;
    if (out.empty())
        out = TRY(sandbox::load_config("")).image_dir;
    if (::access(f.builder.c_str(), X_OK) < 0)
        return fail_errno("the image builder " + f.builder);
    std::vector<std::string> args = {f.builder, "--agent", f.agent, "--out", out};
    if (!f.cache.empty()) {
        args.push_back("--cache");
        args.push_back(f.cache);
    }
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0)
        return fail_errno("fork");
    if (pid == 0) {
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return fail_errno("wait for " + f.builder);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return fail(f.builder + " was killed by signal " + std::to_string(WTERMSIG(status)));
}

} // namespace

void register_sandbox(CLI::App& app, Context& ctx)
{
    auto* cmd = app.add_subcommand("sandbox", "VM sandboxes: build the guest image");
    cmd->require_subcommand(1);
    auto flags = std::make_shared<BuildImageFlags>();
    auto* build = cmd->add_subcommand("build-image", "build the guest image (kernel + initramfs with husk-agent)");
    build->add_option("--out", flags->out, "image directory (default: husk.yaml sandbox.image_dir)");
    build->add_option("--agent", flags->agent, "the husk-agent binary (default " HUSK_LIBEXECDIR "/husk-agent)");
    build->add_option("--builder", flags->builder, "the builder script (default " HUSK_LIBEXECDIR "/build-image.sh)");
    build->add_option("--cache", flags->cache, "the kernel package cache (default /var/cache/husk-vm)");
    build->callback([&ctx, flags] { ctx.action = [flags]() -> Result<int> { return build_image(*flags); }; });
}

} // namespace husk::cli
