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
#include "daemon/http/http_client.hpp"
#include "daemon/job/job_dir.hpp"
#include "daemon/job/job_runner.hpp"
#include "common/json.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/loop/notifier.hpp"
#include "daemon/job/log_upload.hpp"
#include "daemon/metrics/pull_metrics.hpp"
#include "daemon/selfhosted/pusher.hpp"
#include "daemon/metrics/statsd.hpp"
#include "daemon/loop/timer.hpp"
#include "daemon/loop/uv_handle.hpp"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sa {

class Listener {
public:
    Listener(uv_loop_t* loop, AgentLog& log, const Config& cfg, std::string worker_path,
             SandboxSettings sandbox, Notifier& notifier);
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
    // Counts an interruption by source (AgentMetrics::kInterruptionSources).
    void count_interruption(const std::string& source) { metrics_.interruption(source); }
    bool finished() const { return exited_; }
    int exit_code() const { return exit_code_; }

private:
    void register_attempt(int attempt);
    void schedule_sync(uint64_t ms);
    void sync_now();
    void do_sync();
    void on_sync(Result<SyncResponse> r, const std::string& sent_state, bool told_interrupted);
    void set_state(const std::string& s);
    void run_job(const std::string& id);
    void fetch_job(const std::string& id, int attempt);
    // The request parsed (or why not) and its JSON tree, null when it is
    // not JSON: where the log of an unusable job goes is read from it.
    void start_job(const std::string& id, Result<JobRequest> job, const json_t* request);
    void job_finished(const std::string& result);
    void upload_then_report(const std::string& result);
    void report_finished(const std::string& result);
    void clear_job();
    void arm_idle_timer();
    void shutdown(const std::string& reason);
    void continue_shutdown();
    void disconnect_attempt(int attempt);
    void run_shutdown_hook();
    void exit_now();
    void update_status();
    void ec2_notice(const Ec2Notice& n);

    uv_loop_t* loop_;
    AgentLog& log_;
    const Config& cfg_;
    std::string worker_path_;
    SandboxSettings sandbox_;
    HttpClient http_;
    ApiClient api_;
    Statsd statsd_;
    Timer sync_timer_, retry_timer_, idle_timer_, grace_timer_;

    std::string state_ = "waiting-for-jobs";
    std::string job_id_, job_result_;
    long long interrupted_at_ = 0;
    int interrupts_ = 0;
    bool sync_in_flight_ = false, sync_again_ = false;
    uint64_t last_sync_ok_ms_ = 0;
    bool ran_a_job_ = false;

    std::optional<JobDir> job_dir_;
    std::unique_ptr<JobRunner> runner_;
    std::unique_ptr<Pusher> pusher_;
    std::unique_ptr<LogUpload> upload_;
    std::optional<JobRequest> job_;
    std::optional<PullMetrics> pull_metrics_;

    bool shutting_down_ = false, exited_ = false;
    std::string shutdown_reason_;
    int exit_code_ = 0;
    bool registered_ = false, final_sync_ = false, final_sync_done_ = false, disconnecting_ = false;
    bool stopped_by_api_ = false;
    bool cgroup_warned_ = false;
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
    void log_job_usage(const std::string& result);
    // EC2 spot/scale-in notices. Declared last: destroyed before http_, which it uses.
    std::unique_ptr<Ec2LifecycleWatcher> ec2_;
    std::string interruption_source_;  // "spot" or "scale-in" once noticed
};

// Maps the API's shutdown_reason to SEMAPHORE_AGENT_SHUTDOWN_REASON.
std::string shutdown_reason_name(const std::string& api_reason);

}  // namespace sa
