// Minimal JSON string escaping for places that must not pull in a JSON library (logging).
#pragma once

#include <string>
#include <string_view>

namespace husk {

// Appends `s` to `out` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view s);

} // namespace husk
