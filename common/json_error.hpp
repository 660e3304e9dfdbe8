// Why a document is not valid JSON, in words a user can act on. The non-throwing parse the
// libraries use only says that it failed; this parses once more, with exceptions, to learn
// where and why. It never throws.
#pragma once

#include <string>
#include <string_view>

namespace husk {

// "syntax error while parsing value - invalid literal; last read: 'x' (byte 3)"; "parse
// error" if the text parses after all.
std::string json_error_detail(std::string_view text);

} // namespace husk
