// Frames between supervisor and worker over a SOCK_STREAM socketpair:
// [u32 payload length, big-endian][u8 type][payload].
#pragma once

#include "common/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sa {

enum class FrameType : uint8_t {
    Job = 1,    // supervisor -> worker: {"job": request, "options": {...}}
    Stop = 2,   // supervisor -> worker: stop the job now
    Event = 3,  // worker -> supervisor: one event JSON line, no newline
    Done = 4,   // worker -> supervisor: the job result ("passed", ...)
    Log = 5,    // worker -> supervisor: a line for the agent log (never job output)
};

// Sizes, derived so that no job the parser accepts makes a frame the
// decoder refuses (a refused frame kills the worker):
//
// - Every text field of a job that reaches an event (a command's directive
//   or alias, an env var's name, a file's path or mode) is at most
//   kMaxJobTextField bytes; the parser refuses a longer one, naming it.
// - An event holds at most two such fields (`Injecting PATH with file mode
//   MODE`) plus at most kMaxAgentText bytes of the worker's own text
//   (messages, captured values, a login's output line), JSON-escaped at
//   worst six bytes per byte (\u00XX).
// - The job request, as the worker receives it, is at most
//   kMaxJobRequestBytes; the agent's options add at most kMaxJobOptionsBytes.
constexpr size_t kMaxJobTextField = 8u << 20;
constexpr size_t kMaxAgentText = 1u << 20;
constexpr size_t kMaxEventPayload = 6 * (2 * kMaxJobTextField + kMaxAgentText) + 4096;
constexpr size_t kMaxJobRequestBytes = 64u << 20;
constexpr size_t kMaxJobOptionsBytes = 16u << 20;

// Largest payload accepted per type; anything bigger is a protocol error.
size_t frame_max_payload(FrameType t);

constexpr size_t kFrameHeader = 5;

void frame_append(std::string& out, FrameType t, std::string_view payload);
// A frame whose payload is appended to `out` in place: frame_begin reserves
// the header and returns its offset, frame_end fills it in once the payload
// (everything after the header) is there. Saves the payload's own string.
size_t frame_begin(std::string& out);
void frame_end(std::string& out, size_t at, FrameType t);

struct Frame {
    FrameType type;
    std::string payload;
};

struct FrameView {
    FrameType type;
    std::string_view payload;
};

// Incremental decoder: feed bytes as they arrive, take frames out.
// A bad header (unknown type, oversize length) puts it in a sticky error.
class FrameDecoder {
public:
    void feed(const char* data, size_t n);
    // The next complete frame; nullopt when more bytes are needed or on error.
    std::optional<Frame> next();
    // The same without copying the payload: it points into the decoder's
    // buffer and is valid until the next feed().
    std::optional<FrameView> next_view();
    bool failed() const { return !error_.empty(); }
    const std::string& error() const { return error_; }
    // Bytes buffered but not yet returned as a frame.
    size_t pending() const { return buf_.size() - pos_; }

private:
    std::string buf_;
    size_t pos_ = 0;
    std::string error_;
};

}  // namespace sa
