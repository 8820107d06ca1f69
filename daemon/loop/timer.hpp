// A one-shot libuv timer that runs a std::function. Not movable: the
// handle points back at it.
#pragma once

#include "daemon/loop/uv_handle.hpp"

#include <functional>

namespace sa {

class Timer {
public:
    explicit Timer(uv_loop_t* loop) {
        uv_timer_init(loop, h_.get());
        h_.initialized(this);
    }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    // Replaces any pending run.
    void start(uint64_t ms, std::function<void()> fn) {
        fn_ = std::move(fn);
        uv_timer_start(
            h_.get(),
            [](uv_timer_t* t) {
                auto* self = static_cast<Timer*>(t->data);
                if (!self) return;
                auto fn = std::move(self->fn_);  // fn may restart this timer
                self->fn_ = nullptr;
                if (fn) fn();
            },
            ms, 0);
    }
    void stop() {
        uv_timer_stop(h_.get());
        fn_ = nullptr;
    }
    bool active() const { return uv_is_active(h_.handle()) != 0; }

private:
    UvHandle<uv_timer_t> h_;
    std::function<void()> fn_;
};

}  // namespace sa
