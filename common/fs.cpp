#include "common/fs.hpp"

#include "common/unique_fd.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sa {

Status read_chunks(const std::string& path, const std::function<void(std::string_view)>& chunk) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return err(std::strerror(errno));
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return err(std::strerror(errno));
        if (n == 0) return Ok{};
        chunk(std::string_view(buf, static_cast<size_t>(n)));
    }
}

Result<std::string> read_file(const std::string& path, const ReadOptions& opts) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (opts.no_follow ? O_NOFOLLOW : 0)));
    if (!fd.valid()) return err(std::strerror(errno));
    std::string text;
    char buf[8192];
    for (;;) {
        // One byte beyond the limit tells a file of exactly max_bytes from a longer one.
        size_t room = opts.max_bytes == kNoReadLimit ? sizeof buf : opts.max_bytes + 1 - text.size();
        ssize_t n = ::read(fd.get(), buf, room < sizeof buf ? room : sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return err(std::strerror(errno));  // EISDIR for a directory
        if (n == 0) return text;
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > opts.max_bytes) {
            if (opts.oversize == Oversize::Fail)
                return err("larger than " + std::to_string(opts.max_bytes) + " bytes");
            text.resize(opts.max_bytes);
            return text;
        }
    }
}

std::string WriteStatus::reason() const { return std::strerror(error); }

std::string WriteStatus::message(const std::string& path) const {
    const char* what = "cannot write ";
    switch (failed) {
    case FileStep::None: return "";
    case FileStep::Open: what = "cannot open "; break;
    case FileStep::Write: case FileStep::Close: break;
    case FileStep::Owner: what = "cannot set the owner of "; break;
    case FileStep::Mode: what = "cannot set the mode of "; break;
    }
    return what + path + ": " + reason();
}

WriteStatus write_file(const std::string& path, std::string_view data, const WriteOptions& opts) {
    int flags = O_WRONLY | O_CLOEXEC | (opts.no_follow ? O_NOFOLLOW : 0);
    switch (opts.how) {
    case WriteMode::Truncate: flags |= O_CREAT | O_TRUNC; break;
    case WriteMode::Append: flags |= O_CREAT | O_APPEND; break;
    case WriteMode::Existing: break;
    }
    bool private_first = opts.mode_use == ModeUse::PrivateUntilWritten;
    mode_t first_mode = private_first ? 0600 : opts.mode;
    auto fail = [](FileStep s) { return WriteStatus{s, errno}; };
    UniqueFd fd(::open(path.c_str(), flags, first_mode));
    if (!fd.valid()) return fail(FileStep::Open);
    // An existing file keeps its mode through open(): set it before the
    // content goes in. Private-until-written only tries (a file of another
    // owner stays as it is), the final fchmod reports.
    if (opts.mode_use != ModeUse::New && ::fchmod(fd.get(), first_mode) != 0 && !private_first)
        return fail(FileStep::Mode);
    while (!data.empty()) {
        ssize_t n = ::write(fd.get(), data.data(), data.size());
        if (n > 0) data.remove_prefix(static_cast<size_t>(n));
        else if (n < 0 && errno == EINTR) continue;
        else {
            if (n == 0) errno = EIO;
            return fail(FileStep::Write);
        }
    }
    if (opts.uid != static_cast<uid_t>(-1) && ::fchown(fd.get(), opts.uid, opts.gid) != 0)
        return fail(FileStep::Owner);
    if (private_first && ::fchmod(fd.get(), opts.mode) != 0) return fail(FileStep::Mode);
    // close() reports what a deferred write-back found (NFS, quota).
    if (::close(fd.release()) != 0) return fail(FileStep::Close);
    return {};
}

Status make_dirs(const std::string& dir, mode_t mode, uid_t uid, gid_t gid) {
    for (size_t i = 1; i <= dir.size(); i++) {
        if (i < dir.size() && dir[i] != '/') continue;
        std::string part = dir.substr(0, i);
        if (::mkdir(part.c_str(), mode) == 0) {
            if (uid != static_cast<uid_t>(-1) && ::chown(part.c_str(), uid, gid) != 0)
                return err(std::strerror(errno));
        } else if (errno != EEXIST) {
            return err(std::strerror(errno));
        }
    }
    return Ok{};
}

void remove_tree(const std::string& path) {
    nftw(
        path.c_str(),
        [](const char* p, const struct stat*, int type, struct FTW*) {
            if (type == FTW_DP) ::rmdir(p);
            else ::unlink(p);
            return 0;
        },
        16, FTW_DEPTH | FTW_PHYS);
}

void close_from(int first) {
    if (syscall(SYS_close_range, first, ~0U, 0) == 0) return;
    // Kernels before 5.9: one by one, up to the descriptor limit.
    struct rlimit rl;
    long last = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? static_cast<long>(rl.rlim_cur) : 65536;
    for (long fd = first; fd < last; fd++) close(static_cast<int>(fd));
}

}  // namespace sa
