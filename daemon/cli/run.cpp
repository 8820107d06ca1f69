#include "daemon/cli/run.hpp"

#include "common/agent_log.hpp"
#include "common/fs.hpp"
#include "common/job_env.hpp"
#include "common/job_limits.hpp"
#include "daemon/cli/args.hpp"
#include "daemon/cli/signals.hpp"
#include "daemon/job/job_dir.hpp"
#include "common/job_request.hpp"
#include "daemon/job/job_runner.hpp"
#include "common/job_result.hpp"
#include "daemon/job/job_sandbox.hpp"
#include "common/json.hpp"
#include "daemon/cli/log_printer.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace sa {

const char* const kRunHelp =
    "Usage: semaphore-agent run [OPTIONS] JOB_FILE\n"
    "\n"
    "Runs one job request (JSON or YAML) locally, through the same supervisor\n"
    "and worker as `start`, and prints its log.\n"
    "\n"
    "Options:\n"
    "  --json                        print the raw event lines instead of a readable log\n"
    "  --pre-job-hook-path PATH      run PATH before the job's commands\n"
    "  --post-job-hook-path PATH     run PATH after the job\n"
    "  --source-pre-job-hook         source the pre-job hook instead of running it with bash\n"
    "  --fail-on-pre-job-hook-error  fail the job when the pre-job hook fails\n"
    "  --env-vars NAME=VALUE         extra variable for the job (repeatable; wins over the job's)\n"
    "  --files HOSTPATH:DEST         docker compose jobs: bind-mount HOSTPATH at DEST in the\n"
    "                                main container (repeatable, or comma-separated)\n"
    "  --fail-on-missing-files       docker compose jobs: fail when a --files HOSTPATH is missing\n"
    "  --job-user USER               run the job's shell as USER (the agent must be root)\n"
    "  --job-memory-max SIZE         memory limit of the job's cgroup (e.g. 512M, 2G)\n"
    "  --job-pids-max N              process limit of the job's cgroup\n"
    "  --job-cpu-max CPUS            CPU limit of the job's cgroup (e.g. 1.5)\n"
    "  --job-isolation strict        private /tmp and PID namespace, no_new_privs\n"
    "  --job-cgroup-parent DIR       create job cgroups under DIR (default: the agent's own;\n"
    "                                `none` turns job cgroups off)\n"
    "  --help                        show this help\n"
    "\n"
    "Exit status: 0 passed, 1 failed, 130 stopped (SIGINT), 2 unusable job file or option.\n";

namespace {

struct RunArgs {
    bool json = false;
    std::string job_file;
    RunOptions options;  // what the worker is told besides the job
    SandboxSettings sandbox;
};

Result<RunArgs> parse_args(const std::vector<std::string>& args) {
    RunArgs r;
    ArgReader reader(args);
    while (reader.next()) {
        const std::string& a = reader.name();
        auto take = [&](std::string& out) -> Status {
            auto v = reader.value();
            if (!v) return v.error();
            out = std::move(*v);
            return Ok{};
        };
        Status st = Ok{};
        if (a == "--json") r.json = true;
        else if (a == "--source-pre-job-hook") r.options.source_pre_job_hook = true;
        else if (a == "--fail-on-pre-job-hook-error") r.options.fail_on_pre_job_hook_error = true;
        else if (a == "--fail-on-missing-files") r.options.fail_on_missing_files = true;
        else if (a == "--files") {
            std::string list;
            st = take(list);
            for (size_t b = 0; st && b <= list.size();) {
                size_t e = list.find(',', b);
                if (e == std::string::npos) e = list.size();
                std::string f = list.substr(b, e - b);
                size_t colon = f.find(':');
                if (colon == std::string::npos || colon == 0 || colon + 1 == f.size())
                    return err("--files: '" + f + "' is not HOSTPATH:DESTINATION");
                r.options.host_files.push_back(f);
                b = e + 1;
            }
        }
        else if (a == "--pre-job-hook-path") st = take(r.options.pre_job_hook_path);
        else if (a == "--post-job-hook-path") st = take(r.options.post_job_hook_path);
        else if (a == "--job-user") st = take(r.sandbox.job_user);
        else if (a == "--job-cgroup-parent") st = take(r.sandbox.cgroup_parent);
        else if (a == "--job-isolation") {
            st = take(r.sandbox.isolation);
            if (st && r.sandbox.isolation != "default" && r.sandbox.isolation != "strict")
                return err("--job-isolation: '" + r.sandbox.isolation + "' is not one of default, strict");
        }
        else if (a == "--job-memory-max" || a == "--job-pids-max" || a == "--job-cpu-max") {
            std::string v;
            st = take(v);
            if (st) {
                auto lim = parse_limit(a.substr(2), v, r.sandbox.limits);
                if (!lim) return lim.error();
            }
        }
        else if (a == "--env-vars") {
            std::string kv;
            st = take(kv);
            if (st) {
                auto pair = split_env_assignment(kv);
                if (!pair) return err("--env-vars: '" + kv + "' is not NAME=VALUE");
                r.options.agent_env_vars.push_back(std::move(*pair));
            }
        } else if (a.rfind("-", 0) == 0 && a != "-") return err("unknown option '" + a + "'");
        else if (r.job_file.empty()) r.job_file = a;
        else return err("only one JOB_FILE may be given ('" + a + "' is extra)");
        if (!st) return st.error();
    }
    if (r.job_file.empty()) return err("missing JOB_FILE");
    return r;
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
    if (wants_help(args)) {
        std::fputs(kRunHelp, stdout);
        return 0;
    }
    auto parsed = parse_args(args);
    if (!parsed) {
        std::fprintf(stderr, "semaphore-agent run: %s\n(see semaphore-agent run --help)\n",
                     parsed.message().c_str());
        return 2;
    }
    const RunArgs& ra = *parsed;
    // The whole file, whatever its size, as the job's own limits apply to
    // what it asks for and not to how long it is written.
    auto text = read_file(ra.job_file, ReadOptions{std::numeric_limits<size_t>::max() - 1});
    if (!text) {
        std::fprintf(stderr, "semaphore-agent run: cannot read the job file %s: %s\n",
                     ra.job_file.c_str(), text.message().c_str());
        return 2;
    }
    auto job = parse_job_request_any(*text);
    if (!job) {
        std::fprintf(stderr, "semaphore-agent run: job file %s: %s\n", ra.job_file.c_str(),
                     job.message().c_str());
        return 2;
    }
    auto dir = JobDir::create(default_job_base());
    if (!dir) {
        std::fprintf(stderr, "semaphore-agent run: %s\n", dir.message().c_str());
        return 2;
    }

    AgentLog log;
    ignore_sigpipe();  // a closed stdout is an error to handle, not a death
    // Larger than a batch (the supervisor reads up to 256 KiB of frames a turn):
    // with --json a batch then leaves in one write(2) at the batch end.
    static char outbuf[1 << 18];
    std::setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    uv_loop_t loop;
    uv_loop_init(&loop);
    JobResult result = JobResult::Failed;
    {
        JobRunner runner(&loop, log);
        LogPrinter printer(stdout, isatty(1) && !getenv("NO_COLOR"));
        bool json = ra.json;
        bool reader_gone = false;
        JobRunner* runner_ptr = &runner;
        WorkerRequest req{find_worker_path(), WorkerJob{std::move(job.value()), ra.options}, ra.sandbox, {}, {}};
        req.job.options.job_dir = dir->path();
        auto st = runner.start(
            std::move(req),
            [&](std::string_view line) {
                if (json) {
                    std::fwrite(line.data(), 1, line.size(), stdout);
                    std::fputc('\n', stdout);
                } else {
                    printer.event(line);
                }
                // Nobody reads the log any more (`run ... | head`): stop the job.
                if (std::ferror(stdout) && !reader_gone) {
                    reader_gone = true;
                    runner_ptr->stop();
                }
            },
            [&](JobResult r) { result = r; });
        if (!st) {
            std::fprintf(stderr, "semaphore-agent run: %s\n", st.message().c_str());
            uv_loop_close(&loop);
            return 2;
        }
        // One write per batch of events, not per event; still streaming.
        runner.set_batch_end([] { std::fflush(stdout); });
        // SIGINT and SIGTERM stop the job; it then ends with result `stopped`.
        SignalSet signals(&loop);
        for (int s : {SIGINT, SIGTERM}) signals.on(s, [&runner](int) { runner.stop(); });
        while (runner.running()) uv_run(&loop, UV_RUN_ONCE);
    }
    uv_run(&loop, UV_RUN_DEFAULT);  // lets close callbacks and the cleanup work finish
    uv_loop_close(&loop);
    switch (result) {
        case JobResult::Passed: return 0;
        case JobResult::Stopped: return 130;
        case JobResult::Failed: return 1;
    }
    return 1;
}

}  // namespace sa
