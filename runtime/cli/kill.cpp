// `husk kill [--all] ID [SIGNAL]`: signal names with or without "SIG", or numbers.
#include "runtime/cli/cli.hpp"
#include "sandbox/host/vm_container.hpp"

#include <csignal>
#include <cstring>
#include <memory>

namespace husk::cli {

namespace {

Result<int> parse_signal(const std::string& text)
{
    if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
        char* end = nullptr;
        long n = std::strtol(text.c_str(), &end, 10);
        if (*end == '\0' && n > 0 && n <= SIGRTMAX)
            return static_cast<int>(n);
        return fail("invalid signal " + text);
    }
    std::string name = text;
    for (auto& c : name)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (name.starts_with("SIG"))
        name = name.substr(3);
    for (int s = 1; s < NSIG; ++s) {
        const char* abbrev = sigabbrev_np(s);
        if (abbrev && name == abbrev)
            return s;
    }
    if (name.starts_with("RTMIN")) {
        int off = name.size() > 5 ? std::atoi(name.c_str() + 5) : 0;
        if (SIGRTMIN + off <= SIGRTMAX)
            return SIGRTMIN + off;
    }
    return fail("unknown signal \"" + text + "\"");
}

} // namespace

void register_kill(CLI::App& app, Context& ctx)
{
    struct KillFlags {
        std::string id;
        std::string signal = "SIGTERM";
        bool all = false;
    };
    auto flags = std::make_shared<KillFlags>();
    auto* cmd = app.add_subcommand("kill", "kill sends the specified signal (default: SIGTERM) to the container's init process");
    cmd->add_flag("-a,--all", flags->all, "send the specified signal to all processes inside the container");
    cmd->add_option("id", flags->id, "container id")->required();
    cmd->add_option("signal", flags->signal, "signal name or number");
    cmd->callback([&ctx, flags] {
        ctx.action = [&ctx, flags]() -> Result<int> {
            int sig = TRY(parse_signal(flags->signal));
            if (sandbox::is_vm_container(ctx.globals.root, flags->id)) {
                TRY(sandbox::vm_kill(ctx.globals.root, flags->id, sig, flags->all));
                return 0;
            }
            Runtime rt(ctx.globals.root);
            TRY(rt.kill(flags->id, sig, flags->all));
            return 0;
        };
    });
}

} // namespace husk::cli
