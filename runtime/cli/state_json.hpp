// The JSON form of a container's state, shared by `state` and `list --format json`.
#pragma once

#include "runtime/container.hpp"

#include <nlohmann/json.hpp>

namespace husk::cli {

nlohmann::ordered_json state_to_json(const StateView& v);

} // namespace husk::cli
