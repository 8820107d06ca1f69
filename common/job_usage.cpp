#include "common/job_usage.hpp"

#include "common/fs.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace sa {

namespace {

// cgroup files are small; one read() returns them whole.
bool slurp(const std::string& path, std::string& out) {
    auto text = read_file(path, {.max_bytes = 4095});
    if (!text) return false;
    out = std::move(text.value());
    return true;
}

// A file holding one number ("max" counts as not a number).
long long number_file(const std::string& path) {
    std::string s;
    if (!slurp(path, s) || s.empty() || s[0] < '0' || s[0] > '9') return -1;
    return std::atoll(s.c_str());
}

// The value of `key N` in a flat-keyed file (cpu.stat, memory.events).
long long keyed(const std::string& path, const char* key) {
    std::string s;
    if (!slurp(path, s)) return -1;
    size_t klen = std::strlen(key);
    size_t pos = 0;
    while (pos < s.size()) {
        size_t end = s.find('\n', pos);
        if (end == std::string::npos) end = s.size();
        if (end - pos > klen && s.compare(pos, klen, key) == 0 && s[pos + klen] == ' ')
            return std::atoll(s.c_str() + pos + klen + 1);
        pos = end + 1;
    }
    return -1;
}

// The first of `names` that one of the groups has.
long long first_number(const std::vector<std::string>& dirs, std::initializer_list<const char*> names) {
    for (const char* n : names)
        for (const auto& d : dirs)
            if (long long v = number_file(d + "/" + n); v >= 0) return v;
    return -1;
}

// Lines of a file of any length (cgroup.threads: one task a line).
long long count_lines(const std::string& path) {
    long long lines = 0;
    auto read = read_chunks(path, [&](std::string_view chunk) {
        for (char c : chunk) lines += c == '\n';
    });
    return read ? lines : -1;
}

}  // namespace

JobUsageMeter::JobUsageMeter(std::vector<std::string> cgroup_dirs) : dirs_(std::move(cgroup_dirs)) {
    sample();
}

void JobUsageMeter::sample() {
    long long mem = first_number(dirs_, {"memory.current", "memory.usage_in_bytes"});
    if (mem > sampled_memory_) sampled_memory_ = mem;
    long long tasks = first_number(dirs_, {"pids.current"});
    // Without a pids controller: the tasks listed in the v2 group.
    if (tasks < 0 && !dirs_.empty()) tasks = count_lines(dirs_.front() + "/cgroup.threads");
    if (tasks > sampled_tasks_) sampled_tasks_ = tasks;
}

JobUsage JobUsageMeter::read() const {
    JobUsage u;
    for (const auto& d : dirs_) {
        long long user = keyed(d + "/cpu.stat", "user_usec");
        long long sys = keyed(d + "/cpu.stat", "system_usec");
        if (user >= 0 && sys >= 0) {
            u.cpu_user_seconds = static_cast<double>(user) / 1e6;
            u.cpu_system_seconds = static_cast<double>(sys) / 1e6;
            break;
        }
        // v1 cpuacct: USER_HZ ticks.
        user = keyed(d + "/cpuacct.stat", "user");
        sys = keyed(d + "/cpuacct.stat", "system");
        if (user >= 0 && sys >= 0) {
            double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
            u.cpu_user_seconds = static_cast<double>(user) / hz;
            u.cpu_system_seconds = static_cast<double>(sys) / hz;
            break;
        }
    }
    u.memory_peak_bytes = first_number(dirs_, {"memory.peak", "memory.max_usage_in_bytes"});
    if (u.memory_peak_bytes < 0) u.memory_peak_bytes = sampled_memory_;
    else if (sampled_memory_ > u.memory_peak_bytes) u.memory_peak_bytes = sampled_memory_;
    for (const auto& d : dirs_) {
        // memory.events counts kills in the group (v2); memory.oom_control
        // carries oom_kill on v1 since Linux 4.13.
        long long k = keyed(d + "/memory.events", "oom_kill");
        if (k < 0) k = keyed(d + "/memory.oom_control", "oom_kill");
        if (k >= 0) {
            u.oom_kills = k;
            break;
        }
    }
    u.tasks_peak = first_number(dirs_, {"pids.peak"});
    if (sampled_tasks_ > u.tasks_peak) u.tasks_peak = sampled_tasks_;
    return u;
}

std::string describe_usage(const JobUsage& u) {
    std::string out;
    char buf[96];
    auto part = [&](const char* s) {
        if (!out.empty()) out += "; ";
        out += s;
    };
    if (u.cpu_user_seconds >= 0) {
        snprintf(buf, sizeof buf, "CPU %.2f s user, %.2f s system", u.cpu_user_seconds, u.cpu_system_seconds);
        part(buf);
    }
    if (u.memory_peak_bytes >= 0) {
        snprintf(buf, sizeof buf, "peak memory %.1f MiB", static_cast<double>(u.memory_peak_bytes) / (1 << 20));
        part(buf);
    }
    if (u.tasks_peak >= 0) {
        snprintf(buf, sizeof buf, "peak tasks %lld", u.tasks_peak);
        part(buf);
    }
    if (u.oom_kills >= 0) {
        snprintf(buf, sizeof buf, "OOM kills %lld", u.oom_kills);
        part(buf);
    }
    return out.empty() ? "resource usage unknown (no job cgroup)" : out;
}

}  // namespace sa
