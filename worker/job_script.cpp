#include "worker/job_script.hpp"

#include "common/event.hpp"
#include "common/job_result.hpp"
#include "common/shell_quote.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

namespace sa {

namespace {

const char* kExportStep = "Exporting environment variables";
const char* kFilesStep = "Injecting Files";
const char* kPreHookStep = "Running the pre-job hook configured in the agent";
const char* kPostHookStep = "Running the post-job hook configured in the agent";
const char* kCheckResultStep = "Checking job result";

// While alive, file system access is checked as the job's user (fsuid,
// fsgid, and its group as the only supplementary one): a root worker then
// writes an injected file only where that user could, never through a link
// the user planted to /etc. The worker is single-threaded, so the
// process-wide setgroups is safe. uid -1: nothing changes.
class ActAsUser {
public:
    ActAsUser(uid_t uid, gid_t gid) : uid_(uid) {
        if (uid == static_cast<uid_t>(-1)) return;
        int n = ::getgroups(0, nullptr);
        saved_groups_.resize(n > 0 ? static_cast<size_t>(n) : 0);
        if (n > 0 && ::getgroups(n, saved_groups_.data()) != n) return;
        if (::setgroups(1, &gid) != 0) return;
        groups_set_ = true;
        ::setfsgid(gid);
        ::setfsuid(uid);
        // setfsuid/setfsgid report failure only by not changing anything.
        ok_ = static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))) == uid &&
              static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1))) == gid;
    }
    ~ActAsUser() {
        if (uid_ == static_cast<uid_t>(-1)) return;
        ::setfsuid(::geteuid());
        ::setfsgid(::getegid());
        if (groups_set_) ::setgroups(saved_groups_.size(), saved_groups_.data());
    }
    ActAsUser(const ActAsUser&) = delete;
    ActAsUser& operator=(const ActAsUser&) = delete;
    bool ok() const { return uid_ == static_cast<uid_t>(-1) || ok_; }

private:
    uid_t uid_;
    std::vector<gid_t> saved_groups_;
    bool groups_set_ = false, ok_ = false;
};

bool mkdir_parents(const std::string& dir, uid_t uid, gid_t gid, std::string& error) {
    if (dir.empty()) return true;
    for (size_t i = 1; i <= dir.size(); i++) {
        if (i < dir.size() && dir[i] != '/') continue;
        std::string part = dir.substr(0, i);
        if (::mkdir(part.c_str(), 0750) == 0) {
            if (uid != static_cast<uid_t>(-1) && ::chown(part.c_str(), uid, gid) != 0) {
                error = std::strerror(errno);
                return false;
            }
        } else if (errno != EEXIST) {
            error = std::strerror(errno);
            return false;
        }
    }
    return true;
}

}  // namespace

std::string resolve_job_path(const std::string& path, const std::string& home) {
    if (!path.empty() && path[0] == '/') return path;
    if (path == "~") return home;
    if (path.rfind("~/", 0) == 0) return home + path.substr(1);
    return home + "/" + path;
}

bool parse_file_mode(const std::string& s, unsigned& mode) {
    if (s.empty() || s.size() > 5) return false;
    unsigned m = 0;
    for (char c : s) {
        if (c < '0' || c > '7') return false;
        m = m * 8 + static_cast<unsigned>(c - '0');
    }
    if (m > 07777) return false;
    mode = m;
    return true;
}

JobScript::JobScript(const JobRequest& job, const JobOptions& opts, CommandRunner& runner,
                     SupervisorLink& link, const ShellContext& ctx)
    : job_(job), opts_(opts), runner_(runner), link_(link), home_(ctx.home),
      shell_dir_(ctx.shell_dir), container_tmp_(ctx.container_tmp), owner_uid_(ctx.owner_uid), owner_gid_(ctx.owner_gid) {}

int JobScript::step(std::string_view directive, const std::function<int()>& body) {
    long long started = unix_now();
    link_.send_event(event_cmd_started(started, directive));
    int code = body();
    long long finished = unix_now();
    link_.send_event(event_cmd_finished(finished, directive, code, started, finished));
    return code;
}

int JobScript::export_env_vars() {
    // Job values first, then the agent's (they win), sorted by name.
    std::map<std::string, std::string> vars;
    for (const auto& e : job_.env_vars) vars[e.name] = e.value;
    for (const auto& [k, v] : opts_.agent_env_vars) vars[k] = v;
    std::string file;
    // One event per variable, as the original logs them: consumers count
    // and compare events, not just the text.
    for (const auto& [k, v] : vars) {
        runner_.say("Exporting " + k + "\n");
        file += "export " + k + "=" + shell_quote(v) + "\n";
    }
    if (!container_tmp_.empty()) return export_env_in_container(file);
    std::string path = shell_dir_ + "/env";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && owner_uid_ != static_cast<uid_t>(-1) && ::fchown(fd, owner_uid_, owner_gid_) != 0) {
        ::close(fd);
        fd = -1;
    }
    if (fd < 0 || ::write(fd, file.data(), file.size()) != static_cast<ssize_t>(file.size())) {
        if (fd >= 0) ::close(fd);
        runner_.say("Failed to write the environment file: " + std::string(std::strerror(errno)) +
                    "\n");
        return 1;
    }
    ::close(fd);
    if (opts_.hosted) keep_env_for_debug_sessions(file);
    return runner_.run("source " + shell_quote(path) + "\n");
}

// The env file goes through the mount; sourcing it is silent, and debug
// sessions (`docker exec ... bash --login`) get it from ~/.bash_profile.
int JobScript::export_env_in_container(const std::string& file_text) {
    std::string path = container_tmp_ + "/.env";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    // 0644 despite the service's umask: the container's user may be anyone.
    bool ok = fd >= 0 && ::fchmod(fd, 0644) == 0 && ::write(fd, file_text.data(), file_text.size()) ==
                             static_cast<ssize_t>(file_text.size());
    if (fd >= 0) ::close(fd);
    if (!ok) {
        runner_.say("Failed to write the environment file: " + std::string(std::strerror(errno)) + "\n");
        return 255;
    }
    std::string q = shell_quote(path), ignored;
    int code = runner_.capture("source " + q + "\n", ignored);
    if (code == 0)
        runner_.capture("echo " + shell_quote("source " + q) + " >> ~/.bash_profile\n", ignored);
    return code;
}

// A debug session (ssh into the job's machine) gets the job's environment:
// a private copy sourced from ~/.bash_profile.
void JobScript::keep_env_for_debug_sessions(const std::string& text) {
    std::string dir = home_ + "/.semaphore";
    std::string why;
    if (!mkdir_parents(dir, owner_uid_, owner_gid_, why)) return;
    ::chmod(dir.c_str(), 0700);
    std::string env = dir + "/job-env";
    int fd = ::open(env.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!ok) return;
    std::string line = "source " + shell_quote(env) + "\n";
    int pf = ::open((home_ + "/.bash_profile").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (pf < 0) return;
    if (::write(pf, line.data(), line.size()) < 0) { /* a debug session just lacks the env */ }
    ::close(pf);
}

std::string inject_authorized_keys(const std::vector<std::string>& keys, const std::string& home,
                                   uid_t uid, gid_t gid) {
    if (keys.empty()) return "";
    std::string dir = home + "/.ssh", why;
    if (!mkdir_parents(dir, uid, gid, why)) return "Failed to inject authorized keys\n";
    ::chmod(dir.c_str(), 0700);
    int fd = ::open((dir + "/authorized_keys").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return "Failed to inject authorized keys\n";
    std::string text;
    for (const auto& k : keys) text += k + "\n";
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    return ok ? "" : "Failed to inject authorized keys\n";
}

std::string JobScript::prepare_hosted() {
    if (auto e = inject_authorized_keys(job_.ssh_public_keys, home_, owner_uid_, owner_gid_); !e.empty())
        return e;
    // The `sem` CLI runs `bash /tmp/ssh_jump_point [cmd...]` to get into the job.
    static const char kJumpPoint[] =
        "#!/bin/bash\n\nif [ $# -eq 0 ]; then\n  bash --login\nelse\n  exec \"$@\"\nfi";
    int fd = ::open("/tmp/ssh_jump_point", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return "Failed to write the SSH jump point\n";
    bool ok = ::write(fd, kJumpPoint, sizeof kJumpPoint - 1) == static_cast<ssize_t>(sizeof kJumpPoint - 1);
    ::close(fd);
    return ok ? "" : "Failed to write the SSH jump point\n";
}

int JobScript::inject_file(const JobFile& f) {
    std::string path = resolve_job_path(f.path, home_);
    runner_.say("Injecting " + path + " with file mode " + f.mode + "\n");
    if (!f.content_ok) {
        runner_.say("Failed to decode the content of the file.\n");
        return 1;
    }
    ActAsUser as_user(owner_uid_, owner_gid_);
    if (!as_user.ok()) {
        runner_.say("Failed to take the job user's identity to write '" + path + "'\n");
        return 1;
    }
    std::string dir = path.substr(0, path.rfind('/'));
    std::string why;
    if (!mkdir_parents(dir, owner_uid_, owner_gid_, why)) {
        runner_.say("Failed to create directory '" + dir + "': " + why + "\n");
        return 1;
    }
    // Private until its content is in and its mode is set: it may be a key.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        runner_.say("Failed to create destination path '" + path + "': " + std::strerror(errno) +
                    "\n");
        return 1;
    }
    ::fchmod(fd, 0600);  // an existing file keeps its old mode until the end otherwise
    std::string_view rest = f.content;
    while (!rest.empty()) {
        ssize_t n = ::write(fd, rest.data(), rest.size());
        if (n <= 0 && errno == EINTR) continue;
        if (n <= 0) {
            runner_.say("Failed to write '" + path + "': " + std::strerror(errno) + "\n");
            ::close(fd);
            return 255;
        }
        rest.remove_prefix(static_cast<size_t>(n));
    }
    if (owner_uid_ != static_cast<uid_t>(-1) && ::fchown(fd, owner_uid_, owner_gid_) != 0) {
        runner_.say("Failed to set the owner of '" + path + "': " + std::strerror(errno) + "\n");
        ::close(fd);
        return 1;
    }
    unsigned mode;
    if (!parse_file_mode(f.mode, mode)) {
        ::close(fd);
        runner_.say("bad file permission '" + f.mode + "'\n");
        return 1;
    }
    if (::fchmod(fd, mode) != 0) {
        runner_.say("Failed to set file mode '" + f.mode + "' for '" + path +
                    "': " + std::strerror(errno) + "\n");
        ::close(fd);
        return 1;
    }
    ::close(fd);
    return 0;
}

// A path in the container: `~` stays unquoted so the container's shell
// expands it to the container user's home.
static std::string container_path(const std::string& p) {
    if (p == "~") return "~";
    if (p.rfind("~/", 0) == 0) return "~/" + shell_quote(p.substr(2));
    return shell_quote(p);
}

// Compose jobs: the content goes through the mounted temp directory and is
// copied into place by the container's shell, silently.
int JobScript::inject_file_in_container(const JobFile& f) {
    runner_.say("Injecting " + f.path + " with file mode " + f.mode + "\n");
    if (!f.content_ok) {
        runner_.say("Failed to decode the content of the file.\n");
        return 1;
    }
    std::string tmp = container_tmp_ + "/file";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && ::fchmod(fd, 0644) == 0 && ::write(fd, f.content.data(), f.content.size()) ==
                             static_cast<ssize_t>(f.content.size());
    if (fd >= 0) ::close(fd);
    if (!ok) {
        runner_.say("Failed to write '" + tmp + "': " + std::strerror(errno) + "\n");
        return 255;
    }
    std::string dest = f.path[0] == '/' || f.path[0] == '~' ? f.path : "~/" + f.path;
    size_t slash = dest.rfind('/');
    std::string dir = slash == std::string::npos ? dest : slash == 0 ? "/" : dest.substr(0, slash);
    std::string ignored;
    if (int c = runner_.capture("mkdir -p " + container_path(dir) + "\n", ignored); c != 0) {
        runner_.say("Failed to create destination path " + dest + "\n");
        return c;
    }
    if (int c = runner_.capture("cp " + shell_quote(tmp) + " " + container_path(dest) + "\n", ignored); c != 0) {
        runner_.say("Failed to move to destination path " + tmp + " " + dest + "\n");
        return c;
    }
    if (int c = runner_.capture("chmod " + shell_quote(f.mode) + " " + container_path(dest) + "\n", ignored); c != 0) {
        runner_.say("Failed to set file mode to " + f.mode + "\n");
        return c;
    }
    return 0;
}

int JobScript::inject_files() {
    for (const auto& f : job_.files) {
        int code = container_tmp_.empty() ? inject_file(f) : inject_file_in_container(f);
        if (code != 0) return code;
    }
    return 0;
}

int JobScript::run_hook(std::string_view directive, const std::string& path, bool source,
                        std::string_view warning) {
    return step(directive, [&] {
        std::string cmd = std::string(source ? "source " : "bash ") + path;
        // Two events, as the original's RunCommand logs alias and warning.
        runner_.say("Running: " + cmd + "\n");
        runner_.say(warning);
        return runner_.run(std::string(source ? "source " : "bash ") + shell_quote(path) + "\n");
    });
}

int JobScript::run_commands(const std::vector<Command>& cmds) {
    for (const auto& c : cmds) {
        if (runner_.stopped()) return 1;
        const std::string& shown = c.alias.empty() ? c.directive : c.alias;
        int code = step(shown, [&] {
            if (!c.alias.empty()) runner_.say("Running: " + c.directive + "\n");
            return runner_.run(c.directive);
        });
        if (code != 0) return code;
    }
    return 0;
}

// After a command exits with 130: the job stops on its own terms, with the
// result the job put in SEMAPHORE_JOB_RESULT.
std::string JobScript::check_job_result() {
    std::string value;
    runner_.capture("\\builtin printf '%s' \"${SEMAPHORE_JOB_RESULT-}\"\n", value);
    std::string result;
    step(kCheckResultStep, [&] {
        if (value == job_result_name(JobResult::Passed) || value == job_result_name(JobResult::Failed)) {
            runner_.say("SEMAPHORE_JOB_RESULT=" + value + " - stopping job and marking it as " +
                        value);
            result = value;
        } else {
            runner_.say("SEMAPHORE_JOB_RESULT is set to '" + value +
                        "' - stopping job and marking it as stopped");
            result = job_result_name(JobResult::Stopped);
        }
        return 0;
    });
    return result;
}

void JobScript::epilogue(const std::string& result) {
    step(kExportStep, [&] {
        runner_.say("Exporting SEMAPHORE_JOB_RESULT\n");
        return runner_.run("export SEMAPHORE_JOB_RESULT=" + result + "\n");
    });
    if (runner_.stopped()) return;
    run_commands(job_.epilogue_always_commands);
    if (runner_.stopped()) return;
    run_commands(result == job_result_name(JobResult::Passed) ? job_.epilogue_on_pass_commands
                                    : job_.epilogue_on_fail_commands);
}

std::string JobScript::run() {
    // Compose jobs got their jump point from the executor.
    std::string hosted_error = opts_.hosted && container_tmp_.empty() ? prepare_hosted() : "";
    bool ok = step(kExportStep, [&] {
        if (!hosted_error.empty()) {
            runner_.say(hosted_error);
            return 1;
        }
        return export_env_vars();
    }) == 0;
    if (ok && !runner_.stopped()) ok = step(kFilesStep, [&] { return inject_files(); }) == 0;
    if (ok && !runner_.stopped() && !opts_.pre_job_hook_path.empty()) {
        const char* warning =
            opts_.fail_on_pre_job_hook_error
                ? "Warning: The agent is configured to fail the job if the pre-job hook fails.\n"
                : "Warning: The agent is configured to proceed with the job even if the pre-job "
                  "hook fails.\n";
        int code = run_hook(kPreHookStep, opts_.pre_job_hook_path, opts_.source_pre_job_hook,
                            warning);
        if (code != 0 && opts_.fail_on_pre_job_hook_error) ok = false;
    }
    std::string result = job_result_name(ok ? JobResult::Passed : JobResult::Failed);
    if (ok && !runner_.stopped()) {
        int code = run_commands(job_.commands);
        if (code == 130 && !runner_.stopped()) {
            result = check_job_result();
            exit130_ = true;
        } else if (code != 0) {
            result = job_result_name(JobResult::Failed);
        }
    }
    if (runner_.stopped()) return job_result_name(JobResult::Stopped);
    if (!exit130_) epilogue(result);
    if (runner_.stopped()) return job_result_name(JobResult::Stopped);
    if (!opts_.post_job_hook_path.empty())
        run_hook(kPostHookStep, opts_.post_job_hook_path, false, "");
    return runner_.stopped() ? job_result_name(JobResult::Stopped) : result;
}

}  // namespace sa
