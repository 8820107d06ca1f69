// The docker compose executor (executors.md section 1), around the
// ContainerExecutor its steps run with: the job's commands
// run in a bash inside the main container, started by
// `docker compose run` on a PTY; the other containers are linked services.
//
// Differences from the original, on purpose:
// - Every path is the job's own (<job_dir>/compose/...) and the compose
//   project and main container names carry the job's id, so two agents on
//   one host never share a manifest, a command file or a container.
// - The job's containers, networks and anonymous volumes are removed
//   (`down --remove-orphans --volumes`) when the job is stopped as well as
//   when it ends, before job_finished.
// - A failing image pull credential entry fails the step at once (the
//   original only looked at the last entry's result).
// - Manifest values are YAML-quoted, with `$` doubled against compose's
//   variable substitution.
// - GCR key files are removed from the host after the login.
#pragma once

#include "common/job_request.hpp"
#include "worker/command_runner.hpp"
#include "worker/job_script.hpp"
#include "worker/pty_shell.hpp"
#include "worker/sandbox.hpp"
#include "worker/supervisor_link.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sa {

class ComposeJob {
public:
    // shell_env: the environment for host processes (the agent's, with the
    // job marker); cwd: where compose runs.
    ComposeJob(const JobRequest& job, const RunOptions& opts, SupervisorLink& link,
               int sigchld_fd, std::vector<std::string> shell_env, std::string home);
    // Runs the whole job after job_started; returns the result.
    std::string run();

private:
    bool prepare();
    bool detect_compose();
    int setup_credentials();
    int login(const ImagePullCredentials& c);
    int pull_images();
    int start_session(std::optional<PtyShell>& shell, std::optional<CommandRunner>& runner);
    void cleanup();
    std::vector<std::string> compose_args(std::initializer_list<std::string> rest) const;
    void say(const std::string& text);
    // A step of the job's log, flushed at its end.
    int step(const std::string& directive, const std::function<int()>& body);

    const JobRequest& job_;
    const RunOptions& opts_;
    SupervisorLink& link_;
    int sigchld_fd_;
    std::vector<std::string> env_;
    std::string home_;
    std::string tmp_;       // the job's agent temp directory, mounted in the container
    std::string manifest_;  // the job's compose file
    std::string project_;   // compose project name
    std::string container_; // the main container's name
    std::vector<std::string> program_{"docker-compose"};
    bool detected_ = false;
};

// A docker compose job after job_started, the counterpart of run_shell_job:
// the ComposeJob, then the teardown of what the compose clients left on the
// host (the containers' processes end with `compose down`). Returns its result.
std::string run_compose_job(const JobRequest& job, const RunOptions& opts, SupervisorLink& link, int sigchld_fd,
                            Sandbox& sandbox);

}  // namespace sa
