#include "common/json_error.hpp"

#include <nlohmann/json.hpp>

namespace husk {

std::string json_error_detail(std::string_view text)
{
    try {
        [[maybe_unused]] auto again = nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::parse_error& e) {
        std::string msg = e.what();
        // Drop the library's "[json.exception.parse_error.101] parse error at line 1, column 2: ".
        if (auto pos = msg.find("] "); msg.starts_with("[json.exception") && pos != std::string::npos)
            msg.erase(0, pos + 2);
        return msg + " (byte " + std::to_string(e.byte) + ")";
    } catch (const std::exception& e) {
        return e.what();
    }
    return "parse error";
}

} // namespace husk
