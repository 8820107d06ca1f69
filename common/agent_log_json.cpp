// The JSON form of an agent log line (log-format: json), for CloudWatch Logs
// Insights and Loki: one object per line, fields in a fixed order.
#include "agent_log.hpp"
#include "json.hpp"

#include <cstdio>
#include <ctime>

namespace sa {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one
// (overlong forms, surrogates and code points above U+10FFFF included).
size_t utf8_sequence(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    size_t n;
    unsigned min;
    unsigned cp;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) n = 2, min = 0x80, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 3, min = 0x800, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 4, min = 0x10000, cp = c & 0x07;
    else return 0;
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; k++) {
        if ((b(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

// A message may quote bytes from anywhere (an API answer, a path): every
// byte that is not valid UTF-8 becomes U+FFFD so the line stays valid JSON.
std::string valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8_sequence(s, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            i++;
        } else {
            out.append(s.data() + i, n);
            i += n;
        }
    }
    return out;
}

void field(std::string& out, const char* name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    json_append_string(out, valid_utf8(value));
}

}  // namespace

const char* log_level_name(LogLevel l) {
    static const char* names[] = {"trace", "debug", "info", "warn", "error", "fatal", "panic"};
    return names[static_cast<int>(l)];
}

std::string format_json_log_line(long long ms, LogLevel level, std::string_view name,
                                 std::string_view message, const LogFields& f) {
    time_t secs = static_cast<time_t>(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char time[64];
    snprintf(time, sizeof time, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    std::string out = "{\"time\":\"";
    out += time;
    out += '"';
    field(out, "level", log_level_name(level));
    field(out, "agent", name);
    field(out, "msg", message);
    if (!f.job_id.empty()) field(out, "job_id", f.job_id);
    if (!f.state.empty()) field(out, "state", f.state);
    if (!f.reason.empty()) field(out, "reason", f.reason);
    out += "}\n";
    return out;
}

}  // namespace sa
