#include "pty_shell.hpp"

#include <fcntl.h>
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

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] static void exec_child(const char* slave_name, char* const argv[], char* const envp[],
                                    const char* cwd) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the worker blocks SIGCHLD; bash must not
    for (int s : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) signal(s, SIG_DFL);
    if (setsid() < 0) _exit(126);
    int slave = open(slave_name, O_RDWR);
    if (slave < 0) _exit(126);
    if (ioctl(slave, TIOCSCTTY, 0) < 0) _exit(126);
    struct termios t;
    if (tcgetattr(slave, &t) == 0) {
        t.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
        tcsetattr(slave, TCSANOW, &t);
    }
    dup2(slave, 0);
    dup2(slave, 1);
    dup2(slave, 2);
    if (slave > 2) close(slave);
    if (cwd && *cwd && chdir(cwd) != 0) { /* stay where we are; `cd ~` follows */ }
    execvpe(argv[0], argv, envp);
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

    pid_t pid = fork();
    if (pid < 0) return err(errstr("fork"));
    if (pid == 0) exec_child(name, argv.data(), envp.data(), spec.cwd.c_str());
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
