#include "worker/marker.hpp"

#include "common/shell_quote.hpp"

#include <cstring>

namespace sa {

MarkerScanner::MarkerScanner(std::string nonce)
    : start_("\x01" + nonce + ":S"), end_("\x01" + nonce + ":E:"), nonce_(std::move(nonce)) {}

std::string MarkerScanner::instruction(std::string_view cmd_file) const {
    // `\builtin` so that aliases or functions named printf/source in the job
    // cannot break the protocol; no process is spawned for the markers.
    std::string s = "\\builtin printf '\\001" + nonce_ + ":S\\n'; \\builtin source ";
    s += shell_quote(cmd_file);
    s += "; \\builtin printf '\\001" + nonce_ + ":E:%d\\n' \"$?\"\n";
    return s;
}

std::string MarkerScanner::ready_instruction() const {
    return "\\builtin printf '\\001" + nonce_ + ":E:%d\\n' 0\n";
}

void MarkerScanner::begin() {
    buf_.clear();
    state_ = State::WaitStart;
    exit_code_ = 1;
}

void MarkerScanner::begin_without_start() {
    begin();
    state_ = State::Output;
}

bool MarkerScanner::feed(std::string_view raw, std::string& out) {
    if (state_ == State::Done) return true;
    buf_.append(raw);
    if (state_ == State::WaitStart && !scan_wait_start(out)) return false;
    return scan_output(out);
}

// Drops everything up to and including the start marker's line.
bool MarkerScanner::scan_wait_start(std::string&) {
    size_t at = buf_.find(start_);
    if (at == std::string::npos) {
        // Keep only a tail that could still be the beginning of the marker.
        size_t keep = start_.size() - 1;
        if (buf_.size() > keep) buf_.erase(0, buf_.size() - keep);
        return false;
    }
    size_t nl = buf_.find('\n', at + start_.size());
    if (nl == std::string::npos) return false;
    buf_.erase(0, nl + 1);
    state_ = State::Output;
    return true;
}

bool MarkerScanner::scan_output(std::string& out) {
    size_t pos = 0;
    for (;;) {
        const char* base = buf_.data();
        const void* hit = std::memchr(base + pos, '\x01', buf_.size() - pos);
        if (!hit) {
            out.append(buf_, pos, std::string::npos);
            buf_.clear();
            return false;
        }
        size_t at = static_cast<const char*>(hit) - base;
        out.append(buf_, pos, at - pos);
        size_t avail = buf_.size() - at;
        size_t cmp = avail < end_.size() ? avail : end_.size();
        if (buf_.compare(at, cmp, end_, 0, cmp) != 0) {
            out.push_back('\x01');  // an 0x01 of the command's own
            pos = at + 1;
            continue;
        }
        if (avail < end_.size()) {  // could be the marker: wait for more
            buf_.erase(0, at);
            return false;
        }
        size_t d = at + end_.size(), e = d;
        while (e < buf_.size() && e - d < 4 && buf_[e] >= '0' && buf_[e] <= '9') e++;
        if (e == buf_.size()) {
            buf_.erase(0, at);
            return false;
        }
        if (e == d || (buf_[e] != '\r' && buf_[e] != '\n')) {
            out.push_back('\x01');
            pos = at + 1;
            continue;
        }
        exit_code_ = std::stoi(buf_.substr(d, e - d));
        buf_.clear();
        state_ = State::Done;
        return true;
    }
}

}  // namespace sa
