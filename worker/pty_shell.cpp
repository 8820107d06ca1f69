#include "pty_shell.hpp"

#include "cgroup.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sa {

static std::string errstr(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

namespace {
struct ChildArgs {
    const char* slave_name;
    char* const* argv;
    char* const* envp;
    const char* cwd;
    const char* const* cgroup_procs;  // null-terminated
    const ShellSpec* spec;
};
}  // namespace

// Runs in the forked child: only async-signal-safe calls until exec.
// Exit codes 120-126 tell the worker which set-up step failed.
[[noreturn]] static void exec_child(const ChildArgs& a) {
    const char* slave_name = a.slave_name;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the worker blocks SIGCHLD; bash must not
    for (int s : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) signal(s, SIG_DFL);
    if (setsid() < 0) _exit(126);
    int slave = open(slave_name, O_RDWR);
    if (slave < 0) _exit(126);
    if (ioctl(slave, TIOCSCTTY, 0) < 0) _exit(126);
    if (!join_cgroups_raw(a.cgroup_procs, getpid())) _exit(121);
    if (a.spec->switch_user) {
        const ShellUser& u = a.spec->user;
        // The terminal belongs to the job's user, as after a login.
        if (fchown(slave, u.uid, u.gid) != 0) _exit(122);
        if (setgroups(u.groups.size(), u.groups.data()) != 0) _exit(123);
        if (setgid(u.gid) != 0) _exit(124);
        if (setuid(u.uid) != 0) _exit(125);
    }
    struct termios t;
    if (tcgetattr(slave, &t) == 0) {
        t.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
        tcsetattr(slave, TCSANOW, &t);
    }
    dup2(slave, 0);
    dup2(slave, 1);
    dup2(slave, 2);
    if (slave > 2) close(slave);
    if (a.cwd && *a.cwd && chdir(a.cwd) != 0) { /* stay where we are; `cd ~` follows */ }
    execvpe(a.argv[0], a.argv, a.envp);
    _exit(127);
}

Result<PtyShell> PtyShell::start(const ShellSpec& spec) {
    PtyShell sh;
    sh.master_.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!sh.master_.valid()) return err(errstr("posix_openpt"));
    if (grantpt(sh.master()) != 0 || unlockpt(sh.master()) != 0)
        return err(errstr("grantpt/unlockpt"));
    char name[128];
    if (ptsname_r(sh.master(), name, sizeof name) != 0) return err(errstr("ptsname"));
    // A window size keeps tools that ask for one (less, git's pager) sane.
    struct winsize ws{};
    ws.ws_row = 40;
    ws.ws_col = 200;
    ioctl(sh.master(), TIOCSWINSZ, &ws);

    std::vector<char*> argv, envp;
    for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    std::vector<const char*> procs;
    for (const auto& p : spec.cgroup_procs) procs.push_back(p.c_str());
    procs.push_back(nullptr);
    ChildArgs args{name, argv.data(), envp.data(), spec.cwd.c_str(), procs.data(), &spec};

    pid_t pid = fork();
    if (pid < 0) return err(errstr("fork"));
    if (pid == 0) exec_child(args);
    sh.pid_ = pid;
    int fl = fcntl(sh.master(), F_GETFL);
    fcntl(sh.master(), F_SETFL, fl | O_NONBLOCK);
    return sh;
}

PtyShell::~PtyShell() {
    if (pid_ > 0 && !exited_) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
}

}  // namespace sa
