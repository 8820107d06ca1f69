// The whole contract between the supervisor and the worker, in one header.
//
// The supervisor (daemon/job/job_runner) spawns one worker per job with its
// end of a socketpair as fd 3 (daemon/job/worker_link <-> worker/
// supervisor_link). Frames (common/frame.hpp) go both ways:
//
//   supervisor -> worker   JOB    once, first: encode(WorkerJob), below
//                          STOP   empty: stop the job now
//   worker -> supervisor   EVENT  one job log line (common/event.hpp)
//                          DONE   the job's result
//                          LOG    a line for the agent's log, never job output
//
// The JOB payload is a JSON object {"version": N, "job": <the job request,
// protocol.md section 3>, "options": <RunOptions>}. Both ends come from the
// same build; the version still guards against a worker binary left over from
// another one (a package upgrade while the agent runs): the worker refuses a
// JOB of another version and says so in a LOG frame.
#pragma once

#include "common/job_env.hpp"  // split_env_assignments: how agent_env_vars are made
#include "common/job_request.hpp"
#include "common/result.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sa {

// Bump on any change of a field's name, type or meaning.
constexpr int kWorkerProtocolVersion = 1;

// Everything the worker needs besides the job request. The first group is
// filled by whoever takes the job in (`run`, `start`, `serve`); the second
// by the runner as it sets the job up.
struct RunOptions {
    // -- from the agent's configuration
    std::string pre_job_hook_path, post_job_hook_path;
    bool source_pre_job_hook = false;
    bool fail_on_pre_job_hook_error = false;
    // NAME, VALUE; they win over the job's own variables
    std::vector<std::pair<std::string, std::string>> agent_env_vars;
    // docker compose jobs: `--files HOSTPATH:DEST` entries and what a missing one means
    std::vector<std::string> host_files;
    bool fail_on_missing_files = false;
    bool hosted = false;      // serve mode: SSH keys, jump point, debug env
    bool expose_kvm = false;  // /dev/kvm in every container (serve mode, when the host has it)

    // -- from the job's setup (daemon/job)
    std::string job_dir;  // private 0700 directory for the command and env files; required
    std::string marker;   // value of SEMAPHORE_JOB_PROCESS_MARKER in every job process
    std::vector<std::string> cgroup_procs;  // the job's cgroups; empty: no cgroup
    std::string cgroup_dir;                 // the v2 job cgroup, for killing
    std::string job_user;                   // run the shell as this user (agent is root)
    std::string isolation = "default";      // "strict": private /tmp and PID namespace

    bool operator==(const RunOptions&) const = default;
};

struct WorkerJob {
    JobRequest request;
    RunOptions options;

    bool operator==(const WorkerJob&) const = default;
};

namespace worker_protocol {

// The JOB frame's payload.
std::string encode(const WorkerJob& job);
// The error names the field ("options.cgroup_procs[1]: expected a string",
// "version: ..."); a job request's own errors keep their field paths.
Result<WorkerJob> decode(std::string_view payload);

}  // namespace worker_protocol

}  // namespace sa
