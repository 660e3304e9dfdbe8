#include "runtime/state/container_id.hpp"

namespace husk {

Result<> validate_container_id(std::string_view id)
{
    if (id.empty())
        return fail("invalid container ID format: the ID is empty");
    if (id.size() > 1024)
        return fail("invalid container ID format: longer than 1024 characters");
    if (id == "." || id == "..")
        return fail("invalid container ID format: \"" + std::string(id) + "\"");
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+'
            || c == '-' || c == '.';
        if (!ok)
            return fail("invalid container ID format: \"" + std::string(id)
                        + "\" (allowed: letters, digits, '_', '+', '-', '.')");
    }
    return {};
}

} // namespace husk
