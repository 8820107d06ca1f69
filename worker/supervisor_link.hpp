// The worker's end of the socketpair (fd 3): frames out, STOP in.
#pragma once

#include "common/frame.hpp"
#include "common/unique_fd.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace sa {

class SupervisorLink {
public:
    explicit SupervisorLink(int fd) : fd_(fd) {}

    int fd() const { return fd_.get(); }
    // Blocking read of the first frame (the JOB). nullopt on EOF or a bad frame.
    std::optional<Frame> read_frame_blocking();
    // Call when fd() polls readable: reads what is there; true once a STOP
    // arrived or the supervisor went away (both mean: stop the job).
    bool poll_stop();
    bool stop_requested() const { return stop_; }
    bool supervisor_gone() const { return gone_; }

    // Queues one frame; events are written by flush() (or once 64 KiB are
    // queued), other frames at once. Writes block: a slow supervisor slows
    // the job down instead of growing memory here. False when it is gone.
    bool send(FrameType t, std::string_view payload);
    // Writes every queued frame. Call before waiting for anything.
    bool flush();
    static constexpr size_t kFlushBytes = 64 * 1024;
    // Bytes of frames queued and not yet written.
    size_t queued() const { return out_.size(); }
    bool send_event(const std::string& line) { return send(FrameType::Event, line); }
    // Queues an event that append(std::string&) writes straight into the
    // queue: no string of its own, one copy of the output less (issue 20).
    template <class Append>
    bool send_event_in_place(Append&& append) {
        if (gone_) return false;
        size_t at = frame_begin(out_);
        append(out_);
        frame_end(out_, at, FrameType::Event);
        return out_.size() >= kFlushBytes ? flush() : true;
    }

private:
    UniqueFd fd_;
    FrameDecoder in_;
    std::string out_;
    bool stop_ = false;
    bool gone_ = false;
};

}  // namespace sa
