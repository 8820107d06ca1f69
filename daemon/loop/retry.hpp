// The one retry rule of the supervisor: a fixed number of attempts a fixed
// interval apart, the wait on a libuv Timer. Register, get-job, disconnect
// (protocol.md section 2) and serve's callbacks each have their own numbers.
#pragma once

#include "daemon/loop/timer.hpp"

#include <cstdint>
#include <functional>
#include <utility>

namespace sa {

struct RetryPolicy {
    int attempts = 1;          // in all, the first one included
    uint64_t interval_ms = 0;  // from a failed attempt to the next

    bool last(int attempt) const { return attempt >= attempts; }

    // After attempt `attempt` failed: runs next(attempt + 1) on `timer`
    // interval_ms later and returns true, or returns false when it was the
    // last attempt (the caller gives up). The timer's pending run, if any,
    // is replaced: one timer serves one retry loop at a time.
    bool retry(Timer& timer, int attempt, std::function<void(int)> next) const {
        if (last(attempt)) return false;
        timer.start(interval_ms, [attempt, next = std::move(next)] { next(attempt + 1); });
        return true;
    }
};

}  // namespace sa
