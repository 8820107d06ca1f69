// semaphore-agent-worker: runs one job. Started by the supervisor with its
// end of a socketpair as fd 3; receives the job there, streams events back,
// and exits when the job and every process it started are gone.
#include "common/cgroup.hpp"
#include "worker/command_runner.hpp"
#include "worker/compose_job.hpp"
#include "common/event.hpp"
#include "common/fs.hpp"
#include "common/job_env.hpp"
#include "common/job_request.hpp"
#include "worker/job_script.hpp"
#include "common/job_result.hpp"
#include "common/json.hpp"
#include "common/name_services.hpp"
#include "common/proc_scan.hpp"
#include "worker/pty_shell.hpp"
#include "common/random.hpp"
#include "worker/supervisor_link.hpp"
#include "common/worker_protocol.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char** environ;

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
    auto scope = pw ? sa::JobEnvScope::LoginOnly : sa::JobEnvScope::Inherited;
    for (auto& e : sa::job_environment(environ, scope, {}, compose)) {
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
sa::Result<sa::ShellUser> resolve_user(const std::string& name, passwd& pw, std::string& buf) {
    passwd* found = nullptr;
    buf.resize(16384);
    if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
        return sa::err("job-user: no user '" + name + "' in the password database");
    if (geteuid() != 0) return sa::err("job-user: the agent must run as root to switch to " + name);
    sa::ShellUser u;
    u.uid = pw.pw_uid;
    u.gid = pw.pw_gid;
    int n = 64;
    u.groups.resize(static_cast<size_t>(n));
    while (getgrouplist(pw.pw_name, pw.pw_gid, u.groups.data(), &n) < 0) u.groups.resize(static_cast<size_t>(n));
    u.groups.resize(static_cast<size_t>(n));
    return u;
}

void reap_all(void*) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}

// The JOB frame, decoded once (common/worker_protocol.hpp).
sa::Result<sa::WorkerJob> read_job(sa::SupervisorLink& link) {
    auto frame = link.read_frame_blocking();
    if (!frame || frame->type != sa::FrameType::Job) return sa::err("no job frame received");
    return sa::worker_protocol::decode(frame->payload);
}

// Waits up to `ms` for the cgroup to hold no process; true once it holds
// none. kernfs wakes a poller of cgroup.events (POLLPRI) when `populated`
// changes, so the last exit ends the wait at once: a fixed 20 ms sleep here
// cost the end of every job 20 ms (issue 20). Each poll is still capped at
// 20 ms, in case no wake-up comes.
bool wait_cgroup_empty(const std::string& events, int ms) {
    long long deadline = sa::monotonic_ms() + ms;
    for (;;) {
        reap_all(nullptr);
        int fd = open(events.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return true;  // the cgroup is gone
        char buf[256];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        long long left = deadline - sa::monotonic_ms();
        if (!std::strstr(buf, "populated 1") || left <= 0) {
            close(fd);
            return !std::strstr(buf, "populated 1");
        }
        struct pollfd p{fd, POLLPRI, 0};
        poll(&p, 1, static_cast<int>(left < 20 ? left : 20));
        close(fd);
    }
}

// SIGTERM to everything in the job's cgroup, then, after the grace period,
// cgroup.kill for whatever is left: nothing escapes a cgroup.
void end_cgroup_processes(const std::string& dir) {
    std::string procs = dir + "/cgroup.procs", events = dir + "/cgroup.events";
    auto read_all = [](const std::string& path) {
        std::string s;
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return s;
        char buf[4096];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
        close(fd);
        return s;
    };
    auto populated = [&] { return read_all(events).find("populated 1") != std::string::npos; };
    if (!populated()) return;
    std::string listed = read_all(procs);
    for (const char* p = listed.c_str(); *p;) {
        char* end;
        long pid = std::strtol(p, &end, 10);
        if (end == p) break;
        kill(static_cast<pid_t>(pid), SIGTERM);
        kill(static_cast<pid_t>(pid), SIGCONT);
        p = end;
    }
    if (wait_cgroup_empty(events, kKillGraceMs)) return;
    int fd = open((dir + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "1", 1) != 1) { /* old kernel: the /proc sweep below does it */ }
        close(fd);
    }
    wait_cgroup_empty(events, 1000);
}

// Everything of the job goes: the shell at once (an interactive bash ignores
// SIGTERM), the rest with SIGTERM and then SIGKILL after the grace period.
void end_job_processes(sa::PtyShell* shell, const std::string& marker_entry,
                       const std::string& cgroup_dir) {
    if (shell && shell->alive()) kill(shell->pid(), SIGKILL);
    if (shell) shell->close_master();
    if (!cgroup_dir.empty()) end_cgroup_processes(cgroup_dir);
    // Without a cgroup (or for anything that left it): descendants and marker.
    sa::kill_job_processes(getpid(), marker_entry, kKillGraceMs, reap_all, nullptr);
}

// Why bash never became ready, from the exit status the forked child used.
std::string startup_failure(const sa::PtyShell& shell) {
    int st = shell.wait_status();
    if (shell.alive() || !WIFEXITED(st)) return "The shell exited during start-up.\n";
    switch (WEXITSTATUS(st)) {
    case 120: return "Could not set up strict isolation (namespaces, private /tmp).\n";
    case 121: return "Could not put the job's shell into the job's cgroup.\n";
    case 122: case 123: case 124: case 125: return "Could not switch to the job's user.\n";
    case 126: return "Could not set up the job's terminal.\n";
    case 127: return "Could not run bash: is it installed?\n";
    default: return "The shell exited during start-up with status " + std::to_string(WEXITSTATUS(st)) + ".\n";
    }
}

// The command and env files live in a directory only the job's user can read.
std::string make_shell_dir(const std::string& job_dir, const sa::ShellSpec& spec) {
    std::string dir = job_dir + "/shell";
    mkdir(dir.c_str(), 0700);
    std::string cmd = dir + "/command";
    int fd = open(cmd.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (spec.switch_user) {
        // The job's user may pass through the job directory (0710, its group)
        // to reach its own shell directory, and read nothing else there. The
        // shell directory stays the worker's (0750, the user's group): the
        // user reads its files but cannot swap one for a link, which the
        // worker, as root, would then write through.
        if (chown(job_dir.c_str(), static_cast<uid_t>(-1), spec.user.gid) == 0)
            chmod(job_dir.c_str(), 0710);
        if (chown(dir.c_str(), static_cast<uid_t>(-1), spec.user.gid) == 0) chmod(dir.c_str(), 0750);
        if (fd >= 0 && fchown(fd, spec.user.uid, spec.user.gid) != 0) { /* reported when bash cannot read */ }
    }
    if (fd >= 0) close(fd);
    return dir;
}

int finish(sa::SupervisorLink& link, const sa::JobOptions& opts, const std::string& result);

}  // namespace

int main(int argc, char** argv) {
    sa::pin_builtin_name_services();
    if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::puts("semaphore-agent-worker: runs one job for semaphore-agent.\n"
                  "Not meant to be started by hand: the agent starts it with the job\n"
                  "socket as file descriptor 3.");
        return 0;
    }
    if (fcntl(3, F_GETFD) < 0) {
        std::fputs("semaphore-agent-worker: fd 3 is not open; run jobs with `semaphore-agent run`\n",
                   stderr);
        return 2;
    }
    // Whatever the agent's process left open without close-on-exec (Debian
    // 12's libcurl opens its sockets so) must not reach the job.
    sa::close_from(4);
    fcntl(3, F_SETFD, FD_CLOEXEC);
    fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);
    // Orphans of the job are re-parented to us, so they can be found and reaped.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, nullptr);
    sa::UniqueFd sigfd(signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC));

    sa::SupervisorLink link(3);
    auto setup = read_job(link);
    if (!setup) {
        link.send(sa::FrameType::Log, "worker: " + setup.message());
        return 2;
    }
    const auto& opts = setup->options;
    std::string marker = opts.marker.empty() ? sa::random_hex(16) : opts.marker;
    std::string marker_entry = std::string(kMarkerName) + "=" + marker;
    std::string home = home_dir();

    link.send_event(sa::event_job_started(sa::unix_now()));
    sa::ShellSpec spec;
    spec.cgroup_procs = opts.cgroup_procs;
    spec.cgroup_dir = opts.cgroup_dir;
    passwd pw{};
    std::string pwbuf;
    std::string user_error;
    if (!opts.job_user.empty()) {
        auto u = resolve_user(opts.job_user, pw, pwbuf);
        if (u) {
            spec.switch_user = true;
            spec.user = *u;
            home = pw.pw_dir;
        } else {
            user_error = u.message();
        }
    }
    spec.env = shell_env(marker_entry, spec.switch_user ? &pw : nullptr,
                         setup->request.executor == "dockercompose");
    spec.cwd = home;
    spec.strict = opts.isolation == "strict";
    spec.shell_dir = opts.job_dir + "/shell";
    sa::ShellContext ctx{home, make_shell_dir(opts.job_dir, spec),
                         spec.switch_user ? spec.user.uid : static_cast<uid_t>(-1),
                         spec.switch_user ? spec.user.gid : static_cast<gid_t>(-1), ""};
    std::string result = sa::job_result_name(sa::JobResult::Failed);
    if (setup->request.executor == "dockercompose") {
        if (!user_error.empty()) {
            link.send(sa::FrameType::Log, user_error);
        } else {
            sa::ComposeJob compose(setup->request, opts, link, sigfd.get(), spec.env, home);
            result = compose.run();
        }
        link.flush();
        end_job_processes(nullptr, marker_entry, opts.cgroup_dir);
        return finish(link, opts, result);
    }
    auto shell = user_error.empty() ? sa::PtyShell::start(spec)
                                    : sa::Result<sa::PtyShell>(sa::err(user_error));
    if (!shell) {
        link.send_event(sa::event_cmd_output(sa::unix_now(),
                                             "Failed to start the shell: " + shell.message() + "\n"));
    } else {
        sa::CommandRunner runner(*shell, link, ctx.shell_dir + "/command", sa::random_hex(16),
                                 sigfd.get());
        // Unlike the original, no /tmp/restore-tty (executors.md 4.2): its
        // `stty -g` costs every job start a fork and exec (3 ms), nothing
        // reads it, and one fixed path in a shared /tmp is fought over by
        // agents and job users. Compose jobs keep it, inside the container.
        if (!runner.wait_ready()) {
            // A stop during start-up is no failure of the shell's.
            if (!link.stop_requested())
                link.send_event(sa::event_cmd_output(sa::unix_now(), startup_failure(*shell)));
            result = sa::job_result_name(link.stop_requested() ? sa::JobResult::Stopped : sa::JobResult::Failed);
        } else {
            sa::JobScript script(setup->request, opts, runner, link, ctx);
            result = script.run();
        }
        link.flush();  // the job's last step is out before the clean-up wait
        end_job_processes(&*shell, marker_entry, opts.cgroup_dir);
    }
    return finish(link, opts, result);
}

namespace {

int finish(sa::SupervisorLink& link, const sa::JobOptions& opts, const std::string& result) {
    link.send_event(sa::event_job_finished(sa::unix_now(), result));
    bool reported = link.send(sa::FrameType::Done, result);
    // The supervisor died (SIGKILL, crash): nobody will remove the job's
    // directory with its secrets, so the worker does.
    if (!reported || link.supervisor_gone()) {
        sa::remove_tree(opts.job_dir);
        for (const auto& procs : opts.cgroup_procs)  // empty now: removable
            rmdir(procs.substr(0, procs.rfind('/')).c_str());
    }
    return 0;
}

}  // namespace
