// File system helpers: whole-file reads and writes with the options the
// agent needs (mode, owner, no-follow, append), tree removal, descriptor
// clean-up before exec.
#pragma once

#include "common/result.hpp"

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace sa {

// What read_file does with a file longer than max_bytes.
enum class Oversize { Cut, Fail };

// ReadOptions::max_bytes for files read whole whatever their size: kernel
// files with no size of their own (mountinfo on a host with thousands of
// mounts, cgroup.procs of a busy cgroup) that a cut would silently corrupt.
inline constexpr size_t kNoReadLimit = static_cast<size_t>(-1);

struct ReadOptions {
    size_t max_bytes = 1 << 20;  // kNoReadLimit: no limit
    Oversize oversize = Oversize::Cut;
    bool no_follow = false;  // a symbolic link at the path is an error (ELOOP)
};

// The file's content, up to opts.max_bytes. The error is the problem alone
// (strerror's text, or "larger than N bytes"): callers name the file.
Result<std::string> read_file(const std::string& path, const ReadOptions& opts = {});

// Reads the file to its end in chunks, handing each to `chunk`: for files of
// any size scanned without being held whole (cgroup.threads of a busy job).
// The error is the problem alone.
Status read_chunks(const std::string& path, const std::function<void(std::string_view)>& chunk);

// How write_file opens the file.
enum class WriteMode {
    Truncate,  // create or replace the content
    Append,    // create or add to the end
    Existing,  // the file must exist, no create/truncate (cgroup, /proc files)
};

// What write_file does with the mode bits.
enum class ModeUse {
    New,    // `mode` for a file it creates, minus the umask; an existing file keeps its own
    Exact,  // `mode` exactly, whatever the umask and the file had before
    // 0600 while the content goes in, then `mode` exactly (for content that
    // may be a secret, written to a path that may already exist)
    PrivateUntilWritten,
};

struct WriteOptions {
    WriteMode how = WriteMode::Truncate;
    mode_t mode = 0600;
    ModeUse mode_use = ModeUse::New;
    bool no_follow = false;  // do not write through a symbolic link (ELOOP)
    // Owner set on the open descriptor once the content is in; -1: unchanged.
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
};

// The step a write failed at, for callers whose messages tell them apart.
enum class FileStep { None, Open, Write, Owner, Mode, Close };

struct [[nodiscard]] WriteStatus {
    FileStep failed = FileStep::None;
    int error = 0;  // errno of the failed step
    explicit operator bool() const { return failed == FileStep::None; }
    // "<path>: <problem>", naming the step ("cannot set the owner of ...").
    std::string message(const std::string& path) const;
    // strerror's text for `error`.
    std::string reason() const;
};

// Writes `data` whole (short writes and EINTR retried) and closes the file.
WriteStatus write_file(const std::string& path, std::string_view data, const WriteOptions& opts = {});

// mkdir -p with `mode` for every directory it creates, each given to
// uid/gid when uid is not -1. The error is the problem alone.
Status make_dirs(const std::string& dir, mode_t mode, uid_t uid = static_cast<uid_t>(-1),
                 gid_t gid = static_cast<gid_t>(-1));

// rm -rf without following symlinks; best effort.
void remove_tree(const std::string& path);

// Closes every descriptor from `first` up. Async-signal-safe: it runs in
// forked children before exec.
void close_from(int first);

}  // namespace sa
