// The signals a subcommand acts on while its loop runs (`run` stops its job,
// `start` interrupts or drains, `serve` shuts down), each delivered to a
// callback on the loop instead of in a signal handler.
#pragma once

#include "daemon/loop/uv_handle.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace sa {

// Process-wide, before any loop runs: a peer that closed a pipe or socket
// (a log reader gone, a dropped connection) is an error to handle where the
// write fails, not a death.
void ignore_sigpipe();

class SignalSet {
public:
    explicit SignalSet(uv_loop_t* loop) : loop_(loop) {}
    SignalSet(const SignalSet&) = delete;
    SignalSet& operator=(const SignalSet&) = delete;

    // From now until this set goes, signum calls fn on the loop.
    void on(int signum, std::function<void(int signum)> fn);

private:
    struct Watch {
        std::function<void(int)> fn;
        UvHandle<uv_signal_t> handle;  // declared last: closed (data cleared) before fn goes
    };
    uv_loop_t* loop_;
    std::vector<std::unique_ptr<Watch>> watches_;
};

}  // namespace sa
