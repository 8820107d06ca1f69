// Turns raw PTY output into cmd_output payloads (architecture.md, hot path):
// `\r\n` becomes `\n` (never split across reads), invalid UTF-8 becomes
// U+FFFD, a chunk never splits a UTF-8 sequence, and a chunk is cut at
// 4 KiB or 100 ms after its first byte arrived, whichever comes first.
#pragma once

#include <string>
#include <string_view>

namespace sa {

class ChunkSink {
public:
    virtual void chunk(std::string_view text) = 0;

protected:
    ~ChunkSink() = default;
};

class Chunker {
public:
    static constexpr size_t kMaxChunk = 4096;
    static constexpr long long kFlushMs = 100;

    explicit Chunker(ChunkSink& sink) : sink_(sink) {}

    // Raw bytes read at now_ms; emits every full chunk.
    void push(std::string_view raw, long long now_ms);
    // Emits what is due: everything complete once 100 ms passed since the
    // first unflushed byte. A held `\r` or partial UTF-8 sequence stays.
    void tick(long long now_ms);
    // Milliseconds until tick() has work, or -1 when nothing is pending.
    long long due_in(long long now_ms) const;
    // End of the command: emits everything; a dangling partial sequence
    // becomes U+FFFD and a trailing lone `\r` is kept.
    void finish();

private:
    void normalise(bool final);
    void emit_full_chunks();
    void emit_all();

    ChunkSink& sink_;
    std::string raw_;   // bytes not yet normalised (only an incomplete tail)
    std::string out_;   // normalised, valid UTF-8, not yet emitted
    long long first_ms_ = -1;  // arrival of the oldest unemitted byte
};

// Length of the longest prefix of s that is valid UTF-8 and does not end inside
// a sequence: used to cut chunks. s must itself be valid UTF-8.
size_t utf8_cut(std::string_view s, size_t max);

}  // namespace sa
