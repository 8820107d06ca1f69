#include "daemon/serve/server.hpp"

#include "common/json.hpp"
#include "daemon/loop/retry.hpp"
#include "daemon/serve/jwt.hpp"
#include "sa_build_config.h"
#include "daemon/job/spool_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace sa {

namespace {

// For the code the loop's C callbacks reach (the job runner's, the HTTP
// client's, timers): an exception is logged here instead of crossing them.
template <class F>
void guarded(AgentLog& log, const char* what, F&& f) noexcept {
    try {
        f();
    } catch (const std::exception& e) {
        try {
            log.error(std::string("serve: ") + what + ": " + e.what());
        } catch (...) {
        }
    } catch (...) {
    }
}

ServerReply json_reply(int status, const std::string& message) {
    std::string body = "{\"message\":";
    json_append_string(body, message);
    body += "}";
    return ServerReply{status, "application/json", body, nullptr, {}};
}

// The bytes [from, to) of the spool, read in blocks as the server asks for
// them. `to` is at most what the file held when the reply started (the
// events counted may be more: a flush that failed on a full disk), and the
// file only grows after that, so the promised length can be sent.
class SpoolRange : public BodySource {
public:
    SpoolRange(SpoolReader reader, long long from, long long to) : reader_(std::move(reader)), at_(from), to_(to) {}
    uint64_t size() const override { return static_cast<uint64_t>(to_ - at_); }
    Status read(std::string& out, size_t max) override {
        size_t want = static_cast<size_t>(std::min<long long>(static_cast<long long>(max), to_ - at_));
        if (auto st = reader_.read_exact(at_, want, out); !st) return st;
        at_ += static_cast<long long>(want);
        return Ok{};
    }

private:
    SpoolReader reader_;
    long long at_, to_;
};

}  // namespace

Server::Server(uv_loop_t* loop, AgentLog& log, ServeConfig cfg, std::string worker_path, SSL_CTX* tls)
    : loop_(loop), log_(log), cfg_(std::move(cfg)), worker_path_(std::move(worker_path)),
      http_(loop, std::string("SemaphoreAgent/") + SA_VERSION),
      statsd_(loop, log, cfg_.statsd_host, cfg_.statsd_port, cfg_.statsd_namespace),
      server_(loop, log, tls, ServerLimits{}, [this](const ServerRequest& h) { return admit(h); },
              [this](const ServerRequest& r) { return handle(r); }),
      retry_timer_(loop) {}

Status Server::start() {
    if (auto st = server_.listen(cfg_.host, cfg_.port); !st) return st;
    log_.info("Serving on https://" + cfg_.host + ":" + std::to_string(cfg_.port));
    return Ok{};
}

Admission Server::admit(const ServerRequest& head) {
    if (head.path == "/is_alive") return {};
    std::string auth = head.header("authorization");
    if (auth.rfind("Bearer ", 0) != 0) return {json_reply(401, "missing Bearer token"), BodyAllowance::Small};
    if (auto st = verify_jwt_hs256(auth.substr(7), cfg_.auth_token_secret, time(nullptr)); !st)
        return {json_reply(401, st.message()), BodyAllowance::Small};
    if (head.path == "/jobs" && head.method == "POST")
        return {std::nullopt, BodyAllowance::Large, Caller::Authenticated};
    return {std::nullopt, BodyAllowance::Small, Caller::Authenticated};
}

ServerReply Server::handle(const ServerRequest& req) {
    if (req.path == "/is_alive") return ServerReply{200, "text/plain", "yes", nullptr, {}};

    if (req.path == "/status" && req.method == "GET") {
        std::string body = std::string("{\"state\":\"") + (job_ ? "job-received" : "waiting-for-job") +
                           "\",\"version\":\"" + SA_VERSION + "\"}";
        return ServerReply{200, "application/json", body, nullptr, {}};
    }
    if (req.path == "/jobs" && req.method == "POST") return post_job(req);
    if ((req.path == "/stop" || req.path == "/jobs/terminate") && req.method == "POST") return stop_job();
    if (req.path == "/agent_logs" && req.method == "GET")
        return ServerReply{200, "text/plain", log_.recent(), nullptr, {}};
    constexpr std::string_view jobs = "/jobs/", log_suffix = "/log";
    std::string_view p = req.path;
    if (req.method == "GET" && p.rfind(jobs, 0) == 0 && p.size() > jobs.size() + log_suffix.size() &&
        p.substr(p.size() - log_suffix.size()) == log_suffix) {
        std::string id(p.substr(jobs.size(), p.size() - jobs.size() - log_suffix.size()));
        ServerReply r = get_log(req, id);
        // The archivator has the log once the whole body was sent, not when
        // its head is: a streamed body is read after this returns.
        if (r.status == 200 && req.header("x-client-name") == "archivator") {
            r.on_complete = [this] {
                guarded(log_, "the archivator's log fetch", [&] {
                    if (!archived_) log_.info("The archivator fetched the job log");
                    archived_ = true;
                    maybe_teardown();
                });
            };
        }
        return r;
    }
    return json_reply(404, "no route " + req.method + " " + req.path);
}

ServerReply Server::post_job(const ServerRequest& req) {
    auto job = parse_job_request_json(req.body);
    if (!job) return json_reply(422, "job request: " + job.message());
    if (job_) {
        if (job->job_id == job_->job_id) return json_reply(200, "ok");  // a retry: nothing new
        return json_reply(422, "a job (" + job_->job_id + ") is already here");
    }
    auto dir = JobDir::create(default_job_base());
    if (!dir) return json_reply(500, dir.message());
    job_ = std::move(job.value());
    job_dir_.emplace(std::move(dir.value()));
    pull_metrics_.emplace(*job_);

    RunOptions options;
    // Hosted mode: the pre-job hook is always sourced and always fatal.
    options.pre_job_hook_path = cfg_.pre_job_hook_path;
    options.source_pre_job_hook = true;
    options.fail_on_pre_job_hook_error = true;
    options.hosted = true;
    options.host_files = cfg_.files;
    // Hosted machines expose KVM to every container (Android emulators).
    options.expose_kvm = ::access("/dev/kvm", F_OK) == 0;
    options.job_dir = job_dir_->path();
    runner_ = std::make_unique<JobRunner>(loop_, log_);
    WorkerRequest wr{worker_path_, WorkerJob{*job_, std::move(options)}, {}, {}, {}};
    auto st = runner_->start(
        std::move(wr), [this](std::string_view line) { on_event(line); },
        [this](JobResult result) { on_job_finished(result); });
    if (!st) {
        log_.error("Job " + job_->job_id + ": " + st.message());
        return json_reply(500, st.message());
    }
    job_started_ms_ = uv_now(loop_);
    statsd_.count("jobs.started");
    log_.info("Job " + job_->job_id + " received and started");
    return json_reply(200, "ok");
}

// Called from the job runner's libuv callback: nothing may be thrown out.
void Server::on_event(std::string_view line) {
    // A metric that cannot be built or sent is dropped; the line is counted.
    guarded(log_, "a job metric is dropped", [&] {
        for (const auto& m : pull_metrics_->on_event(line, uv_hrtime() / 1000000)) statsd_.send(m);
    });
}

ServerReply Server::get_log(const ServerRequest& req, const std::string& id) {
    if (!job_) return json_reply(404, "no job has been received");
    if (id != job_->job_id) return json_reply(403, "job " + id + " is not this agent's job");
    std::string from = req.query_param("start_from");
    char* end = nullptr;
    errno = 0;
    long long n = from.empty() ? 0 : std::strtoll(from.c_str(), &end, 10);
    if ((end && *end) || n < 0 || errno == ERANGE)
        return json_reply(400, "start_from: '" + from + "' is not a line number");
    const Spool* spool = runner_ ? runner_->spool() : nullptr;
    if (!spool || n >= spool->lines()) return ServerReply{200, "text/plain", "", nullptr, {}};
    auto reader = SpoolReader::open(spool->path(), "spool: ");  // the client is not told the job's directory
    if (!reader) return json_reply(500, reader.message());
    // The events counted were queued; after a failed flush (disk full) the
    // file holds fewer bytes. The reply covers what the file holds.
    auto size = reader->size();
    if (!size) return json_reply(500, size.message());
    const long long file_end = std::min(spool->bytes(), *size);
    auto start = reader->offset_of_line(spool->index(), n, file_end);
    if (!start) return json_reply(500, start.message());
    ServerReply r{200, "text/plain", "", nullptr, {}};
    r.stream = std::make_unique<SpoolRange>(std::move(reader.value()), *start, file_end);
    return r;
}

ServerReply Server::stop_job() {
    if (!runner_ || !runner_->running()) return json_reply(200, "no job is running");
    log_.info("Stop requested");
    runner_->stop();
    return json_reply(200, "ok");
}

void Server::on_job_finished(JobResult result) {
    guarded(log_, "reporting the job's end", [&] { report_finished(result); });
}

void Server::report_finished(JobResult result) {
    result_ = result;
    const std::string name = job_result_name(result);
    log_.info("Job " + job_->job_id + " finished: " + name);
    statsd_.count("jobs.finished." + name);
    statsd_.timing("jobs.duration", static_cast<long long>(uv_now(loop_) - job_started_ms_));
    auto after_upload = [this] {
        const std::string& url = job_->callbacks.finished;
        if (url.empty()) {
            finished_callback_done_ = true;
            return maybe_teardown();
        }
        callback(url, std::string("{\"result\":\"") + job_result_name(result_) + "\"}", 1, [this] {
            finished_callback_done_ = true;
            maybe_teardown();
        });
    };
    // SEMAPHORE_AGENT_UPLOAD_JOB_LOGS comes from the job itself in hosted mode.
    std::string policy = "never";
    for (const auto& e : job_->env_vars)
        if (e.name == "SEMAPHORE_AGENT_UPLOAD_JOB_LOGS") policy = e.value;
    const Spool* spool = runner_->spool();
    // A job without a limit gets the original's default one, so
    // when-trimmed still means something for it.
    long long limit = job_->logger.max_size_in_bytes > 0 ? job_->logger.max_size_in_bytes : kDefaultMaxLogBytes;
    if (spool && should_upload_logs(policy, false, spool->bytes(), limit)) {
        upload_ = std::make_unique<LogUpload>(loop_, log_);
        upload_->start(spool->path(), job_dir_->path(), *job_, 100LL << 20, after_upload);
    } else {
        after_upload();
    }
}

// Teardown waits for the archivator to have the log.
void Server::maybe_teardown() {
    if (!finished_callback_done_ || !archived_ || teardown_sent_ || !job_) return;
    teardown_sent_ = true;
    const std::string& url = job_->callbacks.teardown_finished;
    if (url.empty()) return;
    callback(url, "{}", 1, [this] { log_.info("Teardown reported"); });
}

void Server::callback(const std::string& url, std::string body, int attempt, std::function<void()> done) {
    HttpRequest r;
    r.method = "POST";
    r.url = url;
    r.headers = {"Content-Type: application/json"};
    if (!job_->callbacks.token.empty()) r.headers.push_back("Authorization: Bearer " + job_->callbacks.token);
    r.body = body;
    http_.send(std::move(r), [this, url, body, attempt, done](HttpResponse resp) {
        guarded(log_, "a callback's answer", [&] { callback_answered(url, body, attempt, done, resp); });
    });
}

void Server::callback_answered(const std::string& url, const std::string& body, int attempt,
                               const std::function<void()>& done, const HttpResponse& resp) {
    if (resp.ok()) return done();
    log_.warn("Callback " + url + " failed (" + resp.describe() + "), attempt " + std::to_string(attempt));
    RetryPolicy policy{cfg_.callback_retry_attempts, 1000};
    if (!policy.retry(retry_timer_, attempt, [this, url, body, done](int next) {
            guarded(log_, "retrying a callback", [&] { callback(url, body, next, done); });
        })) {
        log_.error("Giving up on callback " + url);
        done();
    }
}

void Server::shutdown() {
    if (runner_ && runner_->running()) runner_->stop();
}

}  // namespace sa
