#include "daemon/job/worker_link.hpp"

#include "daemon/loop/stream_write.hpp"

#include <string>

namespace sa {

Status WorkerLink::open(UniqueFd fd, ReadFn on_read, ClosedFn on_closed) {
    on_read_ = std::move(on_read);
    on_closed_ = std::move(on_closed);
    if (int rc = uv_pipe_init(loop_, pipe_.get(), 0); rc != 0)
        return err(std::string("the worker's socket: ") + uv_strerror(rc));
    pipe_.initialized(this);
    if (int rc = uv_pipe_open(pipe_.get(), fd.get()); rc != 0) {
        pipe_.reset();
        return err(std::string("the worker's socket: ") + uv_strerror(rc));
    }
    fd.release();  // the pipe closes it from now on
    readbuf_.resize(256 * 1024);
    uv_read_start(
        stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
            auto* self = static_cast<WorkerLink*>(h->data);
            *b = uv_buf_init(self->readbuf_.data(), static_cast<unsigned>(self->readbuf_.size()));
        },
        read_cb);
    return Ok{};
}

void WorkerLink::read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* self = static_cast<WorkerLink*>(s->data);
    if (!self) return;
    if (n > 0) {
        self->decoder_.feed(buf->base, static_cast<size_t>(n));
        if (self->on_read_) self->on_read_();
        return;
    }
    if (n < 0) {  // EOF or error: the worker is gone or going
        uv_read_stop(s);
        if (self->on_closed_) self->on_closed_();
    }
}

void WorkerLink::stop_reading() {
    if (pipe_.live()) uv_read_stop(stream());
}

void WorkerLink::send(FrameType type, std::string_view payload) {
    if (!pipe_.live()) return;
    std::string bytes;
    frame_append(bytes, type, payload);
    // A failed write needs no handling here: the worker is gone, and its
    // end shows as the link's EOF.
    write_owned(stream(), std::move(bytes));
}

}  // namespace sa
