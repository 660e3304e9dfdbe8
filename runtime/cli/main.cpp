// husk's entry point: global flags, verb dispatch, and the single place where errors are
// turned into log lines, stderr text and exit codes the way runc's callers expect.
#include "common/fd.hpp"
#include "common/log.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/process/sealed_exe.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <iostream>

#ifndef HUSK_VERSION
#define HUSK_VERSION "unknown"
#endif

namespace {

void report(const std::string& msg)
{
    husk::log::error(msg);
    // Callers that redirect the log to a file still read the reason from stderr.
    if (husk::log::to_file())
        std::fprintf(stderr, "%s\n", msg.c_str());
}

} // namespace

namespace husk::cli {

int report_failure(const Error& err, int code)
{
    report(err.message());
    return code;
}

int usage_error(const std::string& verb, const std::string& text)
{
    std::fprintf(stderr, "husk: \"%s\": %s\nRun 'husk %s --help' for usage.\n", verb.c_str(), text.c_str(), verb.c_str());
    return 1;
}

} // namespace husk::cli

namespace {

// The verb of a command line, found without building the CLI: husk's global options that
// take a value are skipped with it. Used only to re-exec early (see main); the parsed
// command line is checked again afterwards, so a miss here costs time, never safety.
std::string_view early_verb(int argc, char** argv)
{
    static constexpr std::string_view with_value[] = { "--root", "--log", "--log-format", "--rootless", "--criu", "--sandbox" };
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "--help" || a == "-h")
            return {};
        if (!a.starts_with("-"))
            return a;
        if (std::find(std::begin(with_value), std::end(with_value), a) != std::end(with_value))
            i++;
    }
    return {};
}

bool enters_container(std::string_view verb)
{
    return verb == "create" || verb == "run" || verb == "exec";
}

int seal_or_fail(char** argv)
{
    if (auto r = husk::process::ensure_sealed_exe(argv); !r) {
        std::fprintf(stderr, "husk: %s\n", r.error().message().c_str());
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    // The verbs that put husk processes into a container run from a copy of husk that no
    // process there can write to (CVE-2019-5736): re-exec'd before anything else is done,
    // so the work of building the command line is not done twice.
    if (enters_container(early_verb(argc, argv)) && seal_or_fail(argv) != 0)
        return 1;
    husk::record_inherited_fds();
    using namespace husk::cli;
    Context ctx;
    CLI::App app { "husk: an OCI container runtime (runc-compatible command line)", "husk" };
    app.set_version_flag("-v,--version",
                         std::string("husk version ") + HUSK_VERSION + "\nspec: 1.1.0");
    app.require_subcommand(0, 1);
    app.add_option("--root", ctx.globals.root, "root directory for storage of container state (this should be located in tmpfs)");
    app.add_option("--log", ctx.globals.log_file, "set the log file to write husk logs to (default is stderr)");
    app.add_option("--log-format", ctx.globals.log_format, "set the log format ('text' (default), or 'json')")
        ->check(CLI::IsMember({ "text", "json" }));
    app.add_flag("--debug", ctx.globals.debug, "enable debug logging");
    app.add_flag("--systemd-cgroup", ctx.globals.systemd_cgroup, "enable systemd cgroup support");
    app.add_option("--rootless", ctx.globals.rootless, "ignore cgroup permission errors ('true', 'false', or 'auto')");
    app.add_option("--criu", ctx.globals.criu, "path to the criu binary used for checkpoint and restore");
    app.add_option("--sandbox", ctx.globals.sandbox,
                   "where create and run put a new container: 'vm' (its own micro-VM) or 'none'; the io.husk.sandbox annotation and husk.yaml's sandbox.mode also choose")
        ->check(CLI::IsMember({ "vm", "none" }));

    register_create(app, ctx);
    register_start(app, ctx);
    register_run(app, ctx);
    register_state(app, ctx);
    register_kill(app, ctx);
    register_delete(app, ctx);
    register_list(app, ctx);
    register_spec(app, ctx);
    register_features(app, ctx);
    register_exec(app, ctx);
    register_pause(app, ctx);
    register_ps(app, ctx);
    register_update(app, ctx);
    register_events(app, ctx);
    register_image(app, ctx);
    register_sandbox(app, ctx);
    auto* help = app.add_subcommand("help", "shows a list of commands or help for one command");
    std::vector<std::string> help_topic;
    help->add_option("command", help_topic);

    try {
        std::vector<std::string> args
            = split_exec_command(std::vector<std::string>(argv, argv + argc), ctx.exec_command);
        // CLI11 takes the arguments in reverse, without the program name.
        std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);
        app.parse(reversed);
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // Name the verb the way runc does ("husk: \"create\" ..."), so scripts see which.
        auto subs = app.get_subcommands();
        std::string where = subs.empty() ? "husk: " : "husk: \"" + subs.front()->get_name() + "\": ";
        std::fprintf(stderr, "%s%s\nRun 'husk --help' for usage.\n", where.c_str(), e.what());
        return 1;
    }
    if (help->parsed() || app.get_subcommands().empty()) {
        if (!help_topic.empty()) {
            try {
                auto* topic = app.get_subcommand(help_topic.front());
                std::fputs(topic->help().c_str(), stdout);
            } catch (const CLI::OptionNotFound&) {
                std::fprintf(stderr, "husk: no help topic for '%s'\n", help_topic.front().c_str());
                return 3;
            }
            return 0;
        }
        // app.help() would describe the "help" verb itself once it was parsed.
        std::fputs(app.get_formatter()->make_help(&app, "husk", CLI::AppFormatMode::Normal).c_str(), stdout);
        return 0;
    }

    // The same check on the parsed verb, for command lines early_verb misread.
    if (enters_container(app.get_subcommands().front()->get_name())
        && husk::process::sealed_exe_kind() == std::string_view("none") && seal_or_fail(argv) != 0)
        return 1;

    husk::log::set_format(ctx.globals.log_format == "json" ? husk::log::Format::Json : husk::log::Format::Text);
    husk::log::set_debug(ctx.globals.debug);
    if (!ctx.globals.log_file.empty() && !husk::log::set_file(ctx.globals.log_file)) {
        std::fprintf(stderr, "husk: cannot open log file %s\n", ctx.globals.log_file.c_str());
        return 1;
    }
    if (ctx.globals.systemd_cgroup) {
        report("--systemd-cgroup: the systemd cgroup driver is not available in this husk build");
        return 1;
    }
    if (!ctx.action) {
        report("no command given");
        return 1;
    }
    try {
        auto result = ctx.action();
        if (!result) {
            report(result.error().message());
            return 1;
        }
        return *result;
    } catch (const std::exception& e) {
        report(std::string("internal error: ") + e.what());
        return 1;
    }
}
