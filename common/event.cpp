#include "common/event.hpp"

#include "common/json.hpp"

#include <ctime>

namespace sa {

long long unix_now() { return static_cast<long long>(::time(nullptr)); }

static void append_head(std::string& s, std::string_view name, long long ts) {
    s += "{\"event\":\"";
    s += name;
    s += "\",\"timestamp\":";
    s += std::to_string(ts);
}

static std::string head(std::string_view name, long long ts) {
    std::string s;
    s.reserve(64);
    append_head(s, name, ts);
    return s;
}

std::string event_job_started(long long ts) { return head("job_started", ts) + "}"; }

std::string event_cmd_started(long long ts, std::string_view directive) {
    std::string s = head("cmd_started", ts);
    s += ",\"directive\":";
    json_append_string(s, directive);
    s += '}';
    return s;
}

std::string event_cmd_output(long long ts, std::string_view output) {
    std::string s;
    s.reserve(64 + output.size() + output.size() / 8);
    append_event_cmd_output(s, ts, output);
    return s;
}

void append_event_cmd_output(std::string& out, long long ts, std::string_view output) {
    append_head(out, "cmd_output", ts);
    out += ",\"output\":";
    json_append_string(out, output);
    out += '}';
}

std::string event_cmd_finished(long long ts, std::string_view directive, int exit_code,
                               long long started_at, long long finished_at) {
    std::string s = head("cmd_finished", ts);
    s += ",\"directive\":";
    json_append_string(s, directive);
    s += ",\"exit_code\":" + std::to_string(exit_code);
    s += ",\"started_at\":" + std::to_string(started_at);
    s += ",\"finished_at\":" + std::to_string(finished_at);
    s += '}';
    return s;
}

std::string event_job_finished(long long ts, std::string_view result) {
    std::string s = head("job_finished", ts);
    s += ",\"result\":";
    json_append_string(s, result);
    s += '}';
    return s;
}

std::string_view event_kind(std::string_view line) {
    constexpr std::string_view prefix = "{\"event\":\"";
    if (line.substr(0, prefix.size()) != prefix) return {};
    std::string_view rest = line.substr(prefix.size());
    size_t q = rest.find('"');
    if (q == std::string_view::npos) return {};
    return rest.substr(0, q);
}

}  // namespace sa
