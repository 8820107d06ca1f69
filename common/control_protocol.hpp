// The whole contract between `agentctl` and the control socket of a running
// `semaphore-agent start` (daemon/selfhosted/control_socket.cpp answers,
// daemon/cli/start.cpp dispatches, daemon/cli/agentctl.cpp asks). Both
// programs include this header and nothing else of each other, so a name
// changed here changes on both ends at once.
//
// Transport: a UNIX stream socket, mode kSocketMode (0660).
// The client writes one request line, the agent answers one line; both are
// JSON objects ended by "\n". A connection may carry several requests.
#pragma once

#include "common/json.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sa::control {

// ---- where the socket is ----
// agentctl: --socket PATH, else $SEMAPHORE_AGENT_CONTROL_SOCKET, else the
// path the packaged unit gives the agent.
inline constexpr const char* kSocketEnv = "SEMAPHORE_AGENT_CONTROL_SOCKET";
inline constexpr const char* kDefaultSocketPath = "/run/semaphore-agent/agent.sock";
// The agent: --control-socket PATH, else (under systemd, which gives it a
// RuntimeDirectory) $RUNTIME_DIRECTORY/agent.sock, else no socket at all.
inline constexpr const char* kRuntimeDirEnv = "RUNTIME_DIRECTORY";
inline constexpr const char* kSocketName = "agent.sock";

// The socket's mode: the agent's user and group may talk to it, no one else.
inline constexpr unsigned kSocketMode = 0660;

// Longest request line the agent reads; a client sending more is cut off.
inline constexpr std::size_t kMaxRequestLine = 64 * 1024;
// How long agentctl waits for the answer line.
inline constexpr int kAnswerTimeoutMs = 5000;

// ---- requests: {"command": NAME} ----
inline constexpr const char* kCommandKey = "command";

enum class Command { Status, Drain, Metrics, Health };

inline constexpr const char* command_name(Command c) {
    switch (c) {
        case Command::Status: return "status";
        case Command::Drain: return "drain";
        case Command::Metrics: return "metrics";
        case Command::Health: return "health";
    }
    return "";
}

inline std::optional<Command> parse_command(std::string_view name) {
    for (Command c : {Command::Status, Command::Drain, Command::Metrics, Command::Health})
        if (name == command_name(c)) return c;
    return std::nullopt;
}

// The request for c, as one JSON object (the line without its "\n").
inline std::string request(Command c) {
    return std::string("{\"") + kCommandKey + "\":\"" + command_name(c) + "\"}";
}

// ---- answers: {"ok": true, ...} or {"ok": false, "error": TEXT} ----
namespace key {
inline constexpr const char* kOk = "ok";
inline constexpr const char* kError = "error";      // ok false: why (names the field)
inline constexpr const char* kMessage = "message";  // drain: what the agent does now
inline constexpr const char* kMetrics = "metrics";  // metrics: the Prometheus text
inline constexpr const char* kHealthy = "healthy";  // health: the GET /healthz verdict
inline constexpr const char* kReason = "reason";    // health: "ok", or why not
}  // namespace key

// The status answer: every field is present, null when it does not apply.
namespace status {
inline constexpr const char* kName = "name";
inline constexpr const char* kVersion = "version";
inline constexpr const char* kState = "state";                // the agent state's wire name
inline constexpr const char* kDraining = "draining";          // bool
inline constexpr const char* kJobId = "job_id";
inline constexpr const char* kJobRunningSeconds = "job_running_seconds";
inline constexpr const char* kLastSyncAt = "last_sync_at";    // UNIX seconds
inline constexpr const char* kLastError = "last_error";
inline constexpr const char* kUptimeSeconds = "uptime_seconds";
inline constexpr const char* kJobs = "jobs";                  // {passed, failed, stopped}
inline constexpr const char* kJobsPassed = "passed";
inline constexpr const char* kJobsFailed = "failed";
inline constexpr const char* kJobsStopped = "stopped";
inline constexpr const char* kEndpoint = "endpoint";
inline constexpr const char* kEc2LifecycleWatch = "ec2_lifecycle_watch";
inline constexpr const char* kInterruptionSource = "interruption_source";
// Only while a job runs: what it has used so far (-1: not known here).
inline constexpr const char* kJobUsage = "job_usage";
inline constexpr const char* kCpuUserSeconds = "cpu_user_seconds";
inline constexpr const char* kCpuSystemSeconds = "cpu_system_seconds";
inline constexpr const char* kMemoryPeakBytes = "memory_peak_bytes";
inline constexpr const char* kOomKills = "oom_kills";
inline constexpr const char* kTasksPeak = "tasks_peak";
}  // namespace status

// {"ok": false, "error": error}: the agent refuses the request.
inline JsonPtr refusal(const std::string& error) {
    return JsonPtr(json_pack("{s:b, s:s}", key::kOk, 0, key::kError, error.c_str()));
}

// The answers to the other commands.
inline JsonPtr metrics_answer(const std::string& prometheus_text) {
    return JsonPtr(json_pack("{s:b, s:s}", key::kOk, 1, key::kMetrics, prometheus_text.c_str()));
}
inline JsonPtr health_answer(bool healthy, const std::string& reason) {
    return JsonPtr(json_pack("{s:b, s:b, s:s}", key::kOk, 1, key::kHealthy, healthy, key::kReason, reason.c_str()));
}
inline JsonPtr drain_answer(const std::string& message) {
    return JsonPtr(json_pack("{s:b, s:s}", key::kOk, 1, key::kMessage, message.c_str()));
}

}  // namespace sa::control
