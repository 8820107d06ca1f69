#include "daemon/job/job_runner.hpp"

#include "common/event.hpp"
#include "common/job_env.hpp"
#include "common/job_result.hpp"
#include "common/json.hpp"
#include "common/proc_scan.hpp"
#include "common/random.hpp"
#include "common/unique_fd.hpp"
#include "sa_build_config.h"
#include "common/utf8.hpp"

#include <jansson.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace sa {

namespace {

bool executable(const std::string& p) { return ::access(p.c_str(), X_OK) == 0; }

// A message for a cmd_output event, which must be UTF-8 (strictly: no
// overlong forms, surrogates or code points above U+10FFFF): paths in it may
// not be, so other bytes become '?'.
std::string utf8_safe(std::string_view s) { return utf8_replace_invalid(s, "?"); }

// Sent when the worker died: kills what the job left behind, off the loop
// (it waits for a grace period).
struct ReapWork {
    uv_work_t req;
    std::string marker_entry;
};

}  // namespace

std::string find_worker_path() {
    if (const char* p = std::getenv("SEMAPHORE_AGENT_WORKER_PATH"); p && *p) return p;
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        std::string dir(self);
        dir.resize(dir.rfind('/'));
        for (const std::string& c : {dir + "/semaphore-agent-worker",
                                     dir + "/../worker/semaphore-agent-worker"})
            if (executable(c)) return c;
    }
    return std::string(SA_LIBEXECDIR) + "/semaphore-agent-worker";
}

JobRunner::JobRunner(uv_loop_t* loop, AgentLog& log)
    : loop_(loop), log_(log), link_(loop), stop_timer_(loop), sample_timer_(loop) {}

JobRunner::~JobRunner() {
    if (running() && !exited_) uv_process_kill(proc_.get(), SIGKILL);
}

Status JobRunner::start(WorkerRequest req, EventFn on_event, FinishedFn on_finished) {
    on_event_ = std::move(on_event);
    on_finished_ = std::move(on_finished);
    // Without a spool nothing could tell the job's story: fall back to one in
    // memory, so even a full disk or a missing job directory reaches the log.
    const std::string& job_dir = req.job.options.job_dir;
    auto spool = job_dir.empty() ? Result<Spool>(err("no job directory"))
                                 : Spool::create(job_dir + "/events.jsonl");
    std::string problem = req.cannot_run;
    if (!spool) {
        auto mem = Spool::create_in_memory();
        if (!mem) return err(spool.message() + "; " + mem.message());
        if (problem.empty()) problem = "the job's log cannot be written: " + spool.message();
        spool = std::move(mem);
    }
    spool_.emplace(std::move(spool.value()));
    if (problem.empty())
        if (auto st = launch(req); !st) problem = st.message();
    if (!problem.empty()) cannot_run(problem);
    return Ok{};
}

// The job never starts: its log still gets a step that says why, so the
// operator sees the cause in Semaphore's UI, not only in the agent's log.
// on_finished comes from the loop, as it would for a job that ran.
void JobRunner::cannot_run(const std::string& why) {
    log_.error("The job cannot run: " + why);
    started_ = exited_ = eof_ = true;
    long long now = unix_now();
    static constexpr std::string_view kStep = "Setting up the job";
    record(event_job_started(now));
    record(event_cmd_started(now, kStep));
    record(event_cmd_output(now, utf8_safe("This agent cannot run the job: " + why + "\n")));
    record(event_cmd_output(now, "None of the job's commands ran. The agent's log has the same "
                                 "message; its administrator can fix the cause.\n"));
    record(event_cmd_finished(now, kStep, 1, now, now));
    record(event_job_finished(now, job_result_name(JobResult::Failed)));
    result_ = JobResult::Failed;
    // An async wake-up, not a 0 ms timer: it arrives through the loop's
    // poll, so a caller running the loop with UV_RUN_ONCE (run) gets control
    // back once the job is over instead of blocking in the poll.
    uv_async_init(loop_, defer_.get(), [](uv_async_t* a) {
        auto* self = static_cast<JobRunner*>(a->data);
        if (!self) return;
        self->defer_.reset();  // once: closed here, so it keeps no loop alive
        if (!self->spool_failed_)
            if (auto st = self->spool_->flush(); !st) self->fail_spool(st.message());
        if (self->on_batch_end_) self->on_batch_end_();
        self->maybe_finish();
    });
    defer_.initialized(this);
    uv_async_send(defer_.get());
}

const std::string& JobRunner::cgroup_problem() const {
    static const std::string none;
    return sandbox_ ? sandbox_->problem() : none;
}

Status JobRunner::launch(WorkerRequest& req) {
    marker_ = random_hex(16);
    auto sandbox = JobSandbox::create(req.sandbox, "semaphore-job-" + marker_.substr(0, 12));
    if (!sandbox) return sandbox.error();
    sandbox_.emplace(std::move(sandbox.value()));

    RunOptions& options = req.job.options;
    options.marker = marker_;
    sandbox_->fill(options);
    // Encoded once, here. The parser keeps jobs within the frame; the agent's
    // options (env-vars, files) come on top and are checked here, before
    // anything starts.
    std::string job_frame = worker_protocol::encode(req.job);
    if (job_frame.size() > frame_max_payload(FrameType::Job))
        return err("the job with the agent's options is " + std::to_string(job_frame.size()) +
                   " bytes, more than a worker takes (" + std::to_string(frame_max_payload(FrameType::Job)) + ")");

    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return err(std::string("socketpair: ") + std::strerror(errno));
    UniqueFd ours(sv[0]), theirs(sv[1]);

    uv_stdio_container_t stdio[4];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;  // the worker never writes job output here,
    stdio[1].data.fd = 2;            // only diagnostics: send them to stderr
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    stdio[3].flags = UV_INHERIT_FD;
    stdio[3].data.fd = theirs.get();
    // The worker starts from a built environment, not the agent's: what the
    // job may have, never a setting or the token.
    std::vector<std::string> env = sandbox_->worker_environment(req.secrets);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string path = req.worker_path;
    char* args[] = {path.data(), nullptr};
    uv_process_options_t po{};
    po.file = path.c_str();
    po.args = args;
    po.env = envp.data();
    po.exit_cb = on_exit;
    po.stdio = stdio;
    po.stdio_count = 4;
    // Its own session: a Ctrl-C meant for `run` must reach the supervisor
    // only, which then stops the job in order.
    po.flags = UV_PROCESS_DETACHED;
    int rc = uv_spawn(loop_, proc_.get(), &po);
    theirs.reset();
    if (rc != 0) {
        proc_.initialized(nullptr);  // a failed uv_spawn still needs uv_close
        return err("cannot start the worker " + path + ": " + uv_strerror(rc));
    }
    proc_.initialized(this);
    worker_pid_ = proc_.get()->pid;
    started_ = true;
    if (sandbox_->has_cgroup()) {
        meter_.emplace(sandbox_->cgroup_dirs());
        sample_every_second();
    }

    // The worker runs: from here on, a broken link shows as the worker's end.
    auto opened = link_.open(
        std::move(ours), [this] { handle_frames(); }, [this] { on_link_closed(); });
    if (!opened) {
        log_.error(opened.message() + ": stopping the worker");
        uv_process_kill(proc_.get(), SIGKILL);
        eof_ = true;
        return Ok{};
    }
    link_.send(FrameType::Job, job_frame);
    return Ok{};
}

// Timer is one-shot: each run starts the next, as a repeating libuv timer
// would (both count from the loop's time when the timer fires).
void JobRunner::sample_every_second() {
    sample_timer_.start(1000, [this] {
        if (!meter_) return;
        meter_->sample();
        sample_every_second();
    });
}

JobUsage JobRunner::usage() const {
    return meter_ ? meter_->read() : final_usage_;
}

void JobRunner::stop() {
    if (!running() || stop_requested_) return;
    log_.info("Stopping the job");
    request_stop();
}

// Every stop, the API's or a failed spool's, gets the kill timer: a worker
// that does not end the job in time is killed.
void JobRunner::request_stop() {
    stop_requested_ = true;
    link_.send(FrameType::Stop, "");
    stop_timer_.start(kStopTimeoutMs, [this] {
        if (exited_) return;
        log_.warn("The worker did not stop the job in time: killing it");
        uv_process_kill(proc_.get(), SIGKILL);
    });
}

void JobRunner::on_exit(uv_process_t* p, int64_t status, int term_signal) {
    auto* self = static_cast<JobRunner*>(p->data);
    if (!self) return;
    self->exited_ = true;
    self->exit_status_ = status;
    self->term_signal_ = term_signal;
    self->maybe_finish();
}

void JobRunner::on_link_closed() {
    eof_ = true;
    maybe_finish();
}

void JobRunner::record(std::string_view line) {
    std::string_view kind = event_kind(line);
    if (kind == "cmd_started") {
        cmd_open_ = true;
        // The command's processes exist now: a job shorter than the 1 s
        // sampling still gets a task count on kernels without pids.peak.
        if (meter_) meter_->sample();
        // The directive is needed only if the worker dies mid-command.
        json_error_t e;
        JsonPtr j(json_loadb(line.data(), line.size(), 0, &e));
        const char* d = j ? json_string_value(json_object_get(j.get(), "directive")) : nullptr;
        open_directive_ = d ? d : "";
        open_started_at_ = j ? json_integer_value(json_object_get(j.get(), "timestamp")) : unix_now();
    } else if (kind == "cmd_finished") {
        cmd_open_ = false;
    } else if (kind == "job_finished") {
        saw_job_finished_ = true;
    }
    if (spool_failed_) return;  // the log is already incomplete; the job is stopping
    if (auto st = spool_->append(line); !st) return fail_spool(st.message());
    if (on_event_) on_event_(line);
}

// A spool that cannot be written (disk full) would lose log lines silently:
// stop the job and fail it instead.
void JobRunner::fail_spool(const std::string& why) {
    if (spool_failed_) return;
    spool_failed_ = true;
    log_.error("The job's log cannot be written (" + why + "): stopping the job, it fails");
    if (!finished_ && !stop_requested_) request_stop();
}

void JobRunner::handle_frames() {
    while (auto f = link_.next()) {  // a view: record() copies into the spool
        switch (f->type) {
        case FrameType::Event: record(f->payload); break;
        case FrameType::Done:
            // Anything but the three names is a broken worker: its job failed.
            result_ = spool_failed_ ? JobResult::Failed
                                    : parse_job_result(f->payload).value_or(JobResult::Failed);
            break;
        case FrameType::Log: log_.warn(f->payload); break;
        default: log_.warn("unexpected frame from the worker"); break;
        }
    }
    if (!spool_failed_)
        if (auto st = spool_->flush(); !st) fail_spool(st.message());
    if (on_batch_end_) on_batch_end_();
    if (link_.failed() && killed_because_.empty()) {
        // Only a frame no worker builds gets here (frame.hpp derives the
        // limits from what the parser lets a job carry): a broken or
        // hostile worker. The job log says why it ended.
        killed_because_ = "The agent stopped the job's worker: it sent a frame no worker builds (" +
                          link_.error() + ").\n";
        log_.error("bad frame from the worker: " + link_.error() + "; killing it");
        link_.stop_reading();
        eof_ = true;
        if (!exited_) uv_process_kill(proc_.get(), SIGKILL);
    }
}

void JobRunner::synthesize_end() {
    std::string how = term_signal_
                          ? "was killed by signal " + std::to_string(term_signal_) + " (" +
                                strsignal(term_signal_) + ")"
                          : "exited with status " + std::to_string(exit_status_);
    long long now = unix_now();
    if (!killed_because_.empty()) record(event_cmd_output(now, killed_because_));
    record(event_cmd_output(now, "The job's worker process " + how +
                                     " before the job finished.\n"));
    if (cmd_open_) record(event_cmd_finished(now, open_directive_, 1, open_started_at_, now));
    result_ = stop_requested_ ? JobResult::Stopped : JobResult::Failed;
    record(event_job_finished(now, job_result_name(*result_)));
    log_.error("worker " + how);
    // What the job left behind still carries the marker: kill it off the loop.
    // The request owns itself from the queue on: the after-work callback
    // frees it.
    auto w = std::make_unique<ReapWork>();
    w->marker_entry = "SEMAPHORE_JOB_PROCESS_MARKER=" + marker_;
    w->req.data = w.get();
    int rc = uv_queue_work(
        loop_, &w->req,
        [](uv_work_t* r) {
            auto* w = static_cast<ReapWork*>(r->data);
            kill_job_processes(-1, w->marker_entry, 2000, nullptr, nullptr);
        },
        [](uv_work_t* r, int) { delete static_cast<ReapWork*>(r->data); });
    if (rc == 0) w.release();
}

void JobRunner::maybe_finish() {
    if (finished_ || !exited_ || !eof_) return;
    finished_ = true;
    stop_timer_.stop();
    if (!saw_job_finished_) {
        synthesize_end();
        if (!spool_failed_)
            if (auto st = spool_->flush(); !st) fail_spool(st.message());
        if (on_batch_end_) on_batch_end_();
    }
    if (!result_ || spool_failed_) result_ = JobResult::Failed;
    sample_timer_.stop();
    if (meter_) {
        // Read before the groups go: the counters go with them.
        meter_->sample();
        final_usage_ = meter_->read();
        meter_.reset();
    }
    if (sandbox_)
        if (auto st = sandbox_->remove_cgroup(); !st) log_.warn(st.message());
    link_.close();
    if (on_finished_) on_finished_(*result_);
}

}  // namespace sa
