// The JSON form of an agent log line (log-format: json), for CloudWatch Logs
// Insights and Loki: one object per line, fields in a fixed order.
#include "common/agent_log.hpp"
#include "common/json.hpp"
#include "common/utf8.hpp"

#include <cstdio>
#include <ctime>

namespace sa {

namespace {

void field(std::string& out, const char* name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    // A message may quote bytes from anywhere (an API answer, a path): every
    // byte that is not valid UTF-8 becomes U+FFFD so the line stays valid JSON.
    json_append_string(out, utf8_replace_invalid(value, "\xEF\xBF\xBD"));
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
