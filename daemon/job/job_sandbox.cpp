#include "daemon/job/job_sandbox.hpp"

#include "common/config.hpp"
#include "common/job_env.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

extern char** environ;

namespace sa {

Status parse_limit(const std::string& key, const std::string& v, CgroupLimits& l) {
    char* end = nullptr;
    if (key == "job-memory-max") {
        if (!parse_size(v, l.memory_max)) return err(key + ": '" + v + "' is not a size like 512M or 2G");
    } else if (key == "job-pids-max") {
        l.pids_max = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end || l.pids_max <= 0) return err(key + ": '" + v + "' is not a positive number");
    } else if (key == "job-cpu-max") {
        l.cpu_max = std::strtod(v.c_str(), &end);
        if (v.empty() || *end || l.cpu_max <= 0) return err(key + ": '" + v + "' is not a number of CPUs like 1.5");
    } else {
        return err(key + ": not a job limit");
    }
    return Ok{};
}

Result<SandboxSettings> sandbox_settings(const Config& c) {
    SandboxSettings s;
    s.cgroup_parent = c.job_cgroup_parent;
    s.job_user = c.job_user;
    s.isolation = c.job_isolation;
    if (!c.job_user.empty() && geteuid() != 0)
        return err("job-user: the agent must run as root to run jobs as '" + c.job_user + "'");
    if (!c.job_user.empty() && !getpwnam(c.job_user.c_str()))
        return err("job-user: no user '" + c.job_user + "' in the password database");
    s.limits = job_limits(c);
    if (s.limits.any() && s.cgroup_parent.empty()) {
        auto parent = move_self_to_leaf();
        if (!parent) return err("job limits: " + parent.message());
        s.cgroup_parent = *parent;
    }
    return s;
}

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
