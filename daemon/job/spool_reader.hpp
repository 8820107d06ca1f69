// Reads a job's spool (events.jsonl) while it is being written: the one
// reader of the pusher (batches by byte offset), serve's log route (lines
// from N, through the Spool's SpoolIndex) and the log upload (every line).
//
// Only whole lines are handed out (the plain log's LastLine::Deliver aside): a line is complete once its newline
// is in the file, and the Spool never leaves half a line behind a failed
// write. Every read is a pread at an offset the caller keeps, so nothing
// rescans the file and memory stays one block, whatever the log's size.
#pragma once

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "daemon/job/spool_index.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace sa {

class SpoolReader {
public:
    // Every error message is `error_prefix` and the cause; by default
    // "spool PATH: ", for the agent's own log. Serve's replies go to an HTTP
    // client, which is told "spool: " and never the job directory's path.
    static Result<SpoolReader> open(const std::string& path, std::string error_prefix = {});

    struct BatchLimits {
        size_t max_lines;
        size_t max_bytes;
        // A first line longer than max_bytes goes alone, if it is at most this long.
        size_t max_line_bytes;
    };
    // Replaces `out` with the whole lines from byte offset `from`, within
    // `limits`; returns how many (0: nothing complete yet).
    Result<long long> read_batch(long long from, const BatchLimits& limits, std::string& out) const;

    // The byte offset where line `n` (from 0) starts, scanning from the
    // index's checkpoint before it but not past `end`; `end` when the file
    // holds fewer lines than that.
    Result<long long> offset_of_line(const SpoolIndex& index, long long n, long long end) const;

    // Replaces `out` with exactly the `want` bytes at `at`.
    Status read_exact(long long at, size_t want, std::string& out) const;

    // Calls `fn` with each whole line from the start (without its newline),
    // reading a block at a time. A last line without its newline may still be
    // being written: readers of a live spool (the pusher, serve) never see
    // it; the plain log, written once the job is over, takes it as the event
    // it is (Deliver), as std::getline did before SpoolReader.
    enum class LastLine { Drop, Deliver };
    Status for_each_line(const std::function<void(std::string_view)>& fn, LastLine last = LastLine::Drop) const;

    // The file's size now.
    Result<long long> size() const;

private:
    explicit SpoolReader(UniqueFd fd, std::string error_prefix)
        : fd_(std::move(fd)), error_prefix_(std::move(error_prefix)) {}
    // Like pread, retried on EINTR; an error starts with error_prefix_.
    Result<size_t> pread_some(char* buf, size_t len, long long at) const;

    UniqueFd fd_;
    std::string error_prefix_;
};

}  // namespace sa
