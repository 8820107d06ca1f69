#include "common/job_limits.hpp"

#include <cerrno>
#include <cstdlib>

namespace sa {

bool parse_size(const std::string& s, long long& bytes) {
    if (s == "max") {
        bytes = 0;
        return true;
    }
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end == s.c_str() || errno != 0 || v < 0) return false;
    std::string unit(end);
    double mult = 1;
    if (unit.empty() || unit == "B") mult = 1;
    else if (unit == "K" || unit == "k" || unit == "KiB") mult = 1024.0;
    else if (unit == "M" || unit == "MiB") mult = 1024.0 * 1024;
    else if (unit == "G" || unit == "GiB") mult = 1024.0 * 1024 * 1024;
    else return false;
    bytes = static_cast<long long>(v * mult);
    return true;
}

std::optional<double> parse_cpus(const std::string& s) {
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || !(d > 0)) return std::nullopt;
    return d;
}

std::optional<long long> parse_task_count(const std::string& s) {
    char* end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || n <= 0) return std::nullopt;
    return n;
}

Status parse_limit(const std::string& key, const std::string& v, CgroupLimits& l) {
    if (key == "job-memory-max") {
        if (!parse_size(v, l.memory_max)) return err(key + ": '" + v + "' is not a size like 512M or 2G");
    } else if (key == "job-pids-max") {
        auto n = parse_task_count(v);
        if (!n) return err(key + ": '" + v + "' is not a positive number");
        l.pids_max = *n;
    } else if (key == "job-cpu-max") {
        auto cpus = parse_cpus(v);
        if (!cpus) return err(key + ": '" + v + "' is not a number of CPUs like 1.5");
        l.cpu_max = *cpus;
    } else {
        return err(key + ": not a job limit");
    }
    return Ok{};
}

}  // namespace sa
