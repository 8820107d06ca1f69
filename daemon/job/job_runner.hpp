// Runs one job in a fresh worker process and owns its event spool.
//
// The worker is spawned with one end of a socketpair as fd 3 (the other is
// this runner's WorkerLink) in the job's JobSandbox; the JOB frame is the
// worker protocol's (common/worker_protocol.hpp), encoded here once. Every
// EVENT frame is appended to the spool as it arrives (the bytes are not
// parsed again) and handed to on_event. If the worker dies before it
// reports the end, the runner writes the closing events itself: a
// cmd_output saying how the worker died, the open command's cmd_finished,
// and job_finished failed.
#pragma once

#include "common/agent_log.hpp"
#include "common/job_result.hpp"
#include "common/job_usage.hpp"
#include "common/result.hpp"
#include "common/worker_protocol.hpp"
#include "daemon/job/job_sandbox.hpp"
#include "daemon/job/spool.hpp"
#include "daemon/job/worker_link.hpp"
#include "daemon/loop/timer.hpp"
#include "daemon/loop/uv_handle.hpp"

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sa {

struct WorkerRequest {
    std::string worker_path;
    // The job and the caller's options (options.job_dir: the private 0700
    // directory; the spool goes there too). The runner adds the sandbox's
    // part and the process marker.
    WorkerJob job;
    SandboxSettings sandbox;
    // Values no job may see in its environment, whatever the variable's
    // name (the registration token).
    std::vector<std::string> secrets = {};
    // Set when the caller already knows the job cannot run (no job
    // directory): the job is not started, its log says this.
    std::string cannot_run;
};

class JobRunner {
public:
    using EventFn = std::function<void(std::string_view line)>;
    // The worker's DONE, read once here; failed when the worker reported
    // none it knows, died, or the log could not be kept.
    using FinishedFn = std::function<void(JobResult result)>;

    // How long a stopped worker gets to end the job before it is killed. A
    // shell job ends in about 2 s (SIGTERM, then cgroup.kill); a compose job
    // then also runs `docker compose down` (a 3 s container timeout, then the
    // removals), which the 10 s this used to be could cut short, leaving the
    // job's containers behind. Only a wedged worker waits this long.
    static constexpr uint64_t kStopTimeoutMs = 30000;

    JobRunner(uv_loop_t* loop, AgentLog& log);
    JobRunner(const JobRunner&) = delete;
    ~JobRunner();

    // A job that cannot be started (limits that cannot be applied, no worker,
    // no job directory) still gets a log: job_started, a step "Setting up
    // the job" whose output names the cause, job_finished failed; then
    // on_finished(JobResult::Failed) from the loop. An error comes back only when not
    // even that log can be kept.
    Status start(WorkerRequest req, EventFn on_event, FinishedFn on_finished);
    // Called after each batch of events read from the worker (the spool is
    // written by then): a place to flush buffered output.
    void set_batch_end(std::function<void()> fn) { on_batch_end_ = std::move(fn); }
    // Asks the worker to stop the job; kills it if it has not ended in time.
    void stop();
    bool running() const { return started_ && !finished_; }
    const Spool* spool() const { return spool_ ? &*spool_ : nullptr; }
    // Why the job runs without a cgroup ("" when it has one), for a log line.
    const std::string& cgroup_problem() const;
    // What the job used so far (live while it runs; final once finished).
    JobUsage usage() const;

private:
    Status launch(WorkerRequest& req);
    void cannot_run(const std::string& why);
    static void on_exit(uv_process_t* p, int64_t status, int term_signal);
    void handle_frames();
    void on_link_closed();
    void record(std::string_view line);
    void maybe_finish();
    void synthesize_end();
    void sample_every_second();

    uv_loop_t* loop_;
    AgentLog& log_;
    UvHandle<uv_process_t> proc_;
    WorkerLink link_;
    Timer stop_timer_;  // kills a worker that does not end a stopped job in time
    UvHandle<uv_async_t> defer_;  // finishes a job that could not run
    std::optional<Spool> spool_;
    std::optional<JobSandbox> sandbox_;
    std::optional<JobUsageMeter> meter_;
    Timer sample_timer_;  // every second, for kernels without peak files
    JobUsage final_usage_;
    EventFn on_event_;
    FinishedFn on_finished_;
    std::function<void()> on_batch_end_;
    void fail_spool(const std::string& why);
    void request_stop();
    std::string marker_;
    std::string open_directive_;  // cmd_started without its cmd_finished yet
    std::string killed_because_;  // why the supervisor killed the worker, for the job log
    long long open_started_at_ = 0;
    bool cmd_open_ = false;
    std::optional<JobResult> result_;  // from DONE
    bool saw_job_finished_ = false;
    bool started_ = false, exited_ = false, eof_ = false, finished_ = false;
    bool stop_requested_ = false;
    bool spool_failed_ = false;
    int64_t exit_status_ = 0;
    int term_signal_ = 0;
    pid_t worker_pid_ = -1;
};

// Locates semaphore-agent-worker: $SEMAPHORE_AGENT_WORKER_PATH, next to
// this executable, the build tree's worker/ directory, then libexec.
std::string find_worker_path();

}  // namespace sa
