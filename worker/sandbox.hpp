// The job's sandbox on the host: who the job runs as, the environment its
// processes get, the private shell directory, and the teardown that leaves
// no process of the job behind (its cgroup emptied, then a /proc sweep).
#pragma once

#include "worker/job_script.hpp"
#include "worker/pty_shell.hpp"

#include <pwd.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace sa {

class Sandbox {
public:
    // Resolves the job's user (opts.job_user) and builds the environment;
    // a user that cannot be taken leaves user_error() set. compose: the
    // docker client's variables are kept (host processes of compose jobs).
    Sandbox(const RunOptions& opts, bool compose);
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    // Why the job's user cannot be used, for the job or agent log; "" when fine.
    const std::string& user_error() const { return user_error_; }
    // The job's home: the job user's, or the worker's.
    const std::string& home() const { return home_; }
    // The full environment of the job's processes, with the job marker.
    const std::vector<std::string>& env() const { return spec_.env; }
    // Owner of the files given to the job; -1 when the job runs as the worker.
    uid_t owner_uid() const { return spec_.switch_user ? spec_.user.uid : static_cast<uid_t>(-1); }
    gid_t owner_gid() const { return spec_.switch_user ? spec_.user.gid : static_cast<gid_t>(-1); }

    // Creates <job_dir>/shell, where the command and env files live, private
    // to the job's user, and returns it.
    std::string make_shell_dir();
    // The job's login shell: user, environment, cgroups, isolation.
    const ShellSpec& shell_spec() const { return spec_; }

    // Ends every process of the job: `shell` (if any) at once, the rest of
    // the cgroup with SIGTERM and then SIGKILL, then whatever the marker or
    // parentage still finds in /proc.
    void end_job_processes(PtyShell* shell);
    // The supervisor is gone: nobody else removes the job directory (it
    // holds secrets) and the now empty cgroups.
    void remove_leftovers();

private:
    const RunOptions& opts_;
    std::string marker_entry_;  // SEMAPHORE_JOB_PROCESS_MARKER=<value>
    std::string home_;
    std::string user_error_;
    ShellSpec spec_;
};

// Reaps every exited child (we are the job's subreaper); for waits outside
// the PTY pump. `shell`, a PtyShell* when given, learns of its own exit.
void reap_all(void* shell = nullptr);

}  // namespace sa
