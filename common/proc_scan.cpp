#include "common/proc_scan.hpp"

#include "common/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>

namespace sa {

namespace {

template <class F>
void for_each_pid(F&& f) {
    DIR* d = opendir("/proc");
    if (!d) return;
    while (dirent* e = readdir(d)) {
        char* end;
        long pid = std::strtol(e->d_name, &end, 10);
        if (*end == '\0' && pid > 0) f(static_cast<pid_t>(pid));
    }
    closedir(d);
}

std::string read_small_file(const std::string& path, size_t cap) {
    auto text = read_file(path, {.max_bytes = cap});
    return text ? std::move(text.value()) : std::string();
}

// Parent pid from /proc/PID/stat; the command name may hold spaces and
// parentheses, so parse from the last ')'.
pid_t parent_of(pid_t pid) {
    std::string s = read_small_file("/proc/" + std::to_string(pid) + "/stat", 4096);
    size_t rp = s.rfind(')');
    if (rp == std::string::npos || rp + 4 >= s.size()) return -1;
    return static_cast<pid_t>(std::strtol(s.c_str() + rp + 4, nullptr, 10));
}

std::vector<pid_t> find_all(pid_t root, std::string_view env_entry) {
    std::vector<pid_t> out = find_descendants(root);
    if (!env_entry.empty()) {
        for (pid_t p : find_with_env(env_entry))
            if (p != root && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    }
    return out;
}

void signal_all(const std::vector<pid_t>& pids, int sig) {
    for (pid_t p : pids) ::kill(p, sig);
}

}  // namespace

std::vector<pid_t> find_descendants(pid_t root) {
    std::unordered_map<pid_t, pid_t> parent;
    for_each_pid([&](pid_t p) { parent[p] = parent_of(p); });
    std::vector<pid_t> out;
    for (const auto& [pid, ppid] : parent) {
        pid_t up = ppid;
        for (int depth = 0; up > 1 && depth < 4096; depth++) {
            if (up == root) {
                out.push_back(pid);
                break;
            }
            auto it = parent.find(up);
            if (it == parent.end()) break;
            up = it->second;
        }
    }
    return out;
}

std::vector<pid_t> find_with_env(std::string_view env_entry) {
    std::vector<pid_t> out;
    pid_t self = ::getpid();
    for_each_pid([&](pid_t p) {
        if (p == self) return;
        std::string env = read_small_file("/proc/" + std::to_string(p) + "/environ", 1 << 20);
        size_t pos = 0;
        while (pos < env.size()) {
            size_t end = env.find('\0', pos);
            if (end == std::string::npos) end = env.size();
            if (std::string_view(env.data() + pos, end - pos) == env_entry) {
                out.push_back(p);
                return;
            }
            pos = end + 1;
        }
    });
    return out;
}

int kill_job_processes(pid_t root, std::string_view env_entry, int grace_ms, void (*reap)(void*),
                       void* reap_arg) {
    using clock = std::chrono::steady_clock;
    std::vector<pid_t> termed;
    auto deadline = clock::now() + std::chrono::milliseconds(grace_ms);
    // Polite phase: SIGTERM to each process once, as it appears.
    for (;;) {
        if (reap) reap(reap_arg);
        auto pids = find_all(root, env_entry);
        if (pids.empty()) return static_cast<int>(termed.size());
        for (pid_t p : pids) {
            if (std::find(termed.begin(), termed.end(), p) != termed.end()) continue;
            ::kill(p, SIGTERM);
            ::kill(p, SIGCONT);  // a stopped process cannot act on SIGTERM
            termed.push_back(p);
        }
        if (clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Forceful phase: freeze everything first, so nothing forks while we kill.
    for (int round = 0; round < 200; round++) {
        if (reap) reap(reap_arg);
        auto pids = find_all(root, env_entry);
        if (pids.empty()) break;
        signal_all(pids, SIGSTOP);
        signal_all(pids, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (reap) reap(reap_arg);
    return static_cast<int>(termed.size());
}

}  // namespace sa
