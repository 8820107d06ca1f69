// `semaphore-agent serve`, the hosted mode (protocol.md section 7): jobs
// arrive by POST over HTTPS with an HS256 JWT, their logs are pulled from the
// spool, and callbacks report the end and the teardown.
#pragma once

#include "common/agent_log.hpp"
#include "daemon/http/http_client.hpp"
#include "daemon/http/http_server.hpp"
#include "daemon/job/job_dir.hpp"
#include "common/job_request.hpp"
#include "daemon/job/job_runner.hpp"
#include "daemon/job/log_upload.hpp"
#include "daemon/metrics/pull_metrics.hpp"
#include "daemon/metrics/statsd.hpp"
#include "daemon/loop/timer.hpp"
#include "daemon/http/tls.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sa {

struct ServeConfig {
    std::string host = "0.0.0.0";
    int port = 8000;
    std::string auth_token_secret;
    std::string tls_cert_path = "server.crt";
    std::string tls_key_path = "server.key";
    std::string statsd_host;
    int statsd_port = 8125;
    std::string statsd_namespace = "agent.prod";
    int callback_retry_attempts = 300;
    std::string pre_job_hook_path;
    std::vector<std::string> files;
    bool expose_kvm_device = true;
};

class Server {
public:
    Server(uv_loop_t* loop, AgentLog& log, ServeConfig cfg, std::string worker_path, SSL_CTX* tls);
    Status start();
    // SIGTERM/SIGINT: stop a running job, then let the loop end.
    void shutdown();
    bool job_running() const { return runner_ && runner_->running(); }

    // When a request's headers are complete: the token is checked here,
    // before any body is read, and only POST /jobs may carry a large body.
    Admission admit(const ServerRequest& head);
    // A complete, admitted request.
    ServerReply handle(const ServerRequest& req);

private:
    ServerReply post_job(const ServerRequest& req);
    ServerReply get_log(const ServerRequest& req, const std::string& id);
    ServerReply stop_job();
    void on_event(std::string_view line);
    void on_job_finished(JobResult result);
    void report_finished(JobResult result);
    void callback(const std::string& url, std::string body, int attempt, std::function<void()> done);
    void callback_answered(const std::string& url, const std::string& body, int attempt,
                           const std::function<void()>& done, const HttpResponse& resp);
    void maybe_teardown();

    uv_loop_t* loop_;
    AgentLog& log_;
    ServeConfig cfg_;
    std::string worker_path_;
    HttpClient http_;
    Statsd statsd_;
    HttpServer server_;
    Timer retry_timer_;

    // The one job of this agent.
    std::optional<JobRequest> job_;
    std::optional<JobDir> job_dir_;
    std::unique_ptr<JobRunner> runner_;
    std::unique_ptr<LogUpload> upload_;
    std::optional<PullMetrics> pull_metrics_;
    JobResult result_ = JobResult::Failed;  // for the finished callback
    uint64_t job_started_ms_ = 0;
    bool archived_ = false, finished_callback_done_ = false, teardown_sent_ = false;
};

}  // namespace sa
