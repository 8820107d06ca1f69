// Job events (protocol.md section 4): one JSON object per line, fields in
// the original agent's order. The returned lines carry no trailing newline.
#pragma once

#include <string>
#include <string_view>

namespace sa {

long long unix_now();

// The docker compose executor's pull step: the worker names it so, and the
// supervisor measures it from its cmd_started and cmd_finished (StatsD).
inline constexpr std::string_view kComposePullStep = "Pulling docker images...";

std::string event_job_started(long long ts);
std::string event_cmd_started(long long ts, std::string_view directive);
// output must be valid UTF-8 (the chunker guarantees it).
std::string event_cmd_output(long long ts, std::string_view output);
// The same line appended to out (the worker builds it straight into a frame).
void append_event_cmd_output(std::string& out, long long ts, std::string_view output);
std::string event_cmd_finished(long long ts, std::string_view directive, int exit_code,
                               long long started_at, long long finished_at);
std::string event_job_finished(long long ts, std::string_view result);

// The event name of a line we produced, from its fixed prefix, without
// parsing: "" when the line is not one of ours.
std::string_view event_kind(std::string_view line);

}  // namespace sa
