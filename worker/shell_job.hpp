// A shell executor job from start to end: the job's login bash on a PTY,
// the steps (JobScript with a ShellExecutor), and the teardown of every
// process it left. The counterpart of ComposeJob.
#pragma once

#include "common/job_request.hpp"
#include "worker/job_script.hpp"
#include "worker/pty_shell.hpp"
#include "worker/sandbox.hpp"
#include "worker/supervisor_link.hpp"

#include <optional>
#include <string>

namespace sa {

// Runs the job after job_started; returns its result. The shell goes into
// `shell`, the caller's, which outlives job_finished and DONE: should the
// teardown not have reaped it, ~PtyShell's kill and wait come after the
// report, as before the refactor.
std::string run_shell_job(const JobRequest& job, const RunOptions& opts, SupervisorLink& link, int sigchld_fd,
                          Sandbox& sandbox, const std::string& shell_dir, std::optional<PtyShell>& shell);

}  // namespace sa
