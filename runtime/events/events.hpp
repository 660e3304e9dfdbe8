// `husk events` output: the JSON objects runc prints, one per line ({"type":"stats",...},
// {"type":"oom",...}), built from cgroups::Stats. Field names and the rule for leaving a
// field out (zero counters, empty lists) follow runc's events types.
#pragma once

#include "cgroups/stats.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace husk::events {

std::string stats_event(const std::string& id, const cgroups::Stats& stats);
std::string oom_event(const std::string& id);

// A Go-style duration as runc's --interval takes it: "5s", "100ms", "1m30s", "1.5s".
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

} // namespace husk::events
