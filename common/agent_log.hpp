// Agent log lines: `Jan _2 15:04:05.000 NAME : message` in UTC, the prefix
// fleets parse. Under journald (JOURNAL_STREAM set) lines get a `<N>` priority
// prefix instead of the timestamp, which the journal records itself.
// With log-format json every line is one JSON object instead (README
// "Running a fleet"); the journal then gets `<N>` and the object.
#pragma once

#include "common/result.hpp"
#include "common/unique_fd.hpp"

#include <string>
#include <string_view>

namespace sa {

enum class LogLevel { Trace, Debug, Info, Warn, Error, Fatal, Panic };

// Parses trace..panic (case-insensitive); false when unknown.
bool parse_log_level(std::string_view s, LogLevel& out);

// Where `start` and `serve` also log when SEMAPHORE_AGENT_LOG_FILE_PATH is
// unset, as the original agent does: $TMPDIR/agent_log, else /tmp/agent_log.
std::string default_log_file_path();

// `ms` is milliseconds since the epoch.
std::string format_log_line(long long ms, std::string_view name, std::string_view message);

enum class LogFormat { Text, Json };

// What a JSON line carries beside time, level, agent and msg; empty fields
// are left out.
struct LogFields {
    std::string_view job_id, state, reason;
};

const char* log_level_name(LogLevel l);  // "info", "warn", ...

// {"time":"2026-11-30T02:36:29.123Z","level":"info","agent":NAME,"msg":...,
//  "job_id":...,"state":...,"reason":...} and a newline. Bytes of the message
// that are not UTF-8 become U+FFFD.
std::string format_json_log_line(long long ms, LogLevel level, std::string_view name,
                                 std::string_view message, const LogFields& fields);

// Owned by main and passed down; writes to stderr and optionally a file.
class AgentLog {
public:
    AgentLog() = default;
    AgentLog(const AgentLog&) = delete;
    AgentLog& operator=(const AgentLog&) = delete;

    void set_name(std::string name) { name_ = std::move(name); }
    void set_level(LogLevel l) { level_ = l; }
    void set_format(LogFormat f) { format_ = f; }
    // Context for JSON lines: the job under way and the agent's state ("" :
    // none). The text format does not show them.
    void set_job_id(std::string id) { job_id_ = std::move(id); }
    void set_state(std::string s) { state_ = std::move(s); }
    // Also append every line to this file (created 0640). False on failure.
    bool open_file(const std::string& path);
    // The same for a file in a shared directory like /tmp: mode 0600, and a
    // link or another user's file there is refused (it could be a trap).
    Status open_private_file(const std::string& path);
    // Use `<N>` priority prefixes (journald).
    void set_journal(bool on) { journal_ = on; }

    // Also keep the most recent lines in memory (at most `bytes`), for serve
    // mode's /agent_logs.
    void keep_recent(size_t bytes) { recent_cap_ = bytes; }
    const std::string& recent() const { return recent_; }

    void log(LogLevel l, std::string_view message) { log(l, message, {}); }
    // `reason` goes to the JSON line's reason field (a shutdown reason, a
    // job result); the text line is the message alone, as always.
    void log(LogLevel l, std::string_view message, std::string_view reason);
    void info(std::string_view m) { log(LogLevel::Info, m); }
    void warn(std::string_view m) { log(LogLevel::Warn, m); }
    void error(std::string_view m) { log(LogLevel::Error, m); }
    void debug(std::string_view m) { log(LogLevel::Debug, m); }

private:
    std::string name_ = "agent";
    LogLevel level_ = LogLevel::Info;
    LogFormat format_ = LogFormat::Text;
    std::string job_id_, state_;
    UniqueFd file_fd_;
    bool journal_ = false;
    size_t recent_cap_ = 0;
    std::string recent_;
};

}  // namespace sa
