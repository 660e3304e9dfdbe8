// Running the OCI runtime binary (husk, or any runtime with runc's command line) for the shim:
// one call per Task operation, with the global options every call shares
// (--root, --log FILE --log-format json, --systemd-cgroup).
#pragma once

#include "common/error.hpp"

#include <string>
#include <vector>

namespace husk::shim {

struct RuntimeConfig {
    std::string binary = "husk"; // a path, or a name looked up in PATH
    std::string root;            // --root: the state directory (per containerd namespace)
    bool systemd_cgroup = false;
    std::string sandbox;        // --sandbox (husk): "", vm or none
    std::string sandbox_config; // HUSK_CONFIG for the runtime, when set
};

class Runtime {
public:
    Runtime(RuntimeConfig config, std::string log_path)
        : m_config(std::move(config)), m_log_path(std::move(log_path))
    {
    }

    const RuntimeConfig& config() const { return m_config; }

    // Runs `binary <globals> args...` with stdin from /dev/null and returns what it printed on
    // stdout. On a non-zero exit the error carries the runtime's own message: the last error
    // it logged, or else what it printed on stderr.
    Result<std::string> call(const std::vector<std::string>& args) const;

    // Runs it with the given descriptors as stdin, stdout and stderr (-1: /dev/null): create
    // and exec, whose process inherits them. Errors come from the log only.
    Result<> call_with_stdio(const std::vector<std::string>& args, int in, int out, int err) const;

private:
    Result<std::string> spawn(const std::vector<std::string>& args, int in, int out, int err, bool capture) const;
    std::vector<std::string> argv(const std::vector<std::string>& args) const;

    RuntimeConfig m_config;
    std::string m_log_path;
};

// The message of the last "error" (or "fatal") line of a JSON log as the runtime writes it
// with --log-format json; empty when there is none.
std::string last_logged_error(const std::string& log_text);

} // namespace husk::shim
