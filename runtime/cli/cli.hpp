// The `husk` command line: global options shared by every verb, and one register_*
// function per verb (one file each). Verbs parse their flags with CLI11 and call into
// libhusk; they print and return an exit code, never throw.
#pragma once

#include "common/error.hpp"
#include "runtime/container.hpp"

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace husk::cli {

struct Globals {
    std::string root = "/run/husk";
    std::string log_file;
    std::string log_format = "text";
    bool debug = false;
    bool systemd_cgroup = false;
    std::string rootless = "auto";
    std::string criu;
    std::string sandbox; // --sandbox vm|none: where a new container runs
};

// A verb's action: its result becomes the exit code (an error is reported and gives 1).
using Action = std::function<Result<int>()>;

struct Context {
    Globals globals;
    Action action; // set by the chosen verb's callback
    std::vector<std::string> exec_command; // exec: the command after the id; ps: options for ps(1)
};

void register_create(CLI::App& app, Context& ctx);
void register_start(CLI::App& app, Context& ctx);
void register_run(CLI::App& app, Context& ctx);
void register_state(CLI::App& app, Context& ctx);
void register_kill(CLI::App& app, Context& ctx);
void register_delete(CLI::App& app, Context& ctx);
void register_list(CLI::App& app, Context& ctx);
void register_spec(CLI::App& app, Context& ctx);
void register_features(CLI::App& app, Context& ctx);
void register_exec(CLI::App& app, Context& ctx);
void register_pause(CLI::App& app, Context& ctx); // pause and resume
void register_ps(CLI::App& app, Context& ctx);
void register_update(CLI::App& app, Context& ctx);
void register_events(CLI::App& app, Context& ctx);
void register_image(CLI::App& app, Context& ctx); // image unpack / remove
void register_sandbox(CLI::App& app, Context& ctx); // sandbox build-image
// exec's command may carry flags of its own (`exec ID sh -c ...`), and so may ps's options
// for ps(1): everything after the container id is taken out of the arguments before
// parsing and put in `command`.
std::vector<std::string> split_exec_command(std::vector<std::string> args, std::vector<std::string>& command);

// Reports an error the way callers parse it (log line, and stderr when logging to a
// file) and returns `code` for the exit status.
int report_failure(const Error& err, int code);
// A usage error detected after parsing: "husk: \"VERB\": TEXT", exit code 1.
int usage_error(const std::string& verb, const std::string& text);

// Flags shared by create and run.
void add_create_flags(CLI::App& cmd, CreateOptions& options);

} // namespace husk::cli
