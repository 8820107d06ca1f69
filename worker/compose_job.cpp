#include "worker/compose_job.hpp"

#include "common/cgroup.hpp"
#include "common/event.hpp"
#include "common/fs.hpp"
#include "common/job_env.hpp"
#include "common/job_result.hpp"
#include "common/random.hpp"
#include "worker/chunker.hpp"
#include "worker/compose_file.hpp"
#include "worker/container_executor.hpp"
#include "worker/job_files.hpp"
#include "worker/pty_pump.hpp"
#include "worker/step.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sa {

namespace {

const char* kCredentialsStep = "Setting up image pull credentials";
const std::string kPullStep(kComposePullStep);
const char* kStartStep = "Starting the docker image...";

// Runs a host program to its end; its stdout (and stderr when `merge`) goes
// to `out`. Returns the exit status, 128+signal, or -1 when it did not start.
// With a link, a stop request kills the program (its whole session). The
// program's exit ends the wait even if something it left running still
// holds the pipe (that leftover dies with the job's cgroup).
int run_host(const std::vector<std::string>& argv, const std::vector<std::string>& env,
             std::string& out, bool merge, SupervisorLink* link,
             const std::vector<std::string>& cgroup_procs = {}) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
    UniqueFd rd(pipefd[0]), wr(pipefd[1]);
    std::vector<char*> av, ev;
    for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
    ev.push_back(nullptr);
    std::vector<const char*> procs;
    for (const auto& p : cgroup_procs) procs.push_back(p.c_str());
    procs.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        setsid();  // no terminal: docker must not ask for a password
        if (!join_cgroups_raw(procs.data(), getpid())) _exit(121);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(wr.get(), 1);
        dup2(merge ? wr.get() : devnull, 2);
        close_from(3);
        execvpe(av[0], av.data(), ev.data());
        _exit(127);
    }
    wr.reset();  // ours closed: EOF comes once every writer the program left is gone
    fcntl(rd.get(), F_SETFL, O_NONBLOCK);
    int st = 0;
    bool exited = false, open = true;
    while (!exited || open) {
        struct pollfd fds[2] = {{open ? rd.get() : -1, POLLIN, 0},
                                {link ? link->fd() : -1, POLLIN, 0}};
        if (poll(fds, 2, 100) < 0 && errno != EINTR) break;
        // A stop, new or already seen, ends the host step.
        if (link && ((fds[1].revents && link->poll_stop()) || link->stop_requested())) kill(-pid, SIGKILL);
        // Reaped before the drain, so that everything it wrote before exiting
        // is in the pipe by then; children it left holding the pipe are not
        // waited for.
        if (!exited && waitpid(pid, &st, WNOHANG) == pid) exited = true;
        for (;;) {  // drain what is there
            char buf[4096];
            ssize_t n = read(rd.get(), buf, sizeof buf);
            if (n > 0) {
                if (out.size() < (1u << 20)) out.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n == 0 || errno != EAGAIN) open = false;  // EOF: every writer is gone
            break;
        }
        if (exited) break;
    }
    rd.reset();
    if (!exited) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// Host files of the job: exactly `mode` whatever the umask, and never
// through a link (some of these paths are in /tmp, where anyone may plant one).
WriteStatus write_host_file(const std::string& path, std::string_view text, mode_t mode) {
    return write_file(path, text, {.mode = mode, .mode_use = ModeUse::Exact, .no_follow = true});
}

std::string env_value(const std::vector<std::string>& env, std::string_view name) {
    for (const auto& e : env)
        if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
            return e.substr(name.size() + 1);
    return "";
}

// A step's plain output (no markers): PTY bytes to cmd_output events.
class StepOutput : public ChunkSink, public PtyReader {
public:
    explicit StepOutput(SupervisorLink& link) : link_(link), chunker_(*this) {}
    Chunker& chunker() { return chunker_; }
    void chunk(std::string_view text) override { link_.send_event(event_cmd_output(unix_now(), text)); }
    void bytes(std::string_view raw) override { chunker_.push(raw, monotonic_ms()); }
    bool done() const override { return false; }  // until the program exits

private:
    SupervisorLink& link_;
    Chunker chunker_;
};

}  // namespace

ComposeJob::ComposeJob(const JobRequest& job, const RunOptions& opts, SupervisorLink& link,
                       int sigchld_fd, std::vector<std::string> shell_env, std::string home)
    : job_(job), opts_(opts), link_(link), sigchld_fd_(sigchld_fd), env_(std::move(shell_env)),
      home_(std::move(home)) {}

void ComposeJob::say(const std::string& text) {
    if (!text.empty()) link_.send_event(event_cmd_output(unix_now(), text));
}

int ComposeJob::step(const std::string& directive, const std::function<int()>& body) {
    int code = sa::step(link_, directive, body);
    link_.flush();  // host programs come next, and they do not flush
    return code;
}

std::vector<std::string> ComposeJob::compose_args(std::initializer_list<std::string> rest) const {
    std::vector<std::string> a = program_;
    for (const char* s : {"--ansi", "never", "-f"}) a.emplace_back(s);
    a.push_back(manifest_);
    a.emplace_back("-p");
    a.push_back(project_);
    a.insert(a.end(), rest);
    return a;
}

bool ComposeJob::detect_compose() {
    std::string out;
    std::string version;
    if (run_host({"docker", "compose", "version"}, env_, out, false, &link_) == 0)
        version = compose_version_from_plugin(out);
    if (version.empty()) {
        out.clear();
        if (run_host({"docker-compose", "--version"}, env_, out, false, &link_) == 0)
            version = compose_version_from_standalone(out);
    }
    if (version.empty()) {
        link_.send(FrameType::Log, "Error finding docker compose: neither `docker compose version` "
                                   "nor `docker-compose --version` answered with a version");
        return false;
    }
    program_ = compose_program(version);
    detected_ = true;
    return true;
}

bool ComposeJob::prepare() {
    if (job_.compose.containers.empty()) {
        link_.send(FrameType::Log, "compose.containers: a docker compose job needs at least one container");
        return false;
    }
    tmp_ = opts_.job_dir + "/compose";
    manifest_ = tmp_ + "/docker-compose.yml";
    // Readable inside the container whatever user it runs as; on the host
    // the 0700 job directory above keeps it private.
    if (mkdir(tmp_.c_str(), 0755) != 0 || chmod(tmp_.c_str(), 0755) != 0) {
        link_.send(FrameType::Log, "Cannot create " + tmp_ + ": " + std::strerror(errno));
        return false;
    }
    std::string id = job_.job_id.empty() ? random_hex(6) : job_.job_id.substr(0, 40);
    project_ = docker_safe_name("semaphore-" + id);
    container_ = docker_safe_name(project_ + "-" + job_.compose.containers[0].name);

    for (const auto& c : job_.compose.host_setup_commands) {
        std::string out;
        int code = run_host({"bash", "-c", c.directive}, env_, out, true, &link_, opts_.cgroup_procs);
        link_.send(FrameType::Log, "Host setup command `" + c.directive + "` exited with " +
                                       std::to_string(code) + (out.empty() ? "" : ": " + trim(out)));
        if (code != 0) return false;
    }
    if (!detect_compose()) return false;

    std::vector<HostFile> volumes;
    for (const auto& entry : opts_.host_files) {
        auto f = parse_host_file(entry);
        struct stat st;
        if (f && stat(f->host_path.c_str(), &st) == 0) {
            volumes.push_back(*f);
            continue;
        }
        std::string why = f ? f->host_path + ": " + std::strerror(errno) : f.message();
        if (opts_.fail_on_missing_files) {
            link_.send(FrameType::Log, "Error injecting file " + why + " - failing the job");
            return false;
        }
        link_.send(FrameType::Log, "Error injecting file " + why + " - ignoring it");
    }
    if (auto st = write_host_file(manifest_, compose_manifest(job_.compose, volumes, opts_.expose_kvm), 0644);
        !st) {
        link_.send(FrameType::Log, "Cannot write " + manifest_ + ": " + st.reason());
        return false;
    }
    // Hosted mode only (as for shell jobs): SSH keys for debug sessions, and
    // the fixed path `sem` enters the job through. Self-hosted machines
    // have no debug sessions, so nothing is written outside the job there.
    if (opts_.hosted) {
        std::string e = inject_authorized_keys(job_.ssh_public_keys, home_, static_cast<uid_t>(-1),
                                               static_cast<gid_t>(-1));
        if (e.empty())
            if (auto st = write_host_file("/tmp/ssh_jump_point", compose_jump_point(container_), 0644); !st)
                e = "Cannot write /tmp/ssh_jump_point: " + st.reason();
        if (!e.empty()) {
            link_.send(FrameType::Log, e);
            return false;
        }
    }
    return true;
}

int ComposeJob::login(const ImagePullCredentials& c) {
    auto type = credential_type(c.env_vars);
    if (!type) {
        say("Failed to resolve docker login strategy: " + type.message() + "\n");
        return 1;
    }
    say(credential_banner(*type));
    // The credential variables, and only what docker itself needs besides.
    std::vector<std::string> env;
    for (std::string_view keep : {std::string_view("PATH"), std::string_view("HOME")})
        if (std::string v = env_value(env_, keep); !v.empty()) env.push_back(std::string(keep) + "=" + v);
    for (std::string_view keep : kDockerClientEnv)
        if (std::string v = env_value(env_, keep); !v.empty()) env.push_back(std::string(keep) + "=" + v);
    for (const auto& e : c.env_vars) env.push_back(e.name + "=" + e.value);

    // GCR's key files live on the host only for the login (it reads
    // /tmp/gcr/keyfile.json); they are removed after it, whatever it gave.
    std::vector<std::string> written;
    struct Unlinker {
        std::vector<std::string>& paths;
        ~Unlinker() {
            for (const auto& p : paths) unlink(p.c_str());
        }
    } unlinker{written};
    if (*type == "GCR") {
        for (const auto& f : c.files) {
            std::string dest = !f.path.empty() && f.path[0] == '/' ? f.path
                               : f.path.rfind("~/", 0) == 0       ? home_ + f.path.substr(1)
                                                                   : home_ + "/" + f.path;
            if (!f.content_ok) {
                say("Failed to decode the content of the file.\n");
                return 1;
            }
            std::string out;
            std::string dir = dest.substr(0, dest.rfind('/'));
            if (run_host({"mkdir", "-p", dir.empty() ? "/" : dir}, env_, out, true, &link_) != 0) {
                say("Failed to create destination path " + dest + ", out: " + out + "\n");
                return 1;
            }
            unsigned mode = 0644;
            if (!parse_file_mode(f.mode, mode)) {
                say("Failed to set file mode to " + f.mode + "\n");
                return 1;
            }
            written.push_back(dest);  // a part written is removed too
            if (auto st = write_host_file(dest, f.content, mode); !st) {
                say("Failed to move to destination path " + dest + ": " + st.reason() + "\n");
                return 1;
            }
        }
    }
    std::string aws_version, aws_account;
    if (*type == "AWS_ECR") {
        run_host({"bash", "-c", "aws --version 2>&1 | awk -F'[/ ]' '{print $2}'"}, env, aws_version, false,
                 &link_);
        aws_version = trim(aws_version);
        bool has_account = false;
        for (const auto& e : c.env_vars) has_account = has_account || e.name == "AWS_ACCOUNT_ID";
        if (!has_account && aws_version.rfind("1.", 0) != 0) {
            run_host({"aws", "sts", "get-caller-identity", "--query", "Account", "--output", "text"},
                     env, aws_account, false, &link_);
            aws_account = trim(aws_account);
        }
    }
    auto cmd = docker_login_command(c.env_vars, aws_version, aws_account);
    if (!cmd) {
        say("Failed to determine docker login command: " + cmd.message() + "\n");
        return 1;
    }
    say(*cmd + "\n");
    std::string out;
    int code = run_host({"bash", "-c", *cmd}, env, out, true, &link_);
    size_t pos = 0;
    while (pos <= out.size()) {  // as the original: "" and "a\n" both end with a "\n" event
        size_t nl = out.find('\n', pos);
        if (nl == std::string::npos) nl = out.size();
        say(out.substr(pos, nl - pos) + "\n");
        pos = nl + 1;
    }
    return code == 0 ? 0 : 1;
}

int ComposeJob::setup_credentials() {
    for (const auto& c : job_.compose.image_pull_credentials)
        if (int code = login(c); code != 0) return code;
    return 0;
}

// `run --rm <main> true` pulls what is missing, creates the network and
// starts the linked services; its output is the step's output.
int ComposeJob::pull_images() {
    ShellSpec spec;
    spec.argv = compose_args({"run", "--rm", job_.compose.containers[0].name, "true"});
    spec.env = env_;
    spec.cwd = tmp_;
    spec.cgroup_procs = opts_.cgroup_procs;
    spec.cgroup_dir = opts_.cgroup_dir;
    auto sh = PtyShell::start(spec);
    if (!sh) {
        say("Failed to run docker compose: " + sh.message() + "\n");
        return 1;
    }
    StepOutput output(link_);
    PtyPump pump(*sh, link_, sigchld_fd_);
    // Until compose exits and nothing holds its terminal any more (or a
    // stop: the destructor kills compose, and what the chunker holds is
    // dropped, so the step's cmd_finished follows at once, as before).
    if (pump.run(output, &output.chunker(), PtyPump::Until::ExitAndEof) == PtyPump::End::Stopped) return 1;
    output.chunker().finish();
    int st = sh->wait_status();
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

void ComposeJob::cleanup() {
    if (!detected_ || access(manifest_.c_str(), F_OK) != 0) return;
    std::vector<std::string> args = program_;
    for (const char* s : {"-f"}) args.emplace_back(s);
    args.push_back(manifest_);
    for (const char* s : {"-p"}) args.emplace_back(s);
    args.push_back(project_);
    // The interactive bash in the main container ignores SIGTERM: a short
    // timeout instead of docker's 10 s before the SIGKILL.
    // -v: the anonymous volumes of the services (a database image's VOLUME)
    // go with the job; the manifest names no volumes of its own.
    for (const char* s : {"down", "--remove-orphans", "--volumes", "--timeout", "3"}) args.emplace_back(s);
    std::string out;
    int code = run_host(args, env_, out, true, nullptr);  // runs after a stop too
    if (code != 0)
        link_.send(FrameType::Log, "docker compose down exited with " + std::to_string(code) + ": " + trim(out));
}

// The job's shell: bash in the main container, by `compose run` on a PTY.
int ComposeJob::start_session(std::optional<PtyShell>& shell, std::optional<CommandRunner>& runner) {
    say("Starting a new bash session.\n");
    ShellSpec spec;
    const std::string& main = job_.compose.containers[0].name;
    spec.argv = compose_args({"run", "--rm", "--name", container_, "-v",
                              "/var/run/docker.sock:/var/run/docker.sock", "-v",
                              tmp_ + ":" + tmp_ + ":ro", main, "bash"});
    spec.env = env_;
    spec.cwd = tmp_;
    spec.cgroup_procs = opts_.cgroup_procs;
    spec.cgroup_dir = opts_.cgroup_dir;
    auto started = PtyShell::start(spec);
    std::string startup;
    if (started) {
        shell.emplace(std::move(started.value()));
        runner.emplace(*shell, link_, tmp_ + "/current-agent-cmd", random_hex(16), sigchld_fd_, 0644);
        // The container's terminal echoes until told not to; the state
        // it had is kept in /tmp/restore-tty for tools, as before.
        if (runner->wait_ready("stty -echo\necho stty `stty -g` > /tmp/restore-tty\n", &startup)) return 0;
    }
    if (link_.stop_requested()) return 1;
    // Never ready: say why, from what compose printed.
    std::string why = started ? "" : started.message();
    size_t at = startup.find("executable file not found");
    if (at == std::string::npos) at = startup.find("is already in use");
    if (at != std::string::npos) {
        size_t b = startup.rfind('\n', at), e = startup.find('\n', at);
        why = trim(startup.substr(b == std::string::npos ? 0 : b + 1,
                                  e == std::string::npos ? std::string::npos : e - b - 1));
    } else if (why.empty()) {
        why = trim(startup);
        if (size_t nl = why.rfind('\n'); nl != std::string::npos) why = why.substr(nl + 1);
    }
    say("Failed to start the docker image\n");
    say(why);
    return 1;
}

std::string ComposeJob::run() {
    if (!prepare()) {
        cleanup();
        return link_.stop_requested() ? job_result_name(JobResult::Stopped) : job_result_name(JobResult::Failed);
    }
    int code = 0;
    if (!job_.compose.image_pull_credentials.empty())
        code = step(kCredentialsStep, [this] { return setup_credentials(); });
    if (code == 0 && !link_.stop_requested()) code = step(kPullStep, [this] { return pull_images(); });
    std::string result = job_result_name(JobResult::Failed);
    if (code == 0 && !link_.stop_requested()) {
        std::optional<PtyShell> shell;
        std::optional<CommandRunner> runner;
        if (step(kStartStep, [&] { return start_session(shell, runner); }) == 0) {
            ContainerExecutor executor(*runner, tmp_);
            JobScript script(job_, opts_, *runner, executor, link_);
            result = script.run();
        }
        link_.flush();
    }
    if (link_.stop_requested()) result = job_result_name(JobResult::Stopped);
    cleanup();
    return result;
}

// A docker compose job: the containers' processes end with `compose down`;
// what the compose clients left on the host goes with the job's cgroup.
std::string run_compose_job(const JobRequest& job, const RunOptions& opts, SupervisorLink& link, int sigfd,
                            Sandbox& sandbox) {
    std::string result = job_result_name(JobResult::Failed);
    if (!sandbox.user_error().empty()) {
        link.send(FrameType::Log, sandbox.user_error());
    } else {
        ComposeJob compose(job, opts, link, sigfd, sandbox.env(), sandbox.home());
        result = compose.run();
    }
    link.flush();
    sandbox.end_job_processes(nullptr);
    return result;
}

}  // namespace sa
