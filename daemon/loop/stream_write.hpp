// One write to a libuv stream that owns its bytes. libuv keeps the buffer
// until the write callback, so the request and the bytes are allocated
// together and freed together there; the caller's string can go at once.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

namespace sa {

// Called when the kernel took the bytes (status 0) or the write failed or was
// cancelled by uv_close (status < 0, before the handle's close callback). The
// stream's owner is reached through stream->data, as in every other callback.
using WriteDone = void (*)(uv_stream_t* stream, int status, size_t bytes);

// Queues `bytes` on `stream`. Returns uv_write's code: on failure nothing was
// queued and `done` is never called.
inline int write_owned(uv_stream_t* stream, std::string bytes, WriteDone done = nullptr) {
    struct OwnedWrite {
        uv_write_t req;
        std::string bytes;
        WriteDone done;
    };
    auto w = std::make_unique<OwnedWrite>();
    w->bytes = std::move(bytes);
    w->done = done;
    w->req.data = w.get();
    uv_buf_t b;
    b.base = w->bytes.data();
    b.len = w->bytes.size();  // size_t on Unix: no narrowing
    int rc = uv_write(&w->req, stream, &b, 1, [](uv_write_t* r, int status) {
        std::unique_ptr<OwnedWrite> owned(static_cast<OwnedWrite*>(r->data));
        uv_stream_t* s = r->handle;
        size_t n = owned->bytes.size();
        WriteDone cb = owned->done;
        owned.reset();  // the bytes go before the owner runs: memory stays one write
        if (cb) cb(s, status, n);
    });
    if (rc == 0) w.release();  // the write callback owns it now
    return rc;
}

}  // namespace sa
