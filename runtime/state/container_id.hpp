// Container id validation: ids become directory names under --root, so they must not be
// able to name anything else.
#pragma once

#include "common/error.hpp"

#include <string_view>

namespace husk {

// Accepts 1..1024 characters of [A-Za-z0-9_+.-], excluding "." and "..".
Result<> validate_container_id(std::string_view id);

} // namespace husk
