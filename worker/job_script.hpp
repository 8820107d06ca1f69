// The job semantics of protocol.md section 5, for every executor: the
// steps, their directives and messages, and how the result is decided.
// What differs between executors is behind Executor.
#pragma once

#include "worker/command_runner.hpp"
#include "worker/executor.hpp"
#include "common/job_request.hpp"
#include "common/result.hpp"
#include "common/worker_protocol.hpp"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sa {

class JobScript {
public:
    JobScript(const JobRequest& job, const RunOptions& opts, CommandRunner& runner,
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
    const RunOptions& opts_;
    CommandRunner& runner_;
    Executor& executor_;
    SupervisorLink& link_;
    bool exit130_ = false;
};

}  // namespace sa
