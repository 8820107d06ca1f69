#include "worker/pty_shell.hpp"

#include "common/cgroup.hpp"
#include "common/fs.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <grp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
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

// mkdir -p for a path under a fresh tmpfs; async-signal-safe.
static void make_dirs(const char* path) {
    char buf[4096];
    size_t n = 0;
    for (const char* p = path; *p && n + 1 < sizeof buf; p++) {
        if (*p == '/' && n > 0) {
            buf[n] = '\0';
            mkdir(buf, 0700);
        }
        buf[n++] = *p;
    }
    buf[n] = '\0';
    mkdir(buf, 0700);
}

// Strict isolation, in the forked child. After this returns the caller is
// the job's shell-to-be inside a new PID and mount namespace; the process
// that called it stays outside and waits, and PID 1 of the namespace reaps
// orphans. When PID 1 exits, the kernel kills everything left inside.
static void enter_private_namespaces(const char* shell_dir) {
    if (unshare(CLONE_NEWNS | CLONE_NEWPID) != 0) _exit(120);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(120);
    pid_t init = fork();
    if (init < 0) _exit(120);
    if (init > 0) {  // outside: stands for the shell towards the worker
        int st = 0;
        while (waitpid(init, &st, 0) < 0 && errno == EINTR) {
        }
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // the worker killed our stand-in: end the namespace
    // The job's shell files may live under /tmp: keep a handle to bind them back.
    int keep = open(shell_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) _exit(120);
    if (keep >= 0 && strncmp(shell_dir, "/tmp/", 5) == 0) {
        char src[64] = "/proc/self/fd/";
        int fd = keep, len = 0;
        char digits[16];
        do {
            digits[len++] = static_cast<char>('0' + fd % 10);
            fd /= 10;
        } while (fd > 0);
        size_t at = strlen(src);
        while (len > 0) src[at++] = digits[--len];
        src[at] = '\0';
        make_dirs(shell_dir);
        if (mount(src, shell_dir, nullptr, MS_BIND, nullptr) != 0) _exit(120);
    }
    if (keep >= 0) close(keep);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) _exit(120);
    pid_t shell = fork();
    if (shell < 0) _exit(120);
    if (shell == 0) return;  // becomes bash
    // PID 1: reap everything; leave with the shell's status.
    for (;;) {
        int st = 0;
        pid_t p = wait(&st);
        if (p == shell) _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        if (p < 0 && errno == ECHILD) _exit(1);
    }
}

// Runs in the forked child: only async-signal-safe calls until exec.
// Exit codes 120-126 tell the worker which set-up step failed.
[[noreturn]] static void exec_child(const ChildArgs& a) {
    const char* slave_name = a.slave_name;
    close_from(3);  // the job gets its terminal and nothing else of ours
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the worker blocks SIGCHLD; bash must not
    for (int s : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) signal(s, SIG_DFL);
    if (setsid() < 0) _exit(126);
    int slave = open(slave_name, O_RDWR);
    if (slave < 0) _exit(126);
    if (ioctl(slave, TIOCSCTTY, 0) < 0) _exit(126);
    if (!join_cgroups_raw(a.cgroup_procs, getpid())) _exit(121);
    if (a.spec->strict) enter_private_namespaces(a.spec->shell_dir.c_str());
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
    if (a.spec->strict && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(120);
    execvpe(a.argv[0], a.argv, a.envp);
    _exit(127);
}

namespace {

// clone3's argument block (linux/sched.h), spelled out: glibc 2.36 has no
// wrapper and its <sched.h> does not declare it.
struct CloneArgs {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;

// fork() that places the child in the cgroup `dir_fd` from its first
// instruction; -1 when the kernel cannot (older than 5.7, not a v2 cgroup).
// The worker is single-threaded, so the child may run exec_child as after fork().
pid_t fork_into_cgroup(int dir_fd) {
    CloneArgs args{};
    args.flags = kCloneIntoCgroup;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(dir_fd);
    return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
}

}  // namespace

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

    // Every cgroup to join, and the same without the v2 one clone3 puts us in.
    std::vector<const char*> procs, others;
    for (const auto& p : spec.cgroup_procs) {
        procs.push_back(p.c_str());
        if (spec.cgroup_dir.empty() || p.rfind(spec.cgroup_dir + "/", 0) != 0) others.push_back(p.c_str());
    }
    procs.push_back(nullptr);
    others.push_back(nullptr);
    ChildArgs args{name, argv.data(), envp.data(), spec.cwd.c_str(), procs.data(), &spec};

    pid_t pid = -1;
    bool placed = false;
    if (!spec.cgroup_dir.empty()) {
        UniqueFd dir(open(spec.cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir.valid()) pid = fork_into_cgroup(dir.get());
        placed = pid >= 0;
        if (pid == 0) args.cgroup_procs = others.data();
    }
    if (!placed) pid = fork();
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

std::string startup_failure(const PtyShell& shell) {
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

}  // namespace sa
