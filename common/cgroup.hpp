// Job cgroups: every process of a job lives in a cgroup of its own, so the
// agent can find and kill all of them, and limit them.
//
// Grouping and killing use cgroup v2: the unified hierarchy, or its
// `/sys/fs/cgroup/unified` mount on a hybrid host. Limits use the v2
// controllers when the parent offers them; on a hybrid host whose memory,
// pids and cpu controllers sit on v1 mounts, the job also gets a v1 group in
// each of those hierarchies. Without a writable v2 hierarchy the caller falls
// back to tracking processes through /proc (see proc_scan.hpp).
#pragma once

#include "common/result.hpp"

#include <sys/types.h>

#include <string>
#include <vector>

namespace sa {

struct CgroupLimits {
    long long memory_max = 0;  // bytes; 0: no limit
    long long pids_max = 0;    // 0: no limit
    double cpu_max = 0;        // CPUs (1.5 = one and a half); 0: no limit
    bool any() const { return memory_max > 0 || pids_max > 0 || cpu_max > 0; }
};

// The configuration keys of the limits that are set, for messages:
// "job-memory-max, job-pids-max".
std::string limit_keys(const CgroupLimits& limits);

// The directory of this process's cgroup in the v2 hierarchy, or "" when
// there is no v2 hierarchy.
std::string own_cgroup_v2_dir();

// cgroup v2 lets a cgroup hand controllers to its children only when no
// process lives in it ("no internal processes"). Under systemd's
// Delegate=yes the agent sits in its service cgroup, so for job limits it
// moves itself into a leaf `DIR/agent`; jobs then go beside it. Returns DIR
// (the parent for job cgroups). Nothing moves at the root of the hierarchy,
// which is exempt from the rule.
Result<std::string> move_self_to_leaf();

// A v2 cgroup by its directory, for whoever holds only the path (the worker
// empties its job's cgroup, which the supervisor's JobCgroup owns).
// The processes listed in cgroup.procs.
std::vector<pid_t> cgroup_pids(const std::string& dir);
// From cgroup.events ("populated 1"); from cgroup.procs where there is none.
bool cgroup_populated(const std::string& dir);
// SIGKILL for everything in it at once (cgroup.kill); false where the kernel
// (before 5.14) has no cgroup.kill.
bool cgroup_kill(const std::string& dir);

class JobCgroup {
public:
    // Creates parent/name (v2) and the v1 groups needed for limits the v2
    // parent cannot enforce. Errors say why, for the agent log.
    static Result<JobCgroup> create(const std::string& parent, const std::string& name,
                                    const CgroupLimits& limits);
    JobCgroup(JobCgroup&& o) noexcept;
    JobCgroup(const JobCgroup&) = delete;
    ~JobCgroup();  // kills what is left and removes the groups

    const std::string& path() const { return dirs_.front(); }
    // The v2 group, then the v1 groups (for resource accounting).
    const std::vector<std::string>& dirs() const { return dirs_; }
    // Every cgroup.procs file a job process must be written into.
    std::vector<std::string> procs_files() const;
    std::vector<pid_t> pids() const;
    bool populated() const;
    // SIGKILL for everything in the group, at once (cgroup.kill), or pid by
    // pid with the group frozen on kernels without cgroup.kill.
    void kill_all() const;
    // Removes the (empty) groups; false if something is still in them.
    bool remove();

private:
    JobCgroup() = default;
    std::vector<std::string> dirs_;  // [0] is the v2 group, then v1 groups
};

// Tries the limits for real: creates a group parent/name with them and
// removes it. The error is what every job would meet ("" parent: no v2
// hierarchy). For the start-up warning.
Status probe_limits(const std::string& parent, const std::string& name, const CgroupLimits& limits);

// What stands in the way of each configured limit on this host, judged
// without creating anything (check-config runs outside the service, as
// whichever user calls it): a controller missing everywhere, or one found
// only in a cgroup v1 hierarchy (a hybrid host), where only root may create
// the job's group. cgroup_parent as configured ("" : the agent's own).
std::vector<std::string> limit_warnings(const std::string& cgroup_parent, const CgroupLimits& limits);

// Writes the given pid into each file; for use between fork and exec, so it
// only makes async-signal-safe calls. Returns false on any failure.
bool join_cgroups_raw(const char* const* procs_files, pid_t pid);

}  // namespace sa
