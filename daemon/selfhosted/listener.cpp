#include "daemon/selfhosted/listener.hpp"

#include "common/control_protocol.hpp"
#include "common/fs.hpp"
#include "common/job_request.hpp"
#include "common/json.hpp"
#include "common/random.hpp"
#include "sa_build_config.h"

#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <exception>
#include <sstream>

namespace sa {

namespace {

constexpr long long kFlushTimeoutMs = 60000;
// When the API does not act on an interruption, the agent stops the job
// itself this long after the grace period.
constexpr uint64_t kInterruptSlackMs = 30000;
// A job must be stopped this long before an EC2 notice's deadline, so that
// it can end, its log be pushed and the agent disconnect in time.
constexpr long long kNoticeMarginSeconds = 15;
// Idle on an EC2 notice: the agent goes once the API has heard of it, or
// after this long when the API does not answer.
constexpr uint64_t kIdleNoticeWaitMs = 10000;

std::string os_name() {
    auto text = read_file("/etc/os-release");
    std::istringstream f(text ? *text : std::string());
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("PRETTY_NAME=", 0) == 0) {
            std::string v = line.substr(12);
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            return v;
        }
    }
    return "Linux";
}

}  // namespace

Listener::Listener(uv_loop_t* loop, AgentLog& log, const Config& cfg, std::string worker_path,
                   SandboxSettings sandbox, Notifier& notifier, ListenerParts parts)
    : loop_(loop), log_(log), cfg_(cfg), worker_path_(std::move(worker_path)),
      sandbox_(std::move(sandbox)),
      http_(loop, std::string("SemaphoreAgent/") + SA_VERSION),
      api_(parts.api ? std::move(parts.api)
                     : std::make_unique<HttpApiClient>(http_, cfg.api_base(), cfg.token)),
      new_job_run_(parts.new_job_run ? std::move(parts.new_job_run)
                                     : JobRunFactory([loop, &log] {
                                           return std::make_unique<WorkerJobRun>(loop, log);
                                       })),
      timings_(parts.timings),
      statsd_(loop, log, cfg.statsd_host, static_cast<int>(cfg.statsd_port), cfg.statsd_namespace),
      sync_timer_(loop), retry_timer_(loop),
      idle_timer_(loop), grace_timer_(loop), notifier_(notifier), name_(cfg.name),
      started_ms_(uv_now(loop)) {}

Listener::~Listener() = default;

void Listener::start() {
    log_.info("Starting the agent, version " + std::string(SA_VERSION) + ", API " +
              cfg_.api_base());
    notifier_.status(kStatusRegistering);
    log_.set_state(kStatusRegistering);
    auto mode = parse_ec2_watch_mode(cfg_.ec2_lifecycle_watch);
    ec2_ = std::make_unique<Ec2LifecycleWatcher>(
        loop_, log_, http_,
        plan_ec2_watch(mode ? *mode : Ec2WatchMode::Auto, process_env(), sysfs_reader()),
        [this](const Ec2Notice& n) { ec2_notice(n); });
    ec2_->start();
    register_attempt(1);
}

void Listener::register_attempt(int attempt) {
    RegisterRequest r;
    r.name = cfg_.name;
    r.version = SA_VERSION;
    r.pid = getpid();
    r.os = os_name();
    struct utsname u;
    if (uname(&u) == 0) r.arch = u.machine;
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    r.hostname = host;
    r.single_job = cfg_.disconnect_after_job;
    r.idle_timeout = cfg_.disconnect_after_idle_timeout;
    r.interruption_grace_period = cfg_.interruption_grace_period;
    r.job_id = cfg_.job_id;
    api_->register_agent(r, [this, attempt](Result<RegisterResponse> resp) {
        if (!resp) {
            last_error_ = resp.message();
            log_.error("Register attempt " + std::to_string(attempt) + " failed: " + resp.message());
            auto again = [this](int next) { register_attempt(next); };
            if (interrupts_ > 0 || !timings_.register_retry.retry(retry_timer_, attempt, again)) {
                log_.error("Could not register after " + std::to_string(attempt) + " attempts");
                exit_code_ = 1;
                exit_now();
            }
            return;
        }
        if (!resp->name.empty()) name_ = resp->name;
        name_ = masked_name(name_);  // an unanswered URL name stays out of logs and status
        log_.set_name(name_);
        log_.info("Registered as " + name_);
        // A shutdown that came first (drain, EC2 notice) stays under way:
        // it ran the hook without a disconnect.
        if (phase_ == Phase::Registering) phase_ = Phase::Syncing;
        log_.set_state(agent_state_name(state_));
        notifier_.ready();
        update_status();
        last_sync_ok_ms_ = uv_now(loop_);
        if (interrupts_ > 0) interrupted_at_ = interrupted_at_ ? interrupted_at_ : time(nullptr);
        arm_idle_timer();
        sync_now();
    });
}

void Listener::schedule_sync(uint64_t ms) {
    sync_interval_ms_ = ms;
    sync_timer_.start(ms, [this] { do_sync(); });
}

// A state change is reported at once; a sync already on the wire is
// followed by another as soon as it returns.
void Listener::sync_now() {
    if (phase_ == Phase::Registering || phase_ == Phase::Exited) return;
    if (sync_in_flight_) {
        sync_again_ = true;
        return;
    }
    sync_timer_.stop();
    do_sync();
}

void Listener::do_sync() {
    if (phase_ != Phase::Syncing && phase_ != Phase::ReportingJob) return;
    // One sync at a time: two answers racing each other could hand out a
    // job while the agent is already starting another, and it would be lost.
    if (sync_in_flight_) {
        sync_again_ = true;
        return;
    }
    SyncRequest s{state_, job_id_, job_result_, interrupted_at_};
    sync_in_flight_ = true;
    api_->sync(s, [this, sent = state_, told = interrupted_at_ != 0](Result<SyncResponse> r) {
        sync_in_flight_ = false;
        metrics_.sync_done(static_cast<bool>(r), time(nullptr));
        if (!r && !sync_failing_since_) sync_failing_since_ = time(nullptr);
        if (r) sync_failing_since_ = 0;
        on_sync(std::move(r), sent, told);
    });
}

void Listener::on_sync(Result<SyncResponse> r, AgentState sent_state, bool told_interrupted) {
    if (phase_ == Phase::ReportingJob) {
        // An answer to a sync sent before the job was reported is not the
        // final one: the API has not heard finished-job yet.
        if (sent_state != AgentState::FinishedJob && state_ == AgentState::FinishedJob) return do_sync();
        return disconnect();
    }
    if (phase_ != Phase::Syncing) return;
    if (!r) return sync_failed(r.message());
    last_sync_ok_ms_ = uv_now(loop_);
    last_sync_at_ = time(nullptr);
    apply_action(*r);
    if (phase_ == Phase::Syncing) shut_down_by_own_rules(sent_state, told_interrupted);
    if (phase_ == Phase::Syncing) schedule_next_sync(r->next_sync_after);
}

void Listener::sync_failed(const std::string& why) {
    last_error_ = why;
    log_.warn("Sync failed: " + why);
    if (uv_now(loop_) - last_sync_ok_ms_ >= static_cast<uint64_t>(cfg_.unable_to_sync_seconds) * 1000) {
        log_.error("No successful sync for " + std::to_string(cfg_.unable_to_sync_seconds) + " s");
        return shutdown(ShutdownReason::UnableToSync);
    }
    schedule_sync(random_between(timings_.sync_min_ms, timings_.sync_max_ms));
}

// What the API asked for, where the agent's state allows it.
void Listener::apply_action(const SyncResponse& s) {
    switch (s.action) {
        case SyncAction::Unknown:
            log_.warn("Unknown sync action '" + s.action_text + "': ignored");
            return;
        case SyncAction::Continue: return;
        case SyncAction::RunJob:
            if (state_ == AgentState::WaitingForJobs && !draining_ && interruption_source_.empty())
                run_job(s.job_id);
            return;
        case SyncAction::StopJob: return stop_job_for_api();
        case SyncAction::Shutdown:
            log_.info("The API asked the agent to shut down (reason: " + s.shutdown_reason + ")");
            return shutdown(parse_shutdown_reason(s.shutdown_reason));
        case SyncAction::WaitForJobs:
            if (state_ != AgentState::FinishedJob) return;
            clear_job();
            if (cfg_.disconnect_after_job) shutdown(ShutdownReason::JobFinished);
            return;
    }
}

// stop-job for a job already finished (or none) is ignored.
void Listener::stop_job_for_api() {
    if (state_ == AgentState::StartingJob && !runner_) {
        // Still fetching the job: it never runs. The fetch's answer is
        // dropped by its state check.
        log_.info("The API asked to stop job " + job_id_ + " before it started");
        retry_timer_.stop();
        report_finished(JobResult::Stopped);
    } else if ((state_ == AgentState::StartingJob || state_ == AgentState::RunningJob) && runner_) {
        log_.info("The API asked to stop job " + job_id_);
        runner_->stop();
        set_state(AgentState::StoppingJob);
    }
}

// The rules this agent keeps even when the API never sends the shutdown.
void Listener::shut_down_by_own_rules(AgentState sent_state, bool told_interrupted) {
    // disconnect-after-job: once the API has heard that the job finished,
    // the agent goes.
    if (cfg_.disconnect_after_job && sent_state == AgentState::FinishedJob &&
        state_ == AgentState::FinishedJob) {
        clear_job();
        return shutdown(ShutdownReason::JobFinished);
    }
    // An interruption the API did not turn into a shutdown: with no job to
    // finish there is nothing to wait for.
    if (told_interrupted && (state_ == AgentState::WaitingForJobs || state_ == AgentState::FinishedJob))
        return shutdown(ShutdownReason::Interrupted);
    // Draining: once the job is over (reported), go.
    if (draining_ && (state_ == AgentState::WaitingForJobs || sent_state == AgentState::FinishedJob))
        return shutdown(ShutdownReason::Requested);
}

void Listener::schedule_next_sync(long long next_sync_after) {
    if (sync_again_) {
        sync_again_ = false;
        return do_sync();
    }
    if (sync_in_flight_) return;  // a state change already synced
    schedule_sync(next_sync_after > 0 ? static_cast<uint64_t>(next_sync_after)
                                      : random_between(timings_.sync_min_ms, timings_.sync_max_ms));
}

void Listener::set_state(AgentState s) {
    if (s == state_) return;
    state_ = s;
    log_.set_state(agent_state_name(s));
    update_status();
    log_.debug(std::string("State: ") + agent_state_name(s));
    sync_now();
}

void Listener::arm_idle_timer() {
    if (cfg_.disconnect_after_idle_timeout <= 0) return;
    idle_timer_.start(static_cast<uint64_t>(cfg_.disconnect_after_idle_timeout) * 1000, [this] {
        if (state_ == AgentState::WaitingForJobs && !shutting_down()) {
            log_.info("Idle for " + std::to_string(cfg_.disconnect_after_idle_timeout) +
                      " s: shutting down");
            shutdown(ShutdownReason::Idle);
        }
    });
}

void Listener::run_job(const std::string& id) {
    idle_timer_.stop();
    job_id_ = id;
    log_.set_job_id(id);
    job_result_.reset();
    job_started_ms_ = uv_now(loop_);
    log_.info("Received job " + id);
    set_state(AgentState::StartingJob);
    fetch_job(id, 1);
}

void Listener::fetch_job(const std::string& id, int attempt) {
    api_->get_job(id, [this, id, attempt](Result<std::string> r) {
        if (job_id_ != id || state_ != AgentState::StartingJob) return;  // stopped meanwhile
        auto again = [this, id](int next) { fetch_job(id, next); };
        if (!r) {
            log_.warn("Fetching job " + id + " failed (attempt " + std::to_string(attempt) +
                      "): " + r.message());
            if (!timings_.get_job_retry.retry(retry_timer_, attempt, again))
                report_finished(JobResult::Failed);
            return;
        }
        // Parsed once, here. An answer that is not JSON (nor an object or
        // array) is a broken answer: fetch again.
        json_error_t e;
        JsonPtr request(json_loadb(r->data(), r->size(), 0, &e));
        if (!request && timings_.get_job_retry.retry(retry_timer_, attempt, again)) {
            log_.warn("Fetching job " + id + ": the answer is not JSON (" + e.text + "); retrying");
            return;
        }
        // The last answer is still not JSON: the job fails, and the request
        // parser's message (line and column) says why.
        if (!request) return start_job(id, parse_job_request_json(*r), nullptr);
        start_job(id, parse_job_request(request.get()), request.get());
    });
}

void Listener::start_job(const std::string& id, Result<JobRequest> job, const json_t* request) {
    std::string cannot_run;
    if (!job) {
        // The log can still say so when the request says where it goes.
        cannot_run = "the job request is not usable: " + job.message();
        auto target = parse_log_target(request);
        if (!target || target->logger.method != "push" || target->logger.url.empty()) {
            log_.error("Job " + id + " is not a usable job request: " + job.message());
            return report_finished(JobResult::Failed);
        }
        job = std::move(target);
    }
    // Without its directory the job cannot run, but its log can still say
    // why (the runner keeps it in memory).
    auto dir = JobDir::create(default_job_base());
    if (dir) job_dir_.emplace(std::move(dir.value()));
    else if (cannot_run.empty()) cannot_run = dir.message();
    job_ = *job;
    RunOptions options;
    options.pre_job_hook_path = cfg_.pre_job_hook_path;
    options.post_job_hook_path = cfg_.post_job_hook_path;
    options.source_pre_job_hook = cfg_.source_pre_job_hook;
    options.fail_on_pre_job_hook_error = cfg_.fail_on_pre_job_hook_error;
    options.agent_env_vars = split_env_assignments(cfg_.env_vars);
    options.host_files = cfg_.files;
    options.fail_on_missing_files = cfg_.fail_on_missing_files;
    options.job_dir = job_dir_ ? job_dir_->path() : "";

    runner_ = new_job_run_();
    WorkerRequest req{worker_path_, WorkerJob{std::move(job.value()), std::move(options)}, sandbox_,
                      {cfg_.token}, cannot_run};
    pull_metrics_.emplace(*job_);
    auto st = runner_->start(
        std::move(req),
        [this](std::string_view line) noexcept {
            // The runner's libuv read callback calls this: nothing thrown
            // may cross it. A metric that cannot be built or sent is dropped.
            try {
                for (const auto& m : pull_metrics_->on_event(line, uv_hrtime() / 1000000)) statsd_.send(m);
            } catch (const std::exception& e) {
                try {
                    log_.warn(std::string("statsd: a job metric is dropped: ") + e.what());
                } catch (...) {
                }
            } catch (...) {
            }
        },
        [this](JobResult result) { job_finished(result); });
    if (!st) {
        log_.error("Job " + id + ": " + st.message());
        return report_finished(JobResult::Failed);
    }
    // With limits, a job without a cgroup does not run (its log says why).
    if (!runner_->cgroup_problem().empty() && !sandbox_.limits.any() && !cgroup_warned_) {
        cgroup_warned_ = true;  // once: it is the same on every job
        log_.warn("Jobs run without a cgroup (" + runner_->cgroup_problem() +
                  "): their processes are found through their session and an environment marker");
    }
    if (job_->logger.method == "push" && !job_->logger.url.empty()) {
        pusher_ = std::make_unique<Pusher>(
            loop_, http_, log_, runner_->spool()->path(), job_->logger.url,
            job_->logger.token, [this](std::function<void(std::string)> done) {
                api_->refresh([done = std::move(done)](Result<std::string> t) {
                    done(t ? *t : std::string());
                });
            });
        pusher_->start();
    }
    statsd_.count("jobs.started");
    log_.info("Job " + id + " started");
    set_state(AgentState::RunningJob);
}

void Listener::job_finished(JobResult result) {
    log_job_usage(result);
    statsd_.count(std::string("jobs.finished.") + job_result_name(result));
    statsd_.timing("jobs.duration", static_cast<long long>(uv_now(loop_) - job_started_ms_));
    if (!pusher_) return upload_then_report(result);
    pusher_->flush(kFlushTimeoutMs, [this, result] { upload_then_report(result); });
}

void Listener::upload_then_report(JobResult result) {
    const Spool* spool = runner_ ? runner_->spool() : nullptr;
    bool trimmed = pusher_ && pusher_->trimmed();
    if (!spool || !job_ || !job_dir_ ||
        !should_upload_logs(cfg_.upload_job_logs, trimmed, spool->bytes(),
                            job_->logger.max_size_in_bytes))
        return report_finished(result);
    upload_ = std::make_unique<LogUpload>(loop_, log_);
    upload_->start(spool->path(), job_dir_->path(), *job_, cfg_.logs_compression_size,
                   [this, result] { report_finished(result); });
}

// The job's end, with what it used; an OOM kill said in plain words.
void Listener::log_job_usage(JobResult r) {
    JobUsage u = runner_ ? runner_->usage() : JobUsage{};
    std::string result = job_result_name(r);
    log_.log(LogLevel::Info, "Job " + job_id_ + " finished: " + result + " (" + describe_usage(u) + ")", result);
    if (u.oom_kills > 0) {
        std::string limit = cfg_.job_memory_max.empty() ? "the memory the machine could give it"
                                                        : "its memory limit (job-memory-max " + cfg_.job_memory_max + ")";
        log_.log(LogLevel::Error,
                 "Job " + job_id_ + " ran out of memory: the kernel's OOM killer killed " +
                     std::to_string(u.oom_kills) + (u.oom_kills == 1 ? " process" : " processes") +
                     " of the job because it needed more than " + limit,
                 "oom-kill");
    }
}

void Listener::report_finished(JobResult result) {
    grace_timer_.stop();
    metrics_.job_finished(result,
                          static_cast<double>(uv_now(loop_) - job_started_ms_) / 1000.0,
                          runner_ ? runner_->usage() : JobUsage{});
    job_result_ = result;
    switch (result) {
        case JobResult::Passed: jobs_passed_++; break;
        case JobResult::Failed: jobs_failed_++; break;
        case JobResult::Stopped: jobs_stopped_++; break;
    }
    job_dir_.reset();  // the spool has been pushed (or given up on): remove it
    if (shutting_down()) {
        state_ = AgentState::FinishedJob;
        return continue_shutdown();
    }
    set_state(AgentState::FinishedJob);
}

void Listener::clear_job() {
    // Handles of the finished runner and pusher are closed here, outside
    // their own callbacks.
    runner_.reset();
    if (pusher_) push_errors_before_ += pusher_->errors();
    pusher_.reset();
    upload_.reset();
    job_.reset();
    job_id_.clear();
    log_.set_job_id("");
    job_result_.reset();
    state_ = AgentState::WaitingForJobs;
    log_.set_state(agent_state_name(state_));
    update_status();
    arm_idle_timer();
}

void Listener::interrupt() {
    interrupts_++;
    if (interrupts_ == 1) {
        metrics_.interruption("signal");
        interrupted_at_ = time(nullptr);
        log_.info("Interrupted: reporting it to the API");
        if (phase_ == Phase::Registering) return;  // the register retry loop ends on its own
        if (state_ == AgentState::RunningJob || state_ == AgentState::StartingJob) {
            uint64_t wait = static_cast<uint64_t>(cfg_.interruption_grace_period) * 1000 +
                            kInterruptSlackMs;
            grace_timer_.start(wait, [this] {
                log_.warn("The API did not act on the interruption: stopping the job");
                shutdown(ShutdownReason::Interrupted);
            });
        }
        sync_now();
        return;
    }
    log_.info("Interrupted again: stopping now");
    shutdown(ShutdownReason::Interrupted);
}

void Listener::shutdown(ShutdownReason reason) {
    if (shutting_down()) {
        // A second interruption while draining: stop the job at once.
        if (runner_ && runner_->running()) runner_->stop();
        return;
    }
    bool registered = phase_ != Phase::Registering;
    phase_ = Phase::ShuttingDown;
    shutdown_reason_ = reason;
    log_.set_state(kStatusShuttingDown);
    log_.log(LogLevel::Info, std::string("Shutting down: ") + shutdown_reason_name(reason),
             shutdown_reason_name(reason));
    notifier_.stopping();
    update_status();
    sync_timer_.stop();
    idle_timer_.stop();
    grace_timer_.stop();
    if (ec2_) ec2_->stop();
    // Before registration there is no job and nothing to disconnect.
    if (!registered) {
        phase_ = Phase::Disconnecting;
        return run_shutdown_hook();
    }
    if (runner_ && runner_->running()) {
        // The job gets time to stop and flush its log; tell systemd.
        notifier_.extend_timeout(static_cast<uint64_t>(kFlushTimeoutMs + 30000) * 1000);
        runner_->stop();  // job_finished -> report_finished -> continue_shutdown
        return;
    }
    if (runner_ && (state_ == AgentState::RunningJob || state_ == AgentState::StoppingJob)) {
        // The job has ended and its log is still being pushed or uploaded:
        // report_finished continues the shutdown once the API has it all.
        notifier_.extend_timeout(static_cast<uint64_t>(kFlushTimeoutMs + 30000) * 1000);
        return;
    }
    if (state_ == AgentState::StartingJob) {
        // Fetching the job: it never ran.
        retry_timer_.stop();
        job_result_ = JobResult::Stopped;
        state_ = AgentState::FinishedJob;
    }
    continue_shutdown();
}

void Listener::continue_shutdown() {
    // Report a job that ended during shutdown before saying goodbye.
    if (phase_ == Phase::ShuttingDown && state_ == AgentState::FinishedJob) {
        phase_ = Phase::ReportingJob;
        if (!sync_in_flight_) do_sync();
        return;
    }
    disconnect();
}

void Listener::disconnect() {
    if (phase_ >= Phase::Disconnecting) return;  // once: the disconnect and the hook run a single time
    phase_ = Phase::Disconnecting;
    disconnect_attempt(1);
}

void Listener::disconnect_attempt(int attempt) {
    api_->disconnect([this, attempt](Status st) {
        if (!st) {
            log_.warn("Disconnect attempt " + std::to_string(attempt) + " failed: " + st.message());
            auto again = [this](int next) { disconnect_attempt(next); };
            if (timings_.disconnect_retry.retry(retry_timer_, attempt, again)) return;
        } else {
            log_.info("Disconnected");
        }
        run_shutdown_hook();
    });
}

void Listener::run_shutdown_hook() {
    exit_code_ = shutdown_reason_ == ShutdownReason::UnableToSync ? 1 : 0;
    if (cfg_.shutdown_hook_path.empty()) return exit_now();
    hook_ = std::make_unique<HookProcess>(loop_, log_);
    std::string path = cfg_.shutdown_hook_path;
    log_.info("Running the shutdown hook " + path);
    std::vector<std::string> env{std::string("SEMAPHORE_AGENT_SHUTDOWN_REASON=") +
                                 shutdown_reason_name(shutdown_reason_)};
    if (!interruption_source_.empty())
        env.push_back("SEMAPHORE_AGENT_INTERRUPTION_SOURCE=" + interruption_source_);
    auto st = hook_->start({"bash", path}, env,
                           [this](int code) {
                               log_.info("Shutdown hook exited with " + std::to_string(code));
                               exit_now();
                           });
    if (!st) {
        log_.error("Shutdown hook: " + st.message());
        exit_now();
    }
}

void Listener::drain() {
    if (draining_ || shutting_down()) return;
    draining_ = true;
    log_.info("Draining: finishing the current job, then disconnecting");
    update_status();
    // With no job under way there is nothing to finish.
    if (phase_ == Phase::Registering || state_ == AgentState::WaitingForJobs)
        shutdown(ShutdownReason::Requested);
}

void Listener::update_status() {
    std::string s;
    if (shutting_down()) s = std::string("stopping: ") + shutdown_reason_name(shutdown_reason_);
    else if (phase_ == Phase::Registering) s = kStatusRegistering;
    else if (state_ == AgentState::WaitingForJobs) s = "idle";
    else if (state_ == AgentState::FinishedJob) s = "finished job " + job_id_;
    else s = "running job " + job_id_;
    if (draining_ && !shutting_down()) s += " (draining)";
    notifier_.status(s);
}

const char* Listener::status_state() const {
    if (shutting_down()) return kStatusShuttingDown;
    if (phase_ == Phase::Registering) return kStatusRegistering;
    return agent_state_name(state_);
}

JsonPtr Listener::status_json() const {
    namespace k = control::status;  // the answer agentctl reads
    uint64_t now = uv_now(loop_);
    bool has_job = state_ != AgentState::WaitingForJobs && !job_id_.empty();
    JsonPtr o(json_object());
    json_t* j = o.get();
    json_object_set_new(j, control::key::kOk, json_true());
    json_object_set_new(j, k::kName, json_string(name_.c_str()));
    json_object_set_new(j, k::kVersion, json_string(SA_VERSION));
    json_object_set_new(j, k::kState, json_string(status_state()));
    json_object_set_new(j, k::kDraining, json_boolean(draining_));
    json_object_set_new(j, k::kJobId, has_job ? json_string(job_id_.c_str()) : json_null());
    json_object_set_new(j, k::kJobRunningSeconds,
                        has_job ? json_integer(static_cast<json_int_t>((now - job_started_ms_) / 1000)) : json_null());
    json_object_set_new(j, k::kLastSyncAt, last_sync_at_ ? json_integer(last_sync_at_) : json_null());
    json_object_set_new(j, k::kLastError, last_error_.empty() ? json_null() : json_string(last_error_.c_str()));
    json_object_set_new(j, k::kUptimeSeconds, json_integer(static_cast<json_int_t>((now - started_ms_) / 1000)));
    json_object_set_new(j, k::kJobs, json_pack("{s:I, s:I, s:I}", k::kJobsPassed, (json_int_t)jobs_passed_,
                                             k::kJobsFailed, (json_int_t)jobs_failed_, k::kJobsStopped, (json_int_t)jobs_stopped_));
    json_object_set_new(j, k::kEndpoint, json_string(cfg_.endpoint.c_str()));
    json_object_set_new(j, k::kEc2LifecycleWatch, json_string(ec2_ ? ec2_->state_name() : "off"));
    json_object_set_new(j, k::kInterruptionSource,
                        interruption_source_.empty() ? json_null() : json_string(interruption_source_.c_str()));
    if (has_job && runner_) {
        // Live: what the job has used so far (-1: not known on this host).
        JobUsage u = runner_->usage();
        json_object_set_new(j, k::kJobUsage,
                            json_pack("{s:f, s:f, s:I, s:I, s:I}", k::kCpuUserSeconds, u.cpu_user_seconds,
                                      k::kCpuSystemSeconds, u.cpu_system_seconds, k::kMemoryPeakBytes,
                                      (json_int_t)u.memory_peak_bytes, k::kOomKills, (json_int_t)u.oom_kills,
                                      k::kTasksPeak, (json_int_t)u.tasks_peak));
    }
    return o;
}

std::string Listener::metrics_text(MetricsFormat f) const {
    MetricsLive live;
    live.version = SA_VERSION;
    live.name = name_;
    live.state = status_state();
    live.draining = draining_;
    live.uptime_seconds = static_cast<double>(uv_now(loop_) - started_ms_) / 1000.0;
    live.push_errors = push_errors_before_;
    if (pusher_ && runner_ && runner_->spool()) {
        const Spool* sp = runner_->spool();
        live.push_lag_events = std::max(0LL, sp->lines() - pusher_->pushed_events());
        live.push_lag_bytes = std::max(0LL, sp->bytes() - pusher_->pushed_bytes());
        live.push_errors += pusher_->errors();
    }
    return metrics_.render(live, f);
}

Health Listener::health() const {
    HealthInput in;
    in.registered = phase_ != Phase::Registering;
    in.draining = draining_;
    in.shutting_down = shutting_down();
    in.now_ms = uv_now(loop_);
    in.last_sync_ok_ms = last_sync_ok_ms_;
    in.sync_interval_ms = sync_interval_ms_;
    in.sync_failing_since = sync_failing_since_;
    in.give_up_ms = static_cast<uint64_t>(cfg_.unable_to_sync_seconds) * 1000;
    return evaluate_health(in);
}

// An EC2 spot or scale-in notice: like a SIGTERM (the API hears
// interrupted_at and decides), but the agent takes no new job even if
// offered one, and a running job's grace ends before the notice's deadline.
void Listener::ec2_notice(const Ec2Notice& n) {
    if (shutting_down() || !interruption_source_.empty()) return;
    interruption_source_ = interruption_source_name(n.source);
    metrics_.interruption(interruption_source_);
    long long now = time(nullptr);
    if (interrupted_at_ == 0) interrupted_at_ = now;
    if (interrupts_ == 0) interrupts_ = 1;  // a SIGTERM from now on stops the job at once
    idle_timer_.stop();
    if (phase_ == Phase::Registering) {
        // The register loop stops retrying; a success reports the interruption.
        log_.info("EC2 notice before registration: the agent will disconnect as soon as it can");
        return;
    }
    bool busy = state_ == AgentState::RunningJob || state_ == AgentState::StartingJob ||
                state_ == AgentState::StoppingJob;
    if (busy) {
        long long grace = cfg_.interruption_grace_period;
        std::string why = "interruption-grace-period is " + std::to_string(grace) + " s";
        if (n.deadline > 0) {
            long long cap = std::max(0LL, n.deadline - now - kNoticeMarginSeconds);
            if (cap < grace) {
                grace = cap;
                why += ", capped at the notice's deadline minus 15 s";
            }
        }
        time_t stop_at = static_cast<time_t>(now + grace);
        struct tm tm {};
        gmtime_r(&stop_at, &tm);
        char at[16];
        strftime(at, sizeof at, "%H:%M:%S", &tm);
        log_.info("Taking no new job and telling the API; job " + job_id_ + " may run " +
                  std::to_string(grace) + " s more, until " + at + " UTC (" + why +
                  "), then it is stopped and the agent disconnects");
        grace_timer_.start(static_cast<uint64_t>(grace) * 1000, [this] {
            log_.info("The grace period after the EC2 notice is over: stopping job " + job_id_);
            shutdown(ShutdownReason::Interrupted);
        });
    } else {
        log_.info("Taking no new job: telling the API, then disconnecting");
        grace_timer_.start(kIdleNoticeWaitMs, [this] {
            log_.warn("The API did not answer about the EC2 notice: disconnecting");
            shutdown(ShutdownReason::Interrupted);
        });
    }
    update_status();
    sync_now();
}

void Listener::exit_now() {
    if (phase_ == Phase::Exited) return;
    phase_ = Phase::Exited;
    if (ec2_) ec2_->stop();
    sync_timer_.stop();
    retry_timer_.stop();
    idle_timer_.stop();
    grace_timer_.stop();
    uv_stop(loop_);
}

}  // namespace sa
