// The syntax of a job's resource limits, wherever they are written: run's
// flags (--job-memory-max, --job-pids-max, --job-cpu-max) and start's
// configuration keys of the same names. One reading of each value; each
// caller keeps its own wording of the error (run's help and the config's
// reference describe them differently).
#pragma once

#include "common/cgroup.hpp"
#include "common/result.hpp"

#include <optional>
#include <string>

namespace sa {

// Parses "512M", "2G", "1048576", "max" (0: no limit). False if not a size.
bool parse_size(const std::string& s, long long& bytes);

// A number of CPUs greater than 0 ("1.5"), the whole text; nullopt otherwise.
std::optional<double> parse_cpus(const std::string& s);

// A positive whole number of tasks, the whole text; nullopt otherwise.
std::optional<long long> parse_task_count(const std::string& s);

// One `run` flag's value into limits; key is the flag without its dashes
// (job-memory-max, job-pids-max, job-cpu-max). The error names the key.
Status parse_limit(const std::string& key, const std::string& value, CgroupLimits& limits);

}  // namespace sa
