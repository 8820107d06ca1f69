// The self-hosted agent (`start`): registers, syncs, runs the jobs the API
// hands out, pushes their logs, and disconnects by the rules of
// protocol.md section 2. One object on the supervisor's loop; every wait is
// a libuv timer or an HTTP transfer.
#pragma once

#include "common/agent_log.hpp"
#include "daemon/selfhosted/api_client.hpp"
#include "common/config.hpp"
#include "daemon/metrics/health.hpp"
#include "daemon/selfhosted/ec2_lifecycle_watcher.hpp"
#include "daemon/loop/hook_process.hpp"
#include "daemon/loop/retry.hpp"
#include "daemon/http/http_client.hpp"
#include "daemon/job/job_dir.hpp"
#include "daemon/job/job_runner.hpp"
#include "common/json.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/loop/notifier.hpp"
#include "daemon/job/log_upload.hpp"
#include "daemon/metrics/pull_metrics.hpp"
#include "daemon/selfhosted/job_run.hpp"
#include "daemon/selfhosted/pusher.hpp"
#include "daemon/selfhosted/sync_protocol.hpp"
#include "daemon/metrics/statsd.hpp"
#include "daemon/loop/timer.hpp"
#include "daemon/loop/uv_handle.hpp"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sa {

// The waits and retries of protocol.md section 2. The unit tests shorten
// the intervals; the attempts stay the protocol's.
struct ListenerTimings {
    RetryPolicy register_retry{30, 1000};
    RetryPolicy get_job_retry{10, 3000};
    RetryPolicy disconnect_retry{100, 1000};
    // The next sync when the API names no next_sync_after, or a sync failed.
    uint64_t sync_min_ms = 3000, sync_max_ms = 6000;
};

// What a Listener works through. Left empty, the real ones: the API over
// HTTP at the configured endpoint, and a worker process per job.
struct ListenerParts {
    std::unique_ptr<ApiClient> api;
    JobRunFactory new_job_run;
    ListenerTimings timings;
};

class Listener {
public:
    // The agent's lifecycle, one phase at a time. Where a job stands while
    // the agent syncs is the AgentState it reports.
    enum class Phase {
        Registering,    // POST /register until it succeeds or the attempts run out
        Syncing,        // registered: the sync loop runs
        ShuttingDown,   // syncs stop; a job under way is stopped and its log flushed
        ReportingJob,   // one last sync tells the API how the job that ended did
        Disconnecting,  // POST /disconnect (when registered), then the shutdown hook
        Exited,         // the loop is told to stop; exit_code() is final
    };

    Listener(uv_loop_t* loop, AgentLog& log, const Config& cfg, std::string worker_path,
             SandboxSettings sandbox, Notifier& notifier, ListenerParts parts = {});
    ~Listener();

    void start();
    // SIGTERM/SIGINT. The first is reported to the API; a second stops the job at once.
    void interrupt();
    // Finish the current job, take no new one, then disconnect (REQUESTED).
    void drain();
    // What `agentctl status` shows.
    JsonPtr status_json() const;
    // GET /metrics and `agentctl metrics`.
    std::string metrics_text(MetricsFormat f) const;
    // GET /healthz and `agentctl health` (health.hpp has the rule).
    Health health() const;
    bool finished() const { return phase_ == Phase::Exited; }
    int exit_code() const { return exit_code_; }
    Phase phase() const { return phase_; }
    AgentState state() const { return state_; }
    // Meaningful once the phase is past Syncing.
    ShutdownReason shutdown_reason() const { return shutdown_reason_; }

private:
    void register_attempt(int attempt);
    void schedule_sync(uint64_t ms);
    void sync_now();
    void do_sync();
    // A sync's answer, in three concerns: the API's action, the agent's own
    // reasons to go, and when to sync next.
    void on_sync(Result<SyncResponse> r, AgentState sent_state, bool told_interrupted);
    void sync_failed(const std::string& why);
    void apply_action(const SyncResponse& s);
    void shut_down_by_own_rules(AgentState sent_state, bool told_interrupted);
    void schedule_next_sync(long long next_sync_after);
    void set_state(AgentState s);
    void run_job(const std::string& id);
    void stop_job_for_api();
    void fetch_job(const std::string& id, int attempt);
    // The request parsed (or why not) and its JSON tree, null when it is
    // not JSON: where the log of an unusable job goes is read from it.
    void start_job(const std::string& id, Result<JobRequest> job, const json_t* request);
    void job_finished(JobResult result);
    void upload_then_report(JobResult result);
    void report_finished(JobResult result);
    void clear_job();
    void arm_idle_timer();
    void shutdown(ShutdownReason reason);
    void continue_shutdown();
    void disconnect();
    void disconnect_attempt(int attempt);
    void run_shutdown_hook();
    void exit_now();
    void update_status();
    // "registering", the AgentState's name, or "shutting-down".
    const char* status_state() const;
    bool shutting_down() const { return phase_ >= Phase::ShuttingDown; }
    void ec2_notice(const Ec2Notice& n);

    uv_loop_t* loop_;
    AgentLog& log_;
    const Config& cfg_;
    std::string worker_path_;
    SandboxSettings sandbox_;
    HttpClient http_;
    std::unique_ptr<ApiClient> api_;
    JobRunFactory new_job_run_;
    ListenerTimings timings_;
    Statsd statsd_;
    Timer sync_timer_, retry_timer_, idle_timer_, grace_timer_;

    Phase phase_ = Phase::Registering;
    AgentState state_ = AgentState::WaitingForJobs;
    std::string job_id_;
    std::optional<JobResult> job_result_;
    long long interrupted_at_ = 0;
    int interrupts_ = 0;
    // One sync on the wire at a time; a state change meanwhile asks for
    // another as soon as it returns.
    bool sync_in_flight_ = false, sync_again_ = false;
    uint64_t last_sync_ok_ms_ = 0;

    std::optional<JobDir> job_dir_;
    std::unique_ptr<JobRun> runner_;
    std::unique_ptr<Pusher> pusher_;
    std::unique_ptr<LogUpload> upload_;
    std::optional<JobRequest> job_;
    std::optional<PullMetrics> pull_metrics_;

    ShutdownReason shutdown_reason_ = ShutdownReason::Unknown;
    int exit_code_ = 0;
    bool cgroup_warned_ = false;
    // agentctl drain: take no new job; go once the current one is reported.
    bool draining_ = false;
    Notifier& notifier_;
    std::string name_;                 // as registered
    uint64_t started_ms_ = 0, job_started_ms_ = 0;
    long long last_sync_at_ = 0;       // unix seconds of the last successful sync
    std::string last_error_;
    long long jobs_passed_ = 0, jobs_failed_ = 0, jobs_stopped_ = 0;
    std::unique_ptr<HookProcess> hook_;
    // Fleet operations: metrics and health.
    AgentMetrics metrics_;
    long long sync_failing_since_ = 0;  // unix seconds; 0 while syncs succeed
    uint64_t sync_interval_ms_ = 0;
    long long push_errors_before_ = 0;  // of the pushers of earlier jobs
    void log_job_usage(JobResult result);
    // EC2 spot/scale-in notices. Declared last: destroyed before http_, which it uses.
    std::unique_ptr<Ec2LifecycleWatcher> ec2_;
    std::string interruption_source_;  // "spot" or "scale-in" once noticed
};

}  // namespace sa
