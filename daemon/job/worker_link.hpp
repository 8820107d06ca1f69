// The supervisor's end of the socketpair to one worker: the mirror of
// worker/supervisor_link. Frames (common/frame.hpp) come in as the loop
// reads them; JOB and STOP go out. What the frames mean is the worker
// protocol's (common/worker_protocol.hpp) and the runner's business.
#pragma once

#include "common/frame.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "daemon/loop/uv_handle.hpp"

#include <uv.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sa {

class WorkerLink {
public:
    // Called after each read: take the complete frames with next(), then
    // treat them as one batch.
    using ReadFn = std::function<void()>;
    // The worker closed its end (it exited) or the socket failed.
    using ClosedFn = std::function<void()>;

    explicit WorkerLink(uv_loop_t* loop) : loop_(loop) {}
    WorkerLink(const WorkerLink&) = delete;
    WorkerLink& operator=(const WorkerLink&) = delete;

    // Takes the supervisor's end of the socketpair and starts reading.
    Status open(UniqueFd fd, ReadFn on_read, ClosedFn on_closed);

    // The next complete frame of what has been read; nullopt when more
    // bytes are needed or after a frame no worker builds (failed()).
    // The view's payload points into the link's buffer: valid until the
    // next call or the next read. The caller copies what it keeps (the
    // spool does), so no event is copied twice.
    std::optional<FrameView> next() { return decoder_.next_view(); }
    bool failed() const { return decoder_.failed(); }
    const std::string& error() const { return decoder_.error(); }

    // Queues one frame; dropped once the link is closed (the worker is gone).
    void send(FrameType type, std::string_view payload);
    // Reads nothing more (a broken worker); sending still works.
    void stop_reading();
    // Closes the socket; the handle is freed in its close callback.
    void close() { pipe_.reset(); }

private:
    static void read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
    uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(pipe_.get()); }

    uv_loop_t* loop_;
    UvHandle<uv_pipe_t> pipe_;
    FrameDecoder decoder_;
    // One read takes up to this much: the worker writes events in batches
    // of up to 64 KiB (SupervisorLink::kFlushBytes), so a turn of the loop
    // takes several of them in one read(2).
    std::vector<char> readbuf_;
    ReadFn on_read_;
    ClosedFn on_closed_;
};

}  // namespace sa
