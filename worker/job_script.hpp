// The job semantics of protocol.md section 5, for every executor: the
// steps, their directives and messages, and how the result is decided.
// What differs between executors is behind Executor.
#pragma once

#include "worker/command_runner.hpp"
#include "worker/executor.hpp"
#include "common/job_request.hpp"
#include "common/result.hpp"

#include <jansson.h>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sa {

// What the supervisor tells the worker besides the job request.
struct JobOptions {
    std::string job_dir;  // private 0700 directory for the command and env files
    std::string pre_job_hook_path, post_job_hook_path;
    bool source_pre_job_hook = false;
    bool fail_on_pre_job_hook_error = false;
    std::vector<std::pair<std::string, std::string>> agent_env_vars;  // win over the job's
    std::string marker;  // value of SEMAPHORE_JOB_PROCESS_MARKER in every job process
    std::vector<std::string> cgroup_procs;  // the job's cgroups; empty: no cgroup
    std::string cgroup_dir;                 // the v2 job cgroup, for killing
    std::string job_user;                   // run the shell as this user (agent is root)
    std::string isolation = "default";      // "strict": private /tmp and PID namespace
    bool hosted = false;                    // serve mode: SSH keys, jump point, debug env
    // docker compose jobs: `--files HOSTPATH:DEST` entries and what a missing one means
    std::vector<std::string> host_files;
    bool fail_on_missing_files = false;
    bool expose_kvm = false;  // /dev/kvm in every container (serve mode, when the host has it)
};

Result<JobOptions> parse_job_options(const json_t* options);

class JobScript {
public:
    JobScript(const JobRequest& job, const JobOptions& opts, CommandRunner& runner,
              Executor& executor, SupervisorLink& link);
    // Runs every step; returns "passed", "failed" or "stopped".
    std::string run();

private:
    int export_env_vars();
    int inject_files();
    int run_hook(std::string_view directive, const std::string& path, bool source,
                 std::string_view warning);
    // Runs a list until its first failure; returns that exit code or 0.
    int run_commands(const std::vector<Command>& cmds);
    std::string check_job_result();
    void epilogue(const std::string& result);

    const JobRequest& job_;
    const JobOptions& opts_;
    CommandRunner& runner_;
    Executor& executor_;
    SupervisorLink& link_;
    bool exit130_ = false;
};

}  // namespace sa
