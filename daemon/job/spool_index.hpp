// Where lines start in a spool, sparsely: the byte offset of one line every
// kLines lines or kBytes bytes, whichever comes first. The Spool keeps it as
// it appends, so a reader asking for line N seeks to the checkpoint before N
// and scans at most kBytes (plus one line) to it, and the index costs about
// 16 bytes per MiB of log (a 1 GB log: some 16 KB).
#pragma once

#include <algorithm>
#include <vector>

namespace sa {

class SpoolIndex {
public:
    static constexpr long long kLines = 1000, kBytes = 1 << 20;
    struct Checkpoint {
        long long line, offset;
    };

    // One more line of `bytes` bytes (its newline included).
    void add_line(long long bytes) noexcept {
        lines_++;
        bytes_ += bytes;
        const Checkpoint& last = checkpoints_.back();
        if (lines_ - last.line < kLines && bytes_ - last.offset < kBytes) return;
        try {
            checkpoints_.push_back({lines_, bytes_});
        } catch (...) {
            // Without this one a reader scans further; retried at the next line.
        }
    }

    // The last checkpoint at or before `line` (line 0 at offset 0 at worst).
    Checkpoint before(long long line) const {
        auto it = std::upper_bound(checkpoints_.begin(), checkpoints_.end(), line,
                                   [](long long l, const Checkpoint& c) { return l < c.line; });
        return *--it;  // checkpoints_[0] is line 0
    }

    long long lines() const { return lines_; }
    long long bytes() const { return bytes_; }
    size_t checkpoints() const { return checkpoints_.size(); }

private:
    std::vector<Checkpoint> checkpoints_{{0, 0}};
    long long lines_ = 0, bytes_ = 0;
};

}  // namespace sa
