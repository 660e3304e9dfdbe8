// Process-wide logging in the shapes callers parse: text lines
// `time="..." level=error msg="..."` or JSON lines {"level","msg","time"}.
// The CLI configures it once; libraries only call the level functions.
#pragma once

#include <string>
#include <string_view>

namespace husk::log {

enum class Format { Text, Json };
enum class Level { Debug, Info, Warn, Error };

// Direct output to a file (opened append) instead of stderr. Returns false and leaves
// stderr in place if the file cannot be opened.
bool set_file(const std::string& path);
// After a fork whose child closed every descriptor it does not keep (close_range): the log's
// file descriptor is gone, and its number may be reused. Back to stderr, closing nothing.
void forget_file();
void set_format(Format format);
void set_debug(bool enabled);
bool debug_enabled();
// True when the log goes somewhere other than stderr.
bool to_file();

void write(Level level, std::string_view msg);
inline void debug(std::string_view msg) { if (debug_enabled()) write(Level::Debug, msg); }
inline void info(std::string_view msg) { write(Level::Info, msg); }
inline void warn(std::string_view msg) { write(Level::Warn, msg); }
inline void error(std::string_view msg) { write(Level::Error, msg); }

// The current UTC time as RFC 3339 with nanoseconds ("2026-01-02T03:04:05.123456789Z"),
// or with whole seconds.
std::string rfc3339_now(bool nanos);

} // namespace husk::log
