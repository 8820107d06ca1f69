// One owner per libuv handle. The handle lives on the heap because libuv
// still touches it after uv_close() until the close callback runs; the
// callback frees it, so the owner can go away at once.
#pragma once

#include <uv.h>

#include <utility>

namespace sa {

template <class T>
class UvHandle {
public:
    UvHandle() : h_(new T{}) {}
    UvHandle(const UvHandle&) = delete;
    UvHandle& operator=(const UvHandle&) = delete;
    UvHandle(UvHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)), live_(o.live_) {}
    ~UvHandle() { reset(); }

    T* get() const { return h_; }
    uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(h_); }
    // Call after a successful uv_*_init: from then on it must be closed.
    void initialized(void* data) {
        live_ = true;
        h_->data = data;
    }
    bool live() const { return live_; }

    void reset() {
        if (!h_) return;
        if (live_) {
            h_->data = nullptr;  // no callback may reach the old owner now
            uv_close(handle(), [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
        } else {
            delete h_;
        }
        h_ = nullptr;
        live_ = false;
    }

private:
    T* h_;
    bool live_ = false;
};

}  // namespace sa
