// The words of the self-hosted sync loop (protocol.md section 2): the
// agent's state it reports, the action the API answers, and why the agent
// shuts down. Each has its wire name; what the API sends also has a parser.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace sa {

// Where the agent is with its job, as POST /sync reports it.
enum class AgentState { WaitingForJobs, StartingJob, RunningJob, StoppingJob, FinishedJob };

constexpr const char* agent_state_name(AgentState s) {
    switch (s) {
        case AgentState::WaitingForJobs: return "waiting-for-jobs";
        case AgentState::StartingJob: return "starting-job";
        case AgentState::RunningJob: return "running-job";
        case AgentState::StoppingJob: return "stopping-job";
        case AgentState::FinishedJob: return "finished-job";
    }
    return "waiting-for-jobs";
}

// The agent's state as operators see it (agentctl status, the
// semaphore_agent_state metric, the systemd status line): the AgentState's
// wire name, or one of the two phases the API never hears of.
inline constexpr const char* kStatusRegistering = "registering";
inline constexpr const char* kStatusShuttingDown = "shutting-down";
inline constexpr std::array<const char*, 7> kStatusStates = {
    kStatusRegistering,
    agent_state_name(AgentState::WaitingForJobs),
    agent_state_name(AgentState::StartingJob),
    agent_state_name(AgentState::RunningJob),
    agent_state_name(AgentState::StoppingJob),
    agent_state_name(AgentState::FinishedJob),
    kStatusShuttingDown,
};

// What a sync's answer asks of the agent. Unknown stands for any other
// text (or none): the parser returns nothing for it, and the answer keeps
// the text for the log (api_answers.hpp).
enum class SyncAction { Continue, RunJob, StopJob, Shutdown, WaitForJobs, Unknown };

constexpr std::optional<SyncAction> parse_sync_action(std::string_view s) {
    if (s == "continue") return SyncAction::Continue;
    if (s == "run-job") return SyncAction::RunJob;
    if (s == "stop-job") return SyncAction::StopJob;
    if (s == "shutdown") return SyncAction::Shutdown;
    if (s == "wait-for-jobs") return SyncAction::WaitForJobs;
    return std::nullopt;
}

// Why the agent shuts down: SEMAPHORE_AGENT_SHUTDOWN_REASON for the hook.
enum class ShutdownReason { Idle, JobFinished, Requested, Interrupted, UnableToSync, Unknown };

constexpr const char* shutdown_reason_name(ShutdownReason r) {
    switch (r) {
        case ShutdownReason::Idle: return "IDLE";
        case ShutdownReason::JobFinished: return "JOB_FINISHED";
        case ShutdownReason::Requested: return "REQUESTED";
        case ShutdownReason::Interrupted: return "INTERRUPTED";
        case ShutdownReason::UnableToSync: return "UNABLE_TO_SYNC";
        case ShutdownReason::Unknown: return "UNKNOWN";
    }
    return "UNKNOWN";
}

// The shutdown action's shutdown_reason as the API spells it; any other
// text (or none) is UNKNOWN, as the original agent has it. UNABLE_TO_SYNC
// is the agent's own and never comes from the API.
constexpr ShutdownReason parse_shutdown_reason(std::string_view api_reason) {
    if (api_reason == "idle") return ShutdownReason::Idle;
    if (api_reason == "job-finished") return ShutdownReason::JobFinished;
    if (api_reason == "requested") return ShutdownReason::Requested;
    if (api_reason == "interrupted") return ShutdownReason::Interrupted;
    return ShutdownReason::Unknown;
}

}  // namespace sa
