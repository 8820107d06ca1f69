#include "worker/sandbox.hpp"

#include "common/cgroup.hpp"
#include "common/fs.hpp"
#include "common/job_env.hpp"
#include "common/proc_scan.hpp"
#include "common/random.hpp"
#include "worker/pty_pump.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern char** environ;

namespace sa {

namespace {

// Every process of the job carries it; how the agent finds them without a
// cgroup. Outside SEMAPHORE_AGENT_*: no agent setting ever reaches a job.
constexpr const char* kMarkerName = "SEMAPHORE_JOB_PROCESS_MARKER";

// How long job processes get between SIGTERM and SIGKILL when the job ends.
constexpr int kKillGraceMs = 2000;

std::string home_dir() {
    if (const char* h = getenv("HOME"); h && *h) return h;
    if (passwd* pw = getpwuid(getuid())) return pw->pw_dir;
    return "/";
}

// The job's process environment: what the supervisor passed, filtered
// again (an older supervisor passed everything), with the marker; with a
// job user, only the login variables, those of the user from the password
// database. Compose jobs keep the docker client's variables (kDockerClientEnv).
std::vector<std::string> shell_env(const std::string& marker_entry, const passwd* pw, bool compose) {
    std::vector<std::string> env;
    auto scope = pw ? JobEnvScope::LoginOnly : JobEnvScope::Inherited;
    for (auto& e : job_environment(environ, scope, {}, compose)) {
        bool replaced = e.rfind(kMarkerName, 0) == 0 && e[std::strlen(kMarkerName)] == '=';
        if (pw)
            for (const char* k : {"HOME=", "USER=", "LOGNAME=", "SHELL="})
                replaced = replaced || e.rfind(k, 0) == 0;
        if (!replaced) env.push_back(std::move(e));
    }
    env.push_back(marker_entry);
    if (pw) {
        env.push_back(std::string("HOME=") + pw->pw_dir);
        env.push_back(std::string("USER=") + pw->pw_name);
        env.push_back(std::string("LOGNAME=") + pw->pw_name);
        env.push_back(std::string("SHELL=") + (pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/bash"));
    }
    return env;
}

// Looks the job's user up in the password and group databases.
Result<ShellUser> resolve_user(const std::string& name, passwd& pw, std::string& buf) {
    passwd* found = nullptr;
    buf.resize(16384);
    if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
        return err("job-user: no user '" + name + "' in the password database");
    if (geteuid() != 0) return err("job-user: the agent must run as root to switch to " + name);
    ShellUser u;
    u.uid = pw.pw_uid;
    u.gid = pw.pw_gid;
    int n = 64;
    u.groups.resize(static_cast<size_t>(n));
    while (getgrouplist(pw.pw_name, pw.pw_gid, u.groups.data(), &n) < 0) u.groups.resize(static_cast<size_t>(n));
    u.groups.resize(static_cast<size_t>(n));
    return u;
}

// Waits up to `ms` for the cgroup to hold no process; true once it holds
// none. kernfs wakes a poller of cgroup.events (POLLPRI) when `populated`
// changes, so the last exit ends the wait at once: a fixed 20 ms sleep here
// cost the end of every job 20 ms (issue 20). Each poll is still capped at
// 20 ms, in case no wake-up comes. The descriptor is polled, so this reads
// it by hand rather than with read_file.
bool wait_cgroup_empty(const std::string& events, int ms, PtyShell* shell) {
    long long deadline = monotonic_ms() + ms;
    for (;;) {
        reap_all(shell);
        UniqueFd fd(open(events.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd.valid()) return true;  // the cgroup is gone
        char buf[256];
        ssize_t n = read(fd.get(), buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        long long left = deadline - monotonic_ms();
        if (!std::strstr(buf, "populated 1") || left <= 0) return !std::strstr(buf, "populated 1");
        struct pollfd p{fd.get(), POLLPRI, 0};
        poll(&p, 1, static_cast<int>(left < 20 ? left : 20));
    }
}

// SIGTERM to everything in the job's cgroup, then, after the grace period,
// cgroup.kill for whatever is left: nothing escapes a cgroup.
void end_cgroup_processes(const std::string& dir, PtyShell* shell) {
    std::string events = dir + "/cgroup.events";
    if (!cgroup_populated(dir)) return;
    for (pid_t pid : cgroup_pids(dir)) {
        kill(pid, SIGTERM);
        kill(pid, SIGCONT);
    }
    if (wait_cgroup_empty(events, kKillGraceMs, shell)) return;
    if (!cgroup_kill(dir)) {
        /* old kernel: the /proc sweep after this does it */
    }
    wait_cgroup_empty(events, 1000, shell);
}

}  // namespace

void reap_all(void* shell) {
    auto* sh = static_cast<PtyShell*>(shell);
    int st;
    for (pid_t p; (p = waitpid(-1, &st, WNOHANG)) > 0;)
        if (sh && p == sh->pid()) sh->mark_exited(st);
}

Sandbox::Sandbox(const RunOptions& opts, bool compose) : opts_(opts), home_(home_dir()) {
    marker_entry_ = std::string(kMarkerName) + "=" + (opts.marker.empty() ? random_hex(16) : opts.marker);
    spec_.cgroup_procs = opts.cgroup_procs;
    spec_.cgroup_dir = opts.cgroup_dir;
    passwd pw{};
    std::string pwbuf;
    if (!opts.job_user.empty()) {
        auto u = resolve_user(opts.job_user, pw, pwbuf);
        if (u) {
            spec_.switch_user = true;
            spec_.user = *u;
            home_ = pw.pw_dir;
        } else {
            user_error_ = u.message();
        }
    }
    spec_.env = shell_env(marker_entry_, spec_.switch_user ? &pw : nullptr, compose);
    spec_.cwd = home_;
    spec_.strict = opts.isolation == "strict";
    spec_.shell_dir = opts.job_dir + "/shell";
}

std::string Sandbox::make_shell_dir() {
    const std::string& job_dir = opts_.job_dir;
    const std::string& dir = spec_.shell_dir;
    mkdir(dir.c_str(), 0700);
    if (spec_.switch_user) {
        // The job's user may pass through the job directory (0710, its group)
        // to reach its own shell directory, and read nothing else there. The
        // shell directory stays the worker's (0750, the user's group): the
        // user reads its files but cannot swap one for a link, which the
        // worker, as root, would then write through.
        if (chown(job_dir.c_str(), static_cast<uid_t>(-1), spec_.user.gid) == 0)
            chmod(job_dir.c_str(), 0710);
        if (chown(dir.c_str(), static_cast<uid_t>(-1), spec_.user.gid) == 0) chmod(dir.c_str(), 0750);
    }
    // The command file, the job user's from the start; a failure shows when
    // bash cannot read it.
    if (!write_file(dir + "/command", "",
                    {.no_follow = true, .uid = owner_uid(), .gid = owner_gid()})) {
    }
    return dir;
}

void Sandbox::end_job_processes(PtyShell* shell) {
    // The shell at once: an interactive bash ignores SIGTERM.
    if (shell && shell->alive()) kill(shell->pid(), SIGKILL);
    if (shell) shell->close_master();
    // reap_all records the shell's exit in it when it reaps it, so that
    // ~PtyShell never signals a pid that may have been handed out again.
    if (!opts_.cgroup_dir.empty()) end_cgroup_processes(opts_.cgroup_dir, shell);
    // Without a cgroup (or for anything that left it): descendants and marker.
    kill_job_processes(getpid(), marker_entry_, kKillGraceMs, reap_all, shell);
}

void Sandbox::remove_leftovers() {
    remove_tree(opts_.job_dir);
    for (const auto& procs : opts_.cgroup_procs)  // empty now: removable
        rmdir(procs.substr(0, procs.rfind('/')).c_str());
}

}  // namespace sa
