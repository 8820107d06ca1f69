// The job's event log on disk (events.jsonl): the source of truth that the
// printer, the pusher and serve mode's log route read from (SpoolReader).
// Append-only; each event is one line, and the spool indexes where lines
// start as it appends (SpoolIndex), so a reader can seek to line N.
#pragma once

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "daemon/job/spool_index.hpp"

#include <string>
#include <string_view>

namespace sa {

class Spool {
public:
    // Creates (truncates) the file, mode 0600.
    static Result<Spool> create(const std::string& path);
    // A spool in memory (memfd), for a job whose directory cannot be
    // written: its path (/proc/self/fd/N) opens the same file for the
    // pusher and the log upload.
    static Result<Spool> create_in_memory();

    // Queues line + '\n'; flush() writes what is queued in one go.
    // Errors (disk full) are returned, never thrown. A failed flush cuts the
    // file back to its last whole line, so readers never see half a line.
    Status append(std::string_view line);
    Status flush();
    const std::string& path() const { return path_; }
    long long bytes() const { return index_.bytes(); }  // queued or written
    long long lines() const { return index_.lines(); }
    // Offsets of queued lines too: a reader clamps to what the file holds.
    const SpoolIndex& index() const { return index_; }

private:
    Spool() = default;
    UniqueFd fd_;
    std::string path_;
    long long written_ = 0;
    SpoolIndex index_;
    std::string pending_;
};

}  // namespace sa
