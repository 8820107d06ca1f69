// `bash --login` on a fresh PTY: its own session with the PTY as controlling
// terminal, echo off from the first byte (set on the slave before exec, so
// no `stty` process is needed), started in the home directory.
#pragma once

#include "common/result.hpp"
#include "common/unique_fd.hpp"

#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sa {

// Who the shell runs as, when the agent runs as root and `job-user` is set.
struct ShellUser {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups from the group database
};

struct ShellSpec {
    // An interactive login shell as before, without readline: readline reads
    // its input one byte per read(2), which made each command's one-line
    // instruction cost ~0.7 ms; the terminal's own line discipline hands
    // bash the line at once. Nothing is typed by hand here, and echo is off.
    std::vector<std::string> argv{"bash", "--login", "--noediting"};
    std::vector<std::string> env;  // full environment, NAME=VALUE
    std::string cwd;               // home directory
    // cgroup.procs files the shell joins before exec, so every process of
    // the job is born inside the job's cgroups.
    std::vector<std::string> cgroup_procs;
    // The v2 job cgroup among them: the shell is cloned straight into it
    // (clone3 CLONE_INTO_CGROUP), which spares the ~10 ms a cgroup.procs
    // write costs (the kernel waits for an RCU grace period there).
    std::string cgroup_dir;
    bool switch_user = false;
    ShellUser user;
    // Strict isolation: a private /tmp and PID namespace with its own init,
    // and no_new_privs. shell_dir stays visible if it lies under /tmp.
    bool strict = false;
    std::string shell_dir;
};

class PtyShell {
public:
    static Result<PtyShell> start(const ShellSpec& spec);

    PtyShell(PtyShell&& o) noexcept
        : master_(std::move(o.master_)), pid_(std::exchange(o.pid_, -1)),
          exited_(o.exited_), status_(o.status_) {}
    PtyShell& operator=(PtyShell&&) = delete;
    PtyShell(const PtyShell&) = delete;
    // Kills the shell if it is still there; never leaves a zombie of our own.
    ~PtyShell();

    int master() const { return master_.get(); }
    pid_t pid() const { return pid_; }
    bool alive() const { return pid_ > 0 && !exited_; }
    // Records the exit of the shell reaped elsewhere (we are a subreaper and
    // reap every child in one place).
    void mark_exited(int status) {
        exited_ = true;
        status_ = status;
    }
    int wait_status() const { return status_; }
    // Hangs up: closes the master so readers and the terminal go away.
    void close_master() { master_.reset(); }

private:
    PtyShell() = default;
    UniqueFd master_;
    pid_t pid_ = -1;
    bool exited_ = false;
    int status_ = 0;
};

// Why bash never became ready, from the exit status the forked child used.
std::string startup_failure(const PtyShell& shell);

}  // namespace sa
