// semaphore-agent-worker: runs one job. Started by the supervisor with its
// end of a socketpair as fd 3; receives the job there, streams events back,
// and exits when the job and every process it started are gone.
#include "command_runner.hpp"
#include "event.hpp"
#include "job_request.hpp"
#include "job_script.hpp"
#include "json.hpp"
#include "proc_scan.hpp"
#include "pty_shell.hpp"
#include "random.hpp"
#include "supervisor_link.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace {

// How long job processes get between SIGTERM and SIGKILL when the job ends.
constexpr int kKillGraceMs = 2000;

std::string home_dir() {
    if (const char* h = getenv("HOME"); h && *h) return h;
    if (passwd* pw = getpwuid(getuid())) return pw->pw_dir;
    return "/";
}

std::vector<std::string> shell_env(const std::string& marker_entry) {
    std::vector<std::string> env;
    for (char** e = environ; *e; e++) {
        if (std::strncmp(*e, "SEMAPHORE_AGENT_JOB_MARKER=", 27) == 0) continue;
        env.emplace_back(*e);
    }
    env.push_back(marker_entry);
    return env;
}

void reap_all(void*) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}

struct Setup {
    sa::JobRequest job;
    sa::JobOptions opts;
};

sa::Result<Setup> read_job(sa::SupervisorLink& link) {
    auto frame = link.read_frame_blocking();
    if (!frame || frame->type != sa::FrameType::Job) return sa::err("no job frame received");
    json_error_t jerr;
    sa::JsonPtr root(json_loadb(frame->payload.data(), frame->payload.size(), 0, &jerr));
    if (!root) return sa::err(std::string("job frame: ") + jerr.text);
    auto job = sa::parse_job_request(json_object_get(root.get(), "job"));
    if (!job) return job.error();
    auto opts = sa::parse_job_options(json_object_get(root.get(), "options"));
    if (!opts) return opts.error();
    return Setup{std::move(job.value()), std::move(opts.value())};
}

// Everything of the job goes: the shell at once (an interactive bash ignores
// SIGTERM), the rest with SIGTERM and then SIGKILL after the grace period.
void end_job_processes(sa::PtyShell& shell, const std::string& marker_entry) {
    if (shell.alive()) kill(shell.pid(), SIGKILL);
    shell.close_master();
    sa::kill_job_processes(getpid(), marker_entry, kKillGraceMs, reap_all, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
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
    const auto& opts = setup->opts;
    std::string marker = opts.marker.empty() ? sa::random_hex(16) : opts.marker;
    std::string marker_entry = "SEMAPHORE_AGENT_JOB_MARKER=" + marker;
    std::string home = home_dir();

    link.send_event(sa::event_job_started(sa::unix_now()));
    sa::ShellSpec spec;
    spec.env = shell_env(marker_entry);
    spec.cwd = home;
    auto shell = sa::PtyShell::start(spec);
    std::string result = "failed";
    if (!shell) {
        link.send_event(sa::event_cmd_output(sa::unix_now(),
                                             "Failed to start the shell: " + shell.message() + "\n"));
    } else {
        sa::CommandRunner runner(*shell, link, opts.job_dir + "/command", sa::random_hex(16),
                                 sigfd.get());
        if (!runner.wait_ready()) {
            link.send_event(sa::event_cmd_output(sa::unix_now(), "The shell exited during start-up.\n"));
            result = link.stop_requested() ? "stopped" : "failed";
        } else {
            sa::JobScript script(setup->job, opts, runner, link, home);
            result = script.run();
        }
        end_job_processes(*shell, marker_entry);
    }
    link.send_event(sa::event_job_finished(sa::unix_now(), result));
    link.send(sa::FrameType::Done, result);
    return 0;
}
