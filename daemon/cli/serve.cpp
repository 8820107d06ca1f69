#include "daemon/cli/serve.hpp"

#include "common/agent_log.hpp"
#include "daemon/cli/args.hpp"
#include "daemon/cli/signals.hpp"
#include "daemon/job/job_runner.hpp"
#include "daemon/serve/server.hpp"
#include "daemon/loop/timer.hpp"

#include <curl/curl.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>

namespace sa {

const char* const kServeHelp =
    "Usage: semaphore-agent serve [OPTIONS]\n"
    "\n"
    "Hosted mode: an HTTPS server that takes one job by POST and serves its log.\n"
    "Every route but /is_alive needs `Authorization: Bearer JWT`, an HS256 token\n"
    "signed with --auth-token-secret.\n"
    "\n"
    "  --host ADDR                      listen address (default 0.0.0.0)\n"
    "  --port N                         listen port (default 8000)\n"
    "  --auth-token-secret S            JWT secret (required)\n"
    "  --tls-cert-path PATH             certificate chain (default server.crt)\n"
    "  --tls-key-path PATH              private key (default server.key)\n"
    "  --statsd-host H, --statsd-port N, --statsd-namespace NS (default agent.prod)\n"
    "  --callback-retry-attempts N      tries per callback, 1 s apart (default 300)\n"
    "  --pre-job-hook-path PATH         sourced before the job; its failure fails the job\n"
    "  --files HOSTPATH:DEST,...        files for docker compose jobs\n"
    "  --expose-kvm-device true|false   (default true)\n"
    "\n"
    "Routes: GET /is_alive, GET /status, POST /jobs, GET /jobs/ID/log?start_from=N,\n"
    "POST /stop, POST /jobs/terminate, GET /agent_logs.\n"
    "Limits: 64 KiB of request headers, 64 MiB of body (jobs carry their files),\n"
    "4096 connections, 15 s for the TLS handshake and headers, 120 s per request,\n"
    "120 s idle keep-alive.\n";

namespace {

Result<ServeConfig> parse(const std::vector<std::string>& args) {
    ServeConfig c;
    ArgReader reader(args);
    while (reader.next()) {
        const std::string& a = reader.name();
        auto value = reader.value();  // every option of serve takes one
        if (!value) return value.error();
        const std::string& v = *value;
        auto to_int = [&](int& out) -> Status {
            char* end = nullptr;
            long x = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || x < 0 || x > 65535 * 100) return err(a.substr(2) + ": '" + v + "' is not a number");
            out = static_cast<int>(x);
            return Ok{};
        };
        Status st = Ok{};
        if (a == "--host") c.host = v;
        else if (a == "--port") st = to_int(c.port);
        else if (a == "--auth-token-secret") c.auth_token_secret = v;
        else if (a == "--tls-cert-path") c.tls_cert_path = v;
        else if (a == "--tls-key-path") c.tls_key_path = v;
        else if (a == "--statsd-host") c.statsd_host = v;
        else if (a == "--statsd-port") st = to_int(c.statsd_port);
        else if (a == "--statsd-namespace") c.statsd_namespace = v;
        else if (a == "--callback-retry-attempts") st = to_int(c.callback_retry_attempts);
        else if (a == "--pre-job-hook-path") c.pre_job_hook_path = v;
        else if (a == "--files") c.files.push_back(v);
        else if (a == "--expose-kvm-device") c.expose_kvm_device = v != "false";
        else return err("Unrecognized option '" + a.substr(a.find_first_not_of('-')) + "'. Exiting...");
        if (!st) return st.error();
    }
    if (c.auth_token_secret.empty()) return err("auth-token-secret: required (--auth-token-secret)");
    if (c.port < 1 || c.port > 65535) return err("port: " + std::to_string(c.port) + " is not a TCP port");
    if (c.callback_retry_attempts < 1) return err("callback-retry-attempts: must be at least 1");
    return c;
}

}  // namespace

int serve_command(const std::vector<std::string>& args) {
    if (wants_help(args)) {
        std::fputs(kServeHelp, stdout);
        return 0;
    }
    auto cfg = parse(args);
    if (!cfg) {
        std::fprintf(stderr, "semaphore-agent serve: %s\n", cfg.message().c_str());
        return 2;
    }
    auto tls = TlsContext::server(cfg->tls_cert_path, cfg->tls_key_path);
    if (!tls) {
        std::fprintf(stderr, "semaphore-agent serve: %s\n", tls.message().c_str());
        return 2;
    }
    // Room for the connection cap: the usual soft limit of 1024 descriptors
    // is below it.
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    AgentLog log;
    log.keep_recent(256 * 1024);
    if (const char* p = std::getenv("SEMAPHORE_AGENT_LOG_FILE_PATH"); p && *p) {
        if (!log.open_file(p)) log.warn(std::string("Cannot open the log file ") + p + ": logging to stderr only");
    } else if (auto st = log.open_private_file(default_log_file_path()); !st) {
        log.warn("Cannot open the default log file " + st.message() + ": logging to stderr only");
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ignore_sigpipe();
    uv_loop_t loop;
    uv_loop_init(&loop);
    int code = 0;
    {
        Server server(&loop, log, *cfg, find_worker_path(), tls->get());
        if (auto st = server.start(); !st) {
            std::fprintf(stderr, "semaphore-agent serve: %s\n", st.message().c_str());
            code = 2;
        } else {
            // SIGTERM/SIGINT: stop the job, leave once it is over (at the
            // latest when the runner's kill timer has had its chance).
            // Checked every 10 ms rather than only at the deadline: a job
            // that ends at once (or had already sent job_finished, its
            // worker still exiting) must not keep the agent up for 31 s,
            // past a service manager's stop timeout, whose SIGKILL would
            // leave the job's directory behind.
            SignalSet signals(&loop);
            Timer leave(&loop);
            uint64_t deadline = 0;
            std::function<void()> leave_when_done = [&] {
                if (!server.job_running() || uv_now(&loop) >= deadline) return uv_stop(&loop);
                leave.start(10, leave_when_done);
            };
            for (int s : {SIGINT, SIGTERM})
                signals.on(s, [&](int) {
                    if (!server.job_running()) return uv_stop(&loop);
                    server.shutdown();
                    if (deadline == 0) deadline = uv_now(&loop) + JobRunner::kStopTimeoutMs + 1000;
                    leave_when_done();
                });
            uv_run(&loop, UV_RUN_DEFAULT);
        }
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    curl_global_cleanup();
    return code;
}

}  // namespace sa
