#include "common/cgroup.hpp"

#include "common/fs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace sa {

namespace {

// cgroup and /proc files, read whole (mountinfo and cgroup.procs have no
// upper size, and a cut line would be misread), and "" when unreadable (as
// if empty).
std::string read_text(const std::string& path) {
    auto text = read_file(path, {.max_bytes = kNoReadLimit});
    return text ? std::move(text.value()) : std::string();
}

// Writes one value into an existing control file.
bool write_value(const std::string& path, const std::string& value, std::string* why = nullptr) {
    auto st = write_file(path, value, {.how = WriteMode::Existing});
    if (!st && why)
        *why = st.failed == FileStep::Open ? path + ": " + st.reason()
                                           : "writing '" + value + "' to " + path + ": " + st.reason();
    return bool(st);
}

// Calls f(line) for each line of text, without the newline.
template <class F>
void each_line(const std::string& text, F f) {
    for (size_t pos = 0; pos < text.size();) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        f(std::string_view(text).substr(pos, nl - pos));
        pos = nl + 1;
    }
}

// The n-th (from 0) field of s split at any of `seps`, or "".
std::string_view field(std::string_view s, size_t n, const char* seps) {
    size_t pos = 0;
    for (;;) {
        pos = s.find_first_not_of(seps, pos);
        if (pos == std::string_view::npos) return {};
        size_t end = s.find_first_of(seps, pos);
        if (end == std::string_view::npos) end = s.size();
        if (n-- == 0) return s.substr(pos, end - pos);
        pos = end;
    }
}

bool has_word(std::string_view list, std::string_view word, const char* seps = " \t\n") {
    for (size_t i = 0;; i++) {
        std::string_view w = field(list, i, seps);
        if (w.empty()) return false;
        if (w == word) return true;
    }
}

// Mount points by filesystem type (and, for v1, the controller option).
std::string mount_point(const std::string& fstype, const std::string& option) {
    std::string found;
    each_line(read_text("/proc/self/mountinfo"), [&](std::string_view line) {
        size_t sep = line.find(" - ");
        if (!found.empty() || sep == std::string_view::npos) return;
        std::string_view post = line.substr(sep + 3);
        if (field(post, 0, " ") != fstype) return;
        if (option.empty() || has_word(field(post, 2, " "), option, ","))
            found = std::string(field(line.substr(0, sep), 4, " "));
    });
    return found;
}

// This process's path in a hierarchy from /proc/self/cgroup: "0" for v2,
// or the v1 controller name.
std::string own_path(const std::string& key) {
    std::string found;
    bool done = false;
    each_line(read_text("/proc/self/cgroup"), [&](std::string_view line) {
        size_t a = line.find(':'), b = line.find(':', a + 1);
        if (done || a == std::string_view::npos || b == std::string_view::npos) return;
        std::string_view id = line.substr(0, a), ctrls = line.substr(a + 1, b - a - 1);
        if (key == "0" ? id == "0" : has_word(ctrls, key, ",")) {
            found = std::string(line.substr(b + 1));
            done = true;
        }
    });
    return found;
}

// A v1 group for one controller beside our own v1 group.
Result<std::string> make_v1(const std::string& controller, const std::string& name) {
    std::string mnt = mount_point("cgroup", controller);
    if (mnt.empty()) return err("no cgroup controller '" + controller + "' on this host");
    std::string dir = mnt + own_path(controller) + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return err("cannot create " + dir + ": " + std::strerror(errno));
    return dir;
}

}  // namespace

std::string limit_keys(const CgroupLimits& limits) {
    std::string out;
    auto add = [&](bool set, const char* key) {
        if (!set) return;
        if (!out.empty()) out += ", ";
        out += key;
    };
    add(limits.memory_max > 0, "job-memory-max");
    add(limits.pids_max > 0, "job-pids-max");
    add(limits.cpu_max > 0, "job-cpu-max");
    return out;
}

std::string own_cgroup_v2_dir() {
    std::string mnt = mount_point("cgroup2", "");
    if (mnt.empty()) return "";
    std::string p = own_path("0");
    return p == "/" ? mnt : mnt + p;
}

Result<std::string> move_self_to_leaf() {
    std::string own = own_cgroup_v2_dir();
    if (own.empty()) return err("no cgroup v2 hierarchy is mounted");
    if (own == mount_point("cgroup2", "")) return own;
    std::string leaf = own + "/agent";
    if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST)
        return err("cannot create " + leaf + ": " + std::strerror(errno));
    std::string why;
    if (!write_value(leaf + "/cgroup.procs", std::to_string(::getpid()), &why)) return err(why);
    return own;
}

Status probe_limits(const std::string& parent, const std::string& name, const CgroupLimits& limits) {
    if (parent == "none") return err("job cgroups are turned off (job-cgroup-parent: none)");
    if (parent.empty()) return err("no cgroup v2 hierarchy is mounted");
    auto g = JobCgroup::create(parent, name, limits);
    if (!g) return g.error();
    return Ok{};  // the group is removed as g goes
}

std::vector<std::string> limit_warnings(const std::string& cgroup_parent, const CgroupLimits& limits) {
    std::vector<std::string> out;
    if (!limits.any()) return out;
    if (cgroup_parent == "none") {
        out.push_back(limit_keys(limits) + " cannot be applied: job cgroups are turned off "
                      "(job-cgroup-parent: none), and every job would fail");
        return out;
    }
    if (!cgroup_parent.empty() && ::access(cgroup_parent.c_str(), F_OK) != 0) {
        out.push_back(limit_keys(limits) + " cannot be applied: job-cgroup-parent " + cgroup_parent +
                      ": " + std::strerror(errno) + ", and every job would fail");
        return out;
    }
    std::string v2 = mount_point("cgroup2", "");
    // Under systemd the agent's own cgroup is delegated with the controllers
    // the root offers; an explicit parent offers its own.
    std::string parent = cgroup_parent.empty() ? v2 : cgroup_parent;
    std::string offered = parent.empty() ? "" : read_text(parent + "/cgroup.controllers");
    struct Want {
        bool set;
        const char* key;
        const char* controller;
    };
    for (const Want& w : {Want{limits.memory_max > 0, "job-memory-max", "memory"},
                          Want{limits.pids_max > 0, "job-pids-max", "pids"},
                          Want{limits.cpu_max > 0, "job-cpu-max", "cpu"}}) {
        if (!w.set || has_word(offered, w.controller)) continue;
        std::string key = w.key, ctrl = w.controller;
        std::string v1 = mount_point("cgroup", ctrl);
        if (v1.empty()) {
            out.push_back(key + " cannot be applied on this host: " +
                          (parent.empty() ? std::string("no cgroup v2 hierarchy")
                                          : parent + "/cgroup.controllers lacks " + ctrl) +
                          " and no cgroup v1 hierarchy has it, so every job would fail");
            continue;
        }
        if (parent.empty()) {
            out.push_back(key + " cannot be applied on this host: job cgroups need a cgroup v2 "
                          "hierarchy, and every job would fail");
            continue;
        }
        std::string own = own_path(ctrl);
        std::string dir = own == "/" ? v1 : v1 + own;
        if (::geteuid() == 0) {
            out.push_back(key + ": the " + ctrl + " controller is only in cgroup v1 on this host "
                          "(a hybrid host): an agent running as root applies it, one running as "
                          "another user (the packaged service's User=semaphore) cannot, and all "
                          "its jobs would fail");
        } else if (::access(dir.c_str(), W_OK) != 0) {
            out.push_back(key + " cannot be applied by this user (uid " + std::to_string(::getuid()) +
                          ") on this host: the " + ctrl + " controller is only in cgroup v1 (a "
                          "hybrid host) and " + dir + " is not writable (" + std::strerror(errno) +
                          "), so every job would fail; run the agent as root, or drop the limit");
        }
    }
    return out;
}

Result<JobCgroup> JobCgroup::create(const std::string& parent, const std::string& name,
                                    const CgroupLimits& limits) {
    JobCgroup g;
    std::string dir = parent + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0)
        return err("cannot create the job cgroup " + dir + ": " + std::strerror(errno));
    g.dirs_.push_back(dir);
    if (!limits.any()) return g;

    // Limits: the v2 controller where the parent offers it (enabling it for
    // children), else the v1 hierarchy of that controller.
    std::string offered = read_text(parent + "/cgroup.controllers");
    auto v2_enable = [&](const char* ctrl) {
        if (!has_word(offered, ctrl)) return false;
        write_value(parent + "/cgroup.subtree_control", std::string("+") + ctrl);
        return has_word(read_text(dir + "/cgroup.controllers"), ctrl);
    };
    std::string why;
    if (limits.pids_max > 0) {
        std::string v = std::to_string(limits.pids_max);
        if (v2_enable("pids")) {
            if (!write_value(dir + "/pids.max", v, &why)) return err(why);
        } else {
            auto d = make_v1("pids", name);
            if (!d) return d.error();
            g.dirs_.push_back(*d);
            if (!write_value(*d + "/pids.max", v, &why)) return err(why);
        }
    }
    if (limits.memory_max > 0) {
        std::string v = std::to_string(limits.memory_max);
        if (v2_enable("memory")) {
            if (!write_value(dir + "/memory.max", v, &why)) return err(why);
            write_value(dir + "/memory.swap.max", "0");
        } else {
            auto d = make_v1("memory", name);
            if (!d) return d.error();
            g.dirs_.push_back(*d);
            if (!write_value(*d + "/memory.limit_in_bytes", v, &why)) return err(why);
            write_value(*d + "/memory.memsw.limit_in_bytes", v);
        }
    }
    if (limits.cpu_max > 0) {
        long long period = 100000;
        // Rounded by hand (cpu_max > 0): std::llround is libm's, and the
        // worker, which links this file for join_cgroups_raw, would map all
        // of libm (~0.3 MB resident) for it.
        long long quota = static_cast<long long>(limits.cpu_max * static_cast<double>(period) + 0.5);
        if (v2_enable("cpu")) {
            if (!write_value(dir + "/cpu.max", std::to_string(quota) + " " + std::to_string(period), &why))
                return err(why);
        } else {
            auto d = make_v1("cpu", name);
            if (!d) return d.error();
            g.dirs_.push_back(*d);
            if (!write_value(*d + "/cpu.cfs_period_us", std::to_string(period), &why) ||
                !write_value(*d + "/cpu.cfs_quota_us", std::to_string(quota), &why))
                return err(why);
        }
    }
    return g;
}

JobCgroup::JobCgroup(JobCgroup&& o) noexcept : dirs_(std::move(o.dirs_)) { o.dirs_.clear(); }

JobCgroup::~JobCgroup() {
    if (dirs_.empty()) return;
    if (populated()) kill_all();
    remove();
}

std::vector<std::string> JobCgroup::procs_files() const {
    std::vector<std::string> out;
    for (const auto& d : dirs_) out.push_back(d + "/cgroup.procs");
    return out;
}

std::vector<pid_t> cgroup_pids(const std::string& dir) {
    std::vector<pid_t> out;
    std::string text = read_text(dir + "/cgroup.procs");
    for (const char* p = text.c_str();;) {
        char* end;
        long pid = std::strtol(p, &end, 10);
        if (end == p) break;
        out.push_back(static_cast<pid_t>(pid));
        p = end;
    }
    return out;
}

bool cgroup_populated(const std::string& dir) {
    std::string ev = read_text(dir + "/cgroup.events");
    if (ev.empty()) return !cgroup_pids(dir).empty();
    return ev.find("populated 1") != std::string::npos;
}

bool cgroup_kill(const std::string& dir) { return write_value(dir + "/cgroup.kill", "1"); }

std::vector<pid_t> JobCgroup::pids() const {
    if (dirs_.empty()) return {};
    return cgroup_pids(path());
}

bool JobCgroup::populated() const { return !dirs_.empty() && cgroup_populated(path()); }

void JobCgroup::kill_all() const {
    if (dirs_.empty()) return;
    if (cgroup_kill(path())) return;
    // Kernels before 5.14: freeze, kill each process, thaw so they can die.
    bool frozen = write_value(path() + "/cgroup.freeze", "1");
    for (int round = 0; round < 100; round++) {
        auto pids_now = pids();
        if (pids_now.empty()) break;
        for (pid_t p : pids_now) ::kill(p, SIGKILL);
        if (frozen) write_value(path() + "/cgroup.freeze", "0");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

bool JobCgroup::remove() {
    bool ok = true;
    // A cgroup is removable only once its last process is reaped: retry briefly.
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
        bool gone = false;
        for (int i = 0; i < 200 && !gone; i++) {
            gone = ::rmdir(it->c_str()) == 0 || errno == ENOENT;
            if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ok = ok && gone;
    }
    if (ok) dirs_.clear();
    return ok;
}

// Between fork and exec: no allocation, only open/write/close.
bool join_cgroups_raw(const char* const* procs_files, pid_t pid) {
    char buf[24];
    int n = 0;
    char tmp[24];
    do {
        tmp[n++] = static_cast<char>('0' + pid % 10);
        pid /= 10;
    } while (pid > 0);
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    for (const char* const* f = procs_files; *f; f++) {
        int fd = ::open(*f, O_WRONLY | O_CLOEXEC);
        if (fd < 0) return false;
        bool ok = ::write(fd, buf, static_cast<size_t>(n)) == n;
        ::close(fd);
        if (!ok) return false;
    }
    return true;
}

}  // namespace sa
