// What a job used, from its cgroups: CPU seconds, peak memory, OOM kills and
// peak task count. Read live for `agentctl status` and once more at the
// job's end for the agent log and the metrics.
//
// Each figure comes from whichever of the job's groups has it: the v2 group
// (cpu.stat, memory.peak, memory.events, pids.peak), or on a hybrid host the
// v1 groups made for limits (memory.max_usage_in_bytes, memory.oom_control,
// pids.current). Kernels without a peak file get the highest of the samples
// taken every second.
#pragma once

#include <string>
#include <vector>

namespace sa {

struct JobUsage {
    // -1: not known on this host (no such file in any of the job's groups).
    double cpu_user_seconds = -1, cpu_system_seconds = -1;
    long long memory_peak_bytes = -1;
    long long oom_kills = -1;
    long long tasks_peak = -1;
};

class JobUsageMeter {
public:
    explicit JobUsageMeter(std::vector<std::string> cgroup_dirs);

    // Reads the current memory and task count where no peak file exists.
    void sample();
    // The figures so far (reads the cumulative files now).
    JobUsage read() const;

private:
    std::vector<std::string> dirs_;
    long long sampled_memory_ = -1, sampled_tasks_ = -1;
};

// "CPU 1.20 s user, 0.30 s system; peak memory 12.5 MiB; peak tasks 4;
// OOM kills 0", leaving out what is not known.
std::string describe_usage(const JobUsage& u);

}  // namespace sa
