// The shell executor: the job's commands run in a login bash on the host,
// as the job's user. Env and job files are written on the host directly.
#pragma once

#include "worker/command_runner.hpp"
#include "worker/executor.hpp"
#include "worker/job_script.hpp"

#include <sys/types.h>

#include <string>

namespace sa {

// Where the job's shell lives and who owns what it is given.
struct ShellContext {
    std::string home;
    std::string shell_dir;  // private directory for the command and env files
    uid_t owner_uid = static_cast<uid_t>(-1);  // -1: files keep the worker's owner
    gid_t owner_gid = static_cast<gid_t>(-1);
};

class ShellExecutor : public Executor {
public:
    ShellExecutor(const JobRequest& job, const RunOptions& opts, CommandRunner& runner, ShellContext ctx)
        : job_(job), opts_(opts), runner_(runner), ctx_(std::move(ctx)) {}

    std::string prepare_hosted() override;
    int export_env(const std::string& file_text) override;
    int inject_file(const JobFile& f) override;

private:
    void keep_env_for_debug_sessions(const std::string& env_file_text);

    const JobRequest& job_;
    const RunOptions& opts_;
    CommandRunner& runner_;
    ShellContext ctx_;
};

}  // namespace sa
