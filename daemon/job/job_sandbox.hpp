// How a job is confined, on the supervisor's side (architecture.md,
// security defaults): the settings `run` and `start` give, and the cgroup
// each job gets. Their limits are read in common/job_limits.hpp, included
// here for run's flags (parse_limit). The
// worker does the rest inside (worker/: user, environment, isolation).
#pragma once

#include "common/cgroup.hpp"
#include "common/job_limits.hpp"
#include "common/result.hpp"
#include "common/worker_protocol.hpp"

#include <optional>
#include <string>
#include <vector>

namespace sa {

struct SandboxSettings {
    std::string cgroup_parent;  // "" : this process's own v2 cgroup; "none": no cgroup
    CgroupLimits limits;
    std::string job_user;       // run the job's shell as this user (agent must be root)
    std::string isolation = "default";  // "strict": private /tmp and PID namespace
};

// One job's confinement: its cgroup (when the host and the settings give
// one) and what the worker is told of it.
class JobSandbox {
public:
    // Creates the job's cgroup `name` under the settings' parent. Without a
    // cgroup the job still runs (problem() says why) unless limits are set:
    // then the error says which cannot be applied, and why.
    static Result<JobSandbox> create(const SandboxSettings& settings, const std::string& name);

    // The worker's part: the job's user, its isolation and its cgroup.
    void fill(RunOptions& options) const;
    // The worker's process environment: what a job may have
    // (common/job_env.hpp), never an agent setting; `secrets` are left out
    // whatever their variable's name.
    std::vector<std::string> worker_environment(const std::vector<std::string>& secrets) const;

    bool has_cgroup() const { return cgroup_.has_value(); }
    // The cgroup directories, for resource accounting (empty without one).
    std::vector<std::string> cgroup_dirs() const;
    // Why the job runs without a cgroup ("" when it has one).
    const std::string& problem() const { return problem_; }
    // After the worker: kills what is left in the cgroup and removes it. The
    // error names the cgroup that could not be removed.
    Status remove_cgroup();

private:
    JobSandbox() = default;
    SandboxSettings settings_;
    std::optional<JobCgroup> cgroup_;
    std::string problem_;
};

}  // namespace sa
