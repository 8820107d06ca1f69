#include "worker/shell_job.hpp"

#include "common/event.hpp"
#include "common/job_result.hpp"
#include "common/random.hpp"
#include "worker/command_runner.hpp"
#include "worker/pty_shell.hpp"
#include "worker/shell_executor.hpp"

namespace sa {

std::string run_shell_job(const JobRequest& job, const RunOptions& opts, SupervisorLink& link, int sigfd,
                          Sandbox& sandbox, const std::string& shell_dir, std::optional<PtyShell>& shell) {
    auto started = sandbox.user_error().empty() ? PtyShell::start(sandbox.shell_spec())
                                                : Result<PtyShell>(err(sandbox.user_error()));
    if (!started) {
        link.send_event(event_cmd_output(unix_now(), "Failed to start the shell: " + started.message() + "\n"));
        return job_result_name(JobResult::Failed);
    }
    shell.emplace(std::move(started.value()));
    std::string result;
    CommandRunner runner(*shell, link, shell_dir + "/command", random_hex(16), sigfd);
    // Unlike the original, no /tmp/restore-tty (executors.md 4.2): its
    // `stty -g` costs every job start a fork and exec (3 ms), nothing
    // reads it, and one fixed path in a shared /tmp is fought over by
    // agents and job users. Compose jobs keep it, inside the container.
    if (!runner.wait_ready()) {
        // A stop during start-up is no failure of the shell's.
        if (!link.stop_requested())
            link.send_event(event_cmd_output(unix_now(), startup_failure(*shell)));
        result = link.stop_requested() ? job_result_name(JobResult::Stopped) : job_result_name(JobResult::Failed);
    } else {
        ShellExecutor executor(job, opts, runner,
                               {sandbox.home(), shell_dir, sandbox.owner_uid(), sandbox.owner_gid()});
        JobScript script(job, opts, runner, executor, link);
        result = script.run();
    }
    link.flush();  // the job's last step is out before the clean-up wait
    sandbox.end_job_processes(&*shell);
    return result;
}

}  // namespace sa
