#include "daemon/cli/start.hpp"

#include "common/agent_log.hpp"
#include "common/base64.hpp"
#include "common/cgroup.hpp"
#include "common/config.hpp"
#include "common/control_protocol.hpp"
#include "daemon/job/job_sandbox.hpp"
#include "common/random.hpp"
#include "daemon/cli/args.hpp"
#include "daemon/cli/signals.hpp"
#include "daemon/job/job_runner.hpp"
#include "daemon/loop/notifier.hpp"
#include "daemon/metrics/metrics_listener.hpp"
#include "daemon/selfhosted/control_commands.hpp"
#include "daemon/selfhosted/control_socket.hpp"
#include "daemon/selfhosted/listener.hpp"

#include <curl/curl.h>
#include <pwd.h>
#include <unistd.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>

namespace sa {

const char* const kStartHelp =
    "Usage: semaphore-agent start [OPTIONS]\n"
    "\n"
    "Registers with a Semaphore organization and runs the jobs it hands out.\n"
    "Every option is also a SEMAPHORE_AGENT_<KEY> variable and a key of the\n"
    "--config-file YAML; flags win over variables, which win over the file.\n"
    "\n"
    "  --config-file PATH                   YAML file with any of the keys below\n"
    "  --endpoint HOST[:PORT]               the organization's host (required)\n"
    "  --token TOKEN                        the registration token (required)\n"
    "  --no-https                           talk plain HTTP to the endpoint\n"
    "  --name NAME                          agent name, 8-80 characters (default: random)\n"
    "  --name-from-env VAR                  take the name from this variable (deprecated)\n"
    "  --disconnect-after-job               run one job, then disconnect\n"
    "  --job-id ID                          the one job to run (with --disconnect-after-job)\n"
    "  --disconnect-after-idle-timeout S    disconnect after S seconds without a job\n"
    "  --interruption-grace-period S        let a job run S seconds after SIGTERM\n"
    "  --shutdown-hook-path PATH            run `bash PATH` on the way out\n"
    "  --pre-job-hook-path PATH             run PATH before every job's commands\n"
    "  --post-job-hook-path PATH            run PATH after every job\n"
    "  --source-pre-job-hook                source the pre-job hook instead of `bash` it\n"
    "  --fail-on-pre-job-hook-error         fail the job when the pre-job hook fails\n"
    "  --env-vars NAME=VALUE,...            variables injected into every job\n"
    "  --files HOSTPATH:DEST,...            files for docker compose jobs\n"
    "  --fail-on-missing-files              fail compose jobs whose --files are missing\n"
    "  --upload-job-logs never|always|when-trimmed\n"
    "  --control-socket PATH                UNIX socket for agentctl (default under systemd:\n"
    "                                       $RUNTIME_DIRECTORY/agent.sock)\n"
    "  --job-user USER, --job-memory-max SIZE, --job-pids-max N, --job-cpu-max CPUS,\n"
    "  --job-cgroup-parent DIR, --job-isolation default|strict   job sandbox (README)\n"
    "  --metrics-listen HOST:PORT           serve GET /healthz and /metrics (Prometheus) there\n"
    "  --log-format text|json               agent log lines as text (default) or JSON objects\n"
    "  --ec2-lifecycle-watch true|false|auto  act on EC2 spot and scale-in notices (default\n"
    "                                       auto: on where EC2's metadata service answers)\n"
    "\n"
    "Environment only: SEMAPHORE_AGENT_LOG_LEVEL, SEMAPHORE_AGENT_LOG_FILE_PATH,\n"
    "SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE (without a log file path, the log\n"
    "also goes to $TMPDIR/agent_log). Proxies: HTTPS_PROXY, HTTP_PROXY, NO_PROXY.\n"
    "CA bundle: SSL_CERT_FILE. EC2 metadata: AWS_EC2_METADATA_DISABLED,\n"
    "AWS_EC2_METADATA_SERVICE_ENDPOINT.\n";

namespace {

// A configuration `start` cannot use: the message naming the key is the
// last thing it prints, then it exits 78 (EX_CONFIG), which the unit's
// RestartPreventExitStatus= turns into a `failed` service instead of a
// restart loop. Under journald the line carries the error priority.
int config_error(const std::string& message) {
    const char* js = std::getenv("JOURNAL_STREAM");
    std::fprintf(stderr, "%s%s\n", js && *js ? "<3>" : "", message.c_str());
    return 78;
}

// The job confinement of `start`, from its validated configuration;
// refuses what cannot work on this host (a job user without root, or
// unknown). With limits and no cgroup parent, the agent moves itself into a
// leaf cgroup (cgroup.hpp, move_self_to_leaf) so that jobs can go beside it.
Result<SandboxSettings> sandbox_settings(const Config& c) {
    SandboxSettings s;
    s.cgroup_parent = c.job_cgroup_parent;
    s.job_user = c.job_user;
    s.isolation = c.job_isolation;
    if (!c.job_user.empty() && geteuid() != 0)
        return err("job-user: the agent must run as root to run jobs as '" + c.job_user + "'");
    if (!c.job_user.empty() && !getpwnam(c.job_user.c_str()))
        return err("job-user: no user '" + c.job_user + "' in the password database");
    s.limits = job_limits(c);
    if (s.limits.any() && s.cgroup_parent.empty()) {
        auto parent = move_self_to_leaf();
        if (!parent) return err("job limits: " + parent.message());
        s.cgroup_parent = *parent;
    }
    return s;
}

}  // namespace

int start_command(const std::vector<std::string>& args) {
    if (wants_help(args)) {
        std::fputs(kStartHelp, stdout);
        return 0;
    }
    auto cfg = load_config(args, process_env());
    if (!cfg) return config_error(cfg.message());
    if (auto st = validate_config(*cfg); !st) return config_error(st.message());
    Config c = std::move(cfg.value());
    auto sandbox = sandbox_settings(c);
    if (!sandbox) return config_error(sandbox.message());
    if (c.name.empty()) c.name = base64url_encode(random_bytes(15));  // 20 characters

    AgentLog log;
    log.set_name(masked_name(c.name));
    // Under journald, lines carry a <N> priority prefix instead of a timestamp.
    if (const char* js = std::getenv("JOURNAL_STREAM"); js && *js) log.set_journal(true);
    LogLevel level;
    if (parse_log_level(c.log_level, level)) log.set_level(level);
    if (c.log_format == "json") log.set_format(LogFormat::Json);
    if (!c.log_file_path.empty()) {
        if (!log.open_file(c.log_file_path))
            log.warn("Cannot open the log file " + c.log_file_path + ": logging to stderr only");
    } else if (auto st = log.open_private_file(default_log_file_path()); !st) {
        log.warn("Cannot open the default log file " + st.message() + ": logging to stderr only");
    }

    // Once, at start-up: limits this host will not apply fail every job
    // (each job's log says why); the operator should hear it now.
    if (sandbox->limits.any())
        if (auto st = probe_limits(sandbox->cgroup_parent, "semaphore-probe-" + random_hex(6),
                                   sandbox->limits);
            !st)
            log.warn(limit_keys(sandbox->limits) + " cannot be applied on this host (" + st.message() +
                     "): every job will fail, with this reason in its log, until the limits are "
                     "removed or the agent may create them (README, \"Job isolation\")");

    curl_global_init(CURL_GLOBAL_DEFAULT);
    ignore_sigpipe();
    uv_loop_t loop;
    uv_loop_init(&loop);
    int code;
    {
        Notifier notifier(&loop);
        Listener listener(&loop, log, c, find_worker_path(), *sandbox, notifier);
        SignalSet signals(&loop);
        for (int s : {SIGINT, SIGTERM}) signals.on(s, [&listener](int) { listener.interrupt(); });
        signals.on(SIGQUIT, [&listener](int) { listener.drain(); });  // like `agentctl drain`

        std::string control_path = c.control_socket;
        if (control_path.empty())
            if (const char* rd = std::getenv(control::kRuntimeDirEnv); rd && *rd)
                control_path = std::string(rd) + "/" + control::kSocketName;
        ControlServer control(&loop, log,
                              [&listener](const json_t* req) { return answer_control_command(listener, req); });
        if (!control_path.empty()) {
            if (auto st = control.listen(control_path); !st) log.error(st.message());
            else log.info("Control socket: " + control_path);
        }
        // GET /healthz and /metrics: a fleet that asked for them must not
        // get an agent without them, so a failure to listen stops the start.
        MetricsListener metrics(&loop, log, [&listener](const ServerRequest& req) {
            if (req.path == "/healthz") {
                Health h = listener.health();
                return MetricsReply{h.ok ? 200 : 503, "text/plain; charset=utf-8", h.reason + "\n"};
            }
            if (req.path == "/metrics") {
                MetricsFormat f = metrics_format_for_accept(req.header("accept"));
                return MetricsReply{200, metrics_content_type(f), listener.metrics_text(f)};
            }
            return MetricsReply{404, "text/plain; charset=utf-8", "not found: try /healthz or /metrics\n"};
        });
        Status metrics_ok = Ok{};
        if (!c.metrics_listen.empty()) {
            metrics_ok = metrics.listen(c.metrics_listen);
            if (!metrics_ok) log.error(metrics_ok.message());
            else log.info("Metrics and health: http://" + c.metrics_listen + "/metrics, /healthz");
        }
        if (metrics_ok) {
            listener.start();
            while (!listener.finished()) uv_run(&loop, UV_RUN_DEFAULT);
            code = listener.exit_code();
        } else {
            code = 78;
        }
    }
    // Close every handle the listener owned before the loop goes.
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    curl_global_cleanup();
    return code;
}

}  // namespace sa
