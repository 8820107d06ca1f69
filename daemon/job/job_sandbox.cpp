#include "daemon/job/job_sandbox.hpp"

#include "common/job_env.hpp"

extern char** environ;

namespace sa {

Result<JobSandbox> JobSandbox::create(const SandboxSettings& settings, const std::string& name) {
    JobSandbox sb;
    sb.settings_ = settings;
    if (settings.cgroup_parent != "none") {
        std::string parent = settings.cgroup_parent.empty() ? own_cgroup_v2_dir() : settings.cgroup_parent;
        if (parent.empty()) {
            sb.problem_ = "no cgroup v2 hierarchy is mounted";
        } else {
            auto g = JobCgroup::create(parent, name, settings.limits);
            if (g) sb.cgroup_.emplace(std::move(g.value()));
            else sb.problem_ = g.message();
        }
    } else {
        sb.problem_ = "cgroups are turned off (job-cgroup-parent: none)";
    }
    // Limits are a promise to the operator: a job is not run without them.
    if (!sb.cgroup_ && settings.limits.any())
        return err("the job limits (" + limit_keys(settings.limits) + ") cannot be applied: " + sb.problem_);
    return sb;
}

void JobSandbox::fill(RunOptions& o) const {
    o.job_user = settings_.job_user;
    o.isolation = settings_.isolation;
    o.cgroup_procs.clear();
    o.cgroup_dir.clear();
    if (cgroup_) {
        o.cgroup_procs = cgroup_->procs_files();
        o.cgroup_dir = cgroup_->path();
    }
}

std::vector<std::string> JobSandbox::worker_environment(const std::vector<std::string>& secrets) const {
    // The worker keeps the docker client's variables for compose jobs; a
    // job user gets only the login variables, the worker sets the rest.
    return job_environment(environ, settings_.job_user.empty() ? JobEnvScope::Inherited : JobEnvScope::LoginOnly,
                           secrets, /*keep_docker=*/true);
}

std::vector<std::string> JobSandbox::cgroup_dirs() const {
    return cgroup_ ? cgroup_->dirs() : std::vector<std::string>{};
}

Status JobSandbox::remove_cgroup() {
    if (!cgroup_) return Ok{};
    // Normally the worker left it empty; after a crash, nothing survives this.
    if (cgroup_->populated()) cgroup_->kill_all();
    std::string path = cgroup_->path();
    bool removed = cgroup_->remove();
    cgroup_.reset();
    if (!removed) return err("Could not remove the job cgroup " + path);
    return Ok{};
}

}  // namespace sa
