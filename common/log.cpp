#include "common/log.hpp"

#include "common/json_escape.hpp"

#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

namespace husk::log {

namespace {

int g_fd = STDERR_FILENO;
Format g_format = Format::Text;
bool g_debug = false;

const char* level_name(Level level)
{
    switch (level) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warning";
    case Level::Error: return "error";
    }
    return "error";
}

} // namespace

bool set_file(const std::string& path)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return false;
    if (g_fd != STDERR_FILENO)
        ::close(g_fd);
    g_fd = fd;
    return true;
}

void forget_file() { g_fd = STDERR_FILENO; }

void set_format(Format format) { g_format = format; }
void set_debug(bool enabled) { g_debug = enabled; }
bool debug_enabled() { return g_debug; }
bool to_file() { return g_fd != STDERR_FILENO; }

std::string rfc3339_now(bool nanos)
{
    timespec ts {};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm utc {};
    gmtime_r(&ts.tv_sec, &utc);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
    if (nanos)
        n += std::snprintf(buf + n, sizeof buf - n, ".%09ld", ts.tv_nsec);
    std::snprintf(buf + n, sizeof buf - n, "Z");
    return buf;
}

void write(Level level, std::string_view msg)
{
    std::string line;
    line.reserve(msg.size() + 64);
    if (g_format == Format::Json) {
        line += "{\"level\":";
        append_json_string(line, level_name(level));
        line += ",\"msg\":";
        append_json_string(line, msg);
        line += ",\"time\":";
        append_json_string(line, rfc3339_now(false));
        line += "}\n";
    } else {
        line += "time=\"" + rfc3339_now(false) + "\" level=" + level_name(level) + " msg=";
        append_json_string(line, msg); // logfmt quoting is JSON-compatible for our purposes
        line += "\n";
    }
    // One write per line so concurrent writers to one log file do not interleave.
    ssize_t off = 0;
    while (off < static_cast<ssize_t>(line.size())) {
        ssize_t n = ::write(g_fd, line.data() + off, line.size() - off);
        if (n <= 0)
            break;
        off += n;
    }
}

} // namespace husk::log
