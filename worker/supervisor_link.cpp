#include "worker/supervisor_link.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace sa {

std::optional<Frame> SupervisorLink::read_frame_blocking() {
    char buf[65536];
    for (;;) {
        if (auto f = in_.next()) return f;
        if (in_.failed()) return std::nullopt;
        ssize_t n = ::read(fd(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p{fd(), POLLIN, 0};
            ::poll(&p, 1, -1);
            continue;
        }
        if (n <= 0) return std::nullopt;
        in_.feed(buf, static_cast<size_t>(n));
    }
}

bool SupervisorLink::poll_stop() {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {  // EOF or error: nobody to report to, stop the job
            gone_ = stop_ = true;
            break;
        }
        in_.feed(buf, static_cast<size_t>(n));
    }
    while (auto f = in_.next())
        if (f->type == FrameType::Stop) stop_ = true;
    if (in_.failed()) stop_ = true;
    return stop_;
}

bool SupervisorLink::send(FrameType t, std::string_view payload) {
    if (gone_) return false;
    // Agent log lines may quote a job's text (a host setup command): they
    // are cut to what a Log frame carries rather than break the link.
    std::string cut;
    if (t == FrameType::Log && payload.size() > frame_max_payload(t)) {
        constexpr std::string_view kMark = " [... cut]";
        cut.assign(payload.substr(0, frame_max_payload(t) - kMark.size()));
        // Not in the middle of a UTF-8 sequence.
        while (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0x80) cut.pop_back();
        if (!cut.empty() && static_cast<unsigned char>(cut.back()) >= 0xC0) cut.pop_back();
        cut += kMark;
        payload = cut;
    }
    frame_append(out_, t, payload);
    // Events wait for flush() so a burst of output costs one write; the
    // rest (DONE, LOG) go at once, after what is queued.
    if (t != FrameType::Event || out_.size() >= kFlushBytes) return flush();
    return true;
}

bool SupervisorLink::flush() {
    size_t off = 0;
    while (off < out_.size() && !gone_) {
        ssize_t n = ::write(fd(), out_.data() + off, out_.size() - off);
        if (n > 0) {
            off += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p{fd(), POLLOUT, 0};
            ::poll(&p, 1, -1);
        } else {
            gone_ = true;
        }
    }
    out_.clear();
    return !gone_;
}
}  // namespace sa
