// OCI hooks: each hook is executed with its args and env, the container's state JSON on
// stdin, and an optional timeout. The caller decides where it runs (husk itself for the
// runtime-namespace hooks, the container init for createContainer/startContainer) and
// what a failure means (abort, or only a warning for poststart/poststop).
#pragma once

#include "common/error.hpp"
#include "runtime/spec/config.hpp"

#include <map>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace husk::hooks {

struct HookState {
    std::string oci_version;
    std::string id;
    std::string status; // creating, created, running, stopped
    pid_t pid = 0;
    std::string bundle;
    std::map<std::string, std::string> annotations;
};

// The runtime-spec state document hooks read on stdin.
std::string state_json(const HookState& st);

// Runs `hooks` in order; stops at and returns the first failure, named
// "<phase> hook #N (<path>): ...", with what the hook wrote to stderr.
Result<> run(const std::vector<spec::Hook>& hooks, std::string_view phase, std::string_view state);

// Runs every hook even when some fail; failures are logged as warnings.
void run_all_warn(const std::vector<spec::Hook>& hooks, std::string_view phase, std::string_view state);

} // namespace husk::hooks
