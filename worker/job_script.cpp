#include "worker/job_script.hpp"

#include "common/job_result.hpp"
#include "common/shell_quote.hpp"
#include "worker/step.hpp"

#include <map>

namespace sa {

namespace {

const char* kExportStep = "Exporting environment variables";
const char* kFilesStep = "Injecting Files";
const char* kPreHookStep = "Running the pre-job hook configured in the agent";
const char* kPostHookStep = "Running the post-job hook configured in the agent";
const char* kCheckResultStep = "Checking job result";

}  // namespace

JobScript::JobScript(const JobRequest& job, const RunOptions& opts, CommandRunner& runner,
                     Executor& executor, SupervisorLink& link)
    : job_(job), opts_(opts), runner_(runner), executor_(executor), link_(link) {}

int JobScript::export_env_vars() {
    // Job values first, then the agent's (they win), sorted by name.
    std::map<std::string, std::string> vars;
    for (const auto& e : job_.env_vars) vars[e.name] = e.value;
    for (const auto& [k, v] : opts_.agent_env_vars) vars[k] = v;
    std::string file;
    // One event per variable, as the original logs them: consumers count
    // and compare events, not just the text.
    for (const auto& [k, v] : vars) {
        runner_.say("Exporting " + k + "\n");
        file += "export " + k + "=" + shell_quote(v) + "\n";
    }
    return executor_.export_env(file);
}

int JobScript::inject_files() {
    for (const auto& f : job_.files) {
        int code = executor_.inject_file(f);
        if (code != 0) return code;
    }
    return 0;
}

int JobScript::run_hook(std::string_view directive, const std::string& path, bool source,
                        std::string_view warning) {
    return step(link_, directive, [&] {
        std::string cmd = std::string(source ? "source " : "bash ") + path;
        // Two events, as the original's RunCommand logs alias and warning.
        runner_.say("Running: " + cmd + "\n");
        runner_.say(warning);
        return runner_.run(std::string(source ? "source " : "bash ") + shell_quote(path) + "\n");
    });
}

int JobScript::run_commands(const std::vector<Command>& cmds) {
    for (const auto& c : cmds) {
        if (runner_.stopped()) return 1;
        const std::string& shown = c.alias.empty() ? c.directive : c.alias;
        int code = step(link_, shown, [&] {
            if (!c.alias.empty()) runner_.say("Running: " + c.directive + "\n");
            return runner_.run(c.directive);
        });
        if (code != 0) return code;
    }
    return 0;
}

// After a command exits with 130: the job stops on its own terms, with the
// result the job put in SEMAPHORE_JOB_RESULT.
std::string JobScript::check_job_result() {
    std::string value;
    runner_.capture("\\builtin printf '%s' \"${SEMAPHORE_JOB_RESULT-}\"\n", value);
    std::string result;
    step(link_, kCheckResultStep, [&] {
        if (value == job_result_name(JobResult::Passed) || value == job_result_name(JobResult::Failed)) {
            runner_.say("SEMAPHORE_JOB_RESULT=" + value + " - stopping job and marking it as " +
                        value);
            result = value;
        } else {
            runner_.say("SEMAPHORE_JOB_RESULT is set to '" + value +
                        "' - stopping job and marking it as stopped");
            result = job_result_name(JobResult::Stopped);
        }
        return 0;
    });
    return result;
}

void JobScript::epilogue(const std::string& result) {
    step(link_, kExportStep, [&] {
        runner_.say("Exporting SEMAPHORE_JOB_RESULT\n");
        return runner_.run("export SEMAPHORE_JOB_RESULT=" + result + "\n");
    });
    if (runner_.stopped()) return;
    run_commands(job_.epilogue_always_commands);
    if (runner_.stopped()) return;
    run_commands(result == job_result_name(JobResult::Passed) ? job_.epilogue_on_pass_commands
                                    : job_.epilogue_on_fail_commands);
}

std::string JobScript::run() {
    std::string hosted_error = opts_.hosted ? executor_.prepare_hosted() : "";
    bool ok = step(link_, kExportStep, [&] {
        if (!hosted_error.empty()) {
            runner_.say(hosted_error);
            return 1;
        }
        return export_env_vars();
    }) == 0;
    if (ok && !runner_.stopped()) ok = step(link_, kFilesStep, [&] { return inject_files(); }) == 0;
    if (ok && !runner_.stopped() && !opts_.pre_job_hook_path.empty()) {
        const char* warning =
            opts_.fail_on_pre_job_hook_error
                ? "Warning: The agent is configured to fail the job if the pre-job hook fails.\n"
                : "Warning: The agent is configured to proceed with the job even if the pre-job "
                  "hook fails.\n";
        int code = run_hook(kPreHookStep, opts_.pre_job_hook_path, opts_.source_pre_job_hook,
                            warning);
        if (code != 0 && opts_.fail_on_pre_job_hook_error) ok = false;
    }
    std::string result = ok ? job_result_name(JobResult::Passed) : job_result_name(JobResult::Failed);
    if (ok && !runner_.stopped()) {
        int code = run_commands(job_.commands);
        if (code == 130 && !runner_.stopped()) {
            result = check_job_result();
            exit130_ = true;
        } else if (code != 0) {
            result = job_result_name(JobResult::Failed);
        }
    }
    if (runner_.stopped()) return job_result_name(JobResult::Stopped);
    if (!exit130_) epilogue(result);
    if (runner_.stopped()) return job_result_name(JobResult::Stopped);
    if (!opts_.post_job_hook_path.empty())
        run_hook(kPostHookStep, opts_.post_job_hook_path, false, "");
    return runner_.stopped() ? job_result_name(JobResult::Stopped) : result;
}

}  // namespace sa
