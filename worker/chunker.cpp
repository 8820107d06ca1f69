#include "worker/chunker.hpp"

#include <cstdint>
#include <cstring>

namespace sa {

namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

// Index of the first byte that is `\r` or non-ASCII at or after i, or n.
// Checks eight bytes a step: this loop sees every byte of job output.
size_t find_special(const unsigned char* p, size_t i, size_t n) {
    constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    constexpr uint64_t cr = ones * '\r';
    while (i + 8 <= n) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        uint64_t x = w ^ cr;  // zero byte where w has '\r'
        uint64_t has_cr = (x - ones) & ~x & highs;
        if ((w & highs) | has_cr) break;
        i += 8;
    }
    while (i < n && p[i] != '\r' && p[i] < 0x80) i++;
    return i;
}

// Length of the valid UTF-8 sequence at p[0..avail), 0 if invalid,
// -1 if it may become valid with more bytes.
int utf8_seq(const unsigned char* p, size_t avail) {
    unsigned char c = p[0];
    int len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }  // no surrogates
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return 0;
    for (int k = 1; k < len; k++) {
        if (static_cast<size_t>(k) >= avail) return -1;
        unsigned char b = p[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
    }
    return len;
}

}  // namespace

size_t utf8_cut(std::string_view s, size_t max) {
    if (s.size() <= max) return s.size();
    size_t cut = max;
    // Back up over continuation bytes to the start of the sequence that
    // straddles the cut (at most three).
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut--;
    return cut;
}

void Chunker::normalise(bool final) {
    const auto* p = reinterpret_cast<const unsigned char*>(raw_.data());
    size_t n = raw_.size(), i = 0;
    while (i < n) {
        size_t j = find_special(p, i, n);
        out_.append(raw_, i, j - i);
        i = j;
        if (i >= n) break;
        if (p[i] == '\r') {
            if (i + 1 >= n) {
                if (!final) break;  // hold it: a `\n` may follow in the next read
                out_.push_back('\r');
                i++;
            } else if (p[i + 1] == '\n') {
                out_.push_back('\n');
                i += 2;
            } else {
                out_.push_back('\r');
                i++;
            }
            continue;
        }
        int len = utf8_seq(p + i, n - i);
        if (len > 0) {
            out_.append(raw_, i, static_cast<size_t>(len));
            i += static_cast<size_t>(len);
        } else if (len < 0 && !final) {
            break;  // partial sequence at the end: wait for the rest
        } else {
            out_ += kReplacement;
            i++;
        }
    }
    raw_.erase(0, i);
}

void Chunker::emit_full_chunks() {
    size_t pos = 0;
    while (out_.size() - pos >= kMaxChunk) {
        std::string_view rest(out_.data() + pos, out_.size() - pos);
        size_t cut = utf8_cut(rest, kMaxChunk);
        sink_.chunk(rest.substr(0, cut));
        pos += cut;
    }
    if (pos) out_.erase(0, pos);
}

void Chunker::emit_all() {
    emit_full_chunks();
    if (!out_.empty()) sink_.chunk(out_);
    out_.clear();
}

void Chunker::push(std::string_view raw, long long now_ms) {
    if (raw.empty()) return;
    if (first_ms_ < 0) first_ms_ = now_ms;
    raw_.append(raw);
    normalise(false);
    size_t before = out_.size();
    emit_full_chunks();
    if (out_.size() != before && out_.empty() && raw_.empty()) first_ms_ = -1;
    // What is left started arriving no earlier than this read: restart the clock
    // when a full chunk just went out, so the remainder still gets its 100 ms.
    if (out_.size() != before && (!out_.empty() || !raw_.empty())) first_ms_ = now_ms;
}

void Chunker::tick(long long now_ms) {
    if (first_ms_ < 0 || now_ms - first_ms_ < kFlushMs) return;
    emit_all();
    first_ms_ = raw_.empty() ? -1 : now_ms;
}

long long Chunker::due_in(long long now_ms) const {
    if (first_ms_ < 0) return -1;
    if (out_.empty()) return -1;  // only a held tail: it waits for more bytes
    long long d = first_ms_ + kFlushMs - now_ms;
    return d < 0 ? 0 : d;
}

void Chunker::finish() {
    normalise(true);
    emit_all();
    first_ms_ = -1;
}

}  // namespace sa
