#include "common/frame.hpp"

namespace sa {

size_t frame_max_payload(FrameType t) {
    switch (t) {
    case FrameType::Job: return kMaxJobRequestBytes + kMaxJobOptionsBytes;
    case FrameType::Event: return kMaxEventPayload;
    case FrameType::Log: return 64u << 10;
    case FrameType::Stop:
    case FrameType::Done: return 1024;
    }
    return 0;
}

void frame_append(std::string& out, FrameType t, std::string_view payload) {
    uint32_t n = static_cast<uint32_t>(payload.size());
    char hdr[kFrameHeader] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                              static_cast<char>(n >> 8), static_cast<char>(n),
                              static_cast<char>(t)};
    out.append(hdr, kFrameHeader);
    out.append(payload);
}

size_t frame_begin(std::string& out) {
    size_t at = out.size();
    out.append(kFrameHeader, '\0');
    return at;
}

void frame_end(std::string& out, size_t at, FrameType t) {
    uint32_t n = static_cast<uint32_t>(out.size() - at - kFrameHeader);
    char* h = out.data() + at;
    h[0] = static_cast<char>(n >> 24);
    h[1] = static_cast<char>(n >> 16);
    h[2] = static_cast<char>(n >> 8);
    h[3] = static_cast<char>(n);
    h[4] = static_cast<char>(t);
}

void FrameDecoder::feed(const char* data, size_t n) {
    if (failed()) return;
    // Drop consumed bytes before growing, so the buffer stays about one frame long.
    if (pos_ > 0 && (pos_ == buf_.size() || pos_ > buf_.size() / 2)) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    buf_.append(data, n);
}

std::optional<Frame> FrameDecoder::next() {
    auto v = next_view();
    if (!v) return std::nullopt;
    return Frame{v->type, std::string(v->payload)};
}

std::optional<FrameView> FrameDecoder::next_view() {
    if (failed() || pending() < kFrameHeader) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
    uint32_t n = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
    uint8_t type = p[4];
    if (type < 1 || type > 5) {
        error_ = "unknown frame type " + std::to_string(type);
        return std::nullopt;
    }
    auto t = static_cast<FrameType>(type);
    if (n > frame_max_payload(t)) {
        error_ = "frame of type " + std::to_string(type) + " too large: " + std::to_string(n) +
                 " bytes";
        return std::nullopt;
    }
    if (pending() < kFrameHeader + n) return std::nullopt;
    FrameView f{t, std::string_view(buf_).substr(pos_ + kFrameHeader, n)};
    pos_ += kFrameHeader + n;
    return f;
}

}  // namespace sa
