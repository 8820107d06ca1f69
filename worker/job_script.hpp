// The job semantics of protocol.md section 5 for the shell executor: the
// steps, their directives and messages, and how the result is decided.
#pragma once

#include "worker/command_runner.hpp"
#include "common/job_request.hpp"
#include "common/result.hpp"
#include "common/worker_protocol.hpp"

#include <sys/types.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sa {

// What the supervisor tells the worker besides the job request: the
// protocol's RunOptions, under the name the worker's code still uses.
using JobOptions = RunOptions;

// Where the job's shell lives and who owns what it is given.
struct ShellContext {
    std::string home;
    std::string shell_dir;  // private directory for the command and env files
    uid_t owner_uid = static_cast<uid_t>(-1);  // -1: files keep the worker's owner
    gid_t owner_gid = static_cast<gid_t>(-1);
    // docker compose jobs: the job's temp directory, mounted at the same path
    // in the container; env and job files go through it. Empty: shell executor.
    std::string container_tmp;
};

class JobScript {
public:
    JobScript(const JobRequest& job, const JobOptions& opts, CommandRunner& runner,
              SupervisorLink& link, const struct ShellContext& ctx);
    // Runs every step; returns "passed", "failed" or "stopped".
    std::string run();

private:
    int step(std::string_view directive, const std::function<int()>& body);
    int export_env_vars();
    // Hosted mode only: keys for debug sessions and the `sem` jump point.
    std::string prepare_hosted();
    void keep_env_for_debug_sessions(const std::string& env_file_text);
    int inject_files();
    int inject_file(const JobFile& f);
    int inject_file_in_container(const JobFile& f);
    int export_env_in_container(const std::string& file_text);
    int run_hook(std::string_view directive, const std::string& path, bool source,
                 std::string_view warning);
    // Runs a list until its first failure; returns that exit code or 0.
    int run_commands(const std::vector<Command>& cmds);
    std::string check_job_result();
    void epilogue(const std::string& result);

    const JobRequest& job_;
    const JobOptions& opts_;
    CommandRunner& runner_;
    SupervisorLink& link_;
    std::string home_, shell_dir_;
    std::string container_tmp_;
    uid_t owner_uid_;
    gid_t owner_gid_;
    bool exit130_ = false;
};

// Appends the job's SSH keys to ~/.ssh/authorized_keys (hosted mode); the
// error text for the job log, or empty.
std::string inject_authorized_keys(const std::vector<std::string>& keys, const std::string& home,
                                   uid_t uid, gid_t gid);
// Where a job file goes: absolute as given, `~` and relative paths under home.
std::string resolve_job_path(const std::string& path, const std::string& home);
// Parses an octal mode string ("0644", "755"); false if it is not one.
bool parse_file_mode(const std::string& s, unsigned& mode);

}  // namespace sa
