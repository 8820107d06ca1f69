// semaphore-agent-worker: runs one job. Started by the supervisor with its
// end of a socketpair as fd 3; receives the job there, streams events back,
// and exits when the job and every process it started are gone.
#include "common/event.hpp"
#include "common/fs.hpp"
#include "common/job_request.hpp"
#include "common/json.hpp"
#include "common/name_services.hpp"
#include "common/random.hpp"
#include "common/worker_protocol.hpp"
#include "worker/compose_job.hpp"
#include "worker/sandbox.hpp"
#include "worker/shell_job.hpp"
#include "worker/supervisor_link.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>

namespace {

// The JOB frame, decoded once (common/worker_protocol.hpp).
sa::Result<sa::WorkerJob> read_job(sa::SupervisorLink& link) {
    auto frame = link.read_frame_blocking();
    if (!frame || frame->type != sa::FrameType::Job) return sa::err("no job frame received");
    return sa::worker_protocol::decode(frame->payload);
}

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
    bool compose = setup->request.executor == "dockercompose";
    link.send_event(sa::event_job_started(sa::unix_now()));
    sa::Sandbox sandbox(opts, compose);
    std::string shell_dir = sandbox.make_shell_dir();
    std::optional<sa::PtyShell> shell;  // torn down after DONE (run_shell_job)
    std::string result =
        compose ? sa::run_compose_job(setup->request, opts, link, sigfd.get(), sandbox)
                : sa::run_shell_job(setup->request, opts, link, sigfd.get(), sandbox, shell_dir, shell);
    link.send_event(sa::event_job_finished(sa::unix_now(), result));
    bool reported = link.send(sa::FrameType::Done, result);
    // The supervisor died (SIGKILL, crash): nobody will remove the job's
    // directory with its secrets, so the worker does.
    if (!reported || link.supervisor_gone()) sandbox.remove_leftovers();
    return 0;
}
