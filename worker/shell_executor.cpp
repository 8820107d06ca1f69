#include "worker/shell_executor.hpp"

#include "common/fs.hpp"
#include "common/shell_quote.hpp"
#include "worker/job_files.hpp"

#include <grp.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sa {

namespace {

// While alive, file system access is checked as the job's user (fsuid,
// fsgid, and its group as the only supplementary one): a root worker then
// writes an injected file only where that user could, never through a link
// the user planted to /etc. The worker is single-threaded, so the
// process-wide setgroups is safe. uid -1: nothing changes.
class ActAsUser {
public:
    ActAsUser(uid_t uid, gid_t gid);
    ~ActAsUser();
    ActAsUser(const ActAsUser&) = delete;
    ActAsUser& operator=(const ActAsUser&) = delete;
    bool ok() const { return uid_ == static_cast<uid_t>(-1) || ok_; }

private:
    uid_t uid_;
    std::vector<gid_t> saved_groups_;
    bool groups_set_ = false, ok_ = false;
};

ActAsUser::ActAsUser(uid_t uid, gid_t gid) : uid_(uid) {
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

ActAsUser::~ActAsUser() {
    if (uid_ == static_cast<uid_t>(-1)) return;
    ::setfsuid(::geteuid());
    ::setfsgid(::getegid());
    if (groups_set_) ::setgroups(saved_groups_.size(), saved_groups_.data());
}

}  // namespace

std::string ShellExecutor::prepare_hosted() {
    if (auto e = inject_authorized_keys(job_.ssh_public_keys, ctx_.home, ctx_.owner_uid, ctx_.owner_gid);
        !e.empty())
        return e;
    // The `sem` CLI runs `bash /tmp/ssh_jump_point [cmd...]` to get into the job.
    static const char kJumpPoint[] =
        "#!/bin/bash\n\nif [ $# -eq 0 ]; then\n  bash --login\nelse\n  exec \"$@\"\nfi";
    if (!write_file("/tmp/ssh_jump_point", kJumpPoint, {.mode = 0644}))
        return "Failed to write the SSH jump point\n";
    return "";
}

int ShellExecutor::export_env(const std::string& file_text) {
    std::string path = ctx_.shell_dir + "/env";
    auto st = write_file(path, file_text,
                         {.no_follow = true, .uid = ctx_.owner_uid, .gid = ctx_.owner_gid});
    if (!st) {
        runner_.say("Failed to write the environment file: " + st.reason() + "\n");
        return 1;
    }
    if (opts_.hosted) keep_env_for_debug_sessions(file_text);
    return runner_.run("source " + shell_quote(path) + "\n");
}

// A debug session (ssh into the job's machine) gets the job's environment:
// a private copy sourced from ~/.bash_profile.
void ShellExecutor::keep_env_for_debug_sessions(const std::string& text) {
    std::string dir = ctx_.home + "/.semaphore";
    if (!make_dirs(dir, 0750, ctx_.owner_uid, ctx_.owner_gid)) return;
    ::chmod(dir.c_str(), 0700);
    std::string env = dir + "/job-env";
    if (!write_file(env, text)) return;
    // A failure only leaves a debug session without the env.
    if (!write_file(ctx_.home + "/.bash_profile", "source " + shell_quote(env) + "\n",
                    {.how = WriteMode::Append, .mode = 0644})) {
    }
}

int ShellExecutor::inject_file(const JobFile& f) {
    std::string path = resolve_job_path(f.path, ctx_.home);
    runner_.say("Injecting " + path + " with file mode " + f.mode + "\n");
    if (!f.content_ok) {
        runner_.say("Failed to decode the content of the file.\n");
        return 1;
    }
    ActAsUser as_user(ctx_.owner_uid, ctx_.owner_gid);
    if (!as_user.ok()) {
        runner_.say("Failed to take the job user's identity to write '" + path + "'\n");
        return 1;
    }
    std::string dir = path.substr(0, path.rfind('/'));
    if (auto made = make_dirs(dir, 0750, ctx_.owner_uid, ctx_.owner_gid); !made) {
        runner_.say("Failed to create directory '" + dir + "': " + made.message() + "\n");
        return 1;
    }
    // Private until its content is in and its mode is set: it may be a key.
    // A mode that does not parse leaves it so, as written.
    unsigned mode = 0600;
    bool mode_ok = parse_file_mode(f.mode, mode);
    auto st = write_file(path, f.content,
                         {.mode = static_cast<mode_t>(mode_ok ? mode : 0600),
                          .mode_use = ModeUse::PrivateUntilWritten,
                          .uid = ctx_.owner_uid,
                          .gid = ctx_.owner_gid});
    switch (st.failed) {
    case FileStep::None: break;
    case FileStep::Open:
        runner_.say("Failed to create destination path '" + path + "': " + st.reason() + "\n");
        return 1;
    case FileStep::Write: case FileStep::Close:
        runner_.say("Failed to write '" + path + "': " + st.reason() + "\n");
        return 255;
    case FileStep::Owner:
        runner_.say("Failed to set the owner of '" + path + "': " + st.reason() + "\n");
        return 1;
    case FileStep::Mode:
        runner_.say("Failed to set file mode '" + f.mode + "' for '" + path + "': " + st.reason() + "\n");
        return 1;
    }
    if (!mode_ok) {
        runner_.say("bad file permission '" + f.mode + "'\n");
        return 1;
    }
    return 0;
}

}  // namespace sa
