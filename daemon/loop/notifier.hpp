// systemd service notifications (sd_notify): readiness, a status line,
// watchdog pings from the event loop, stopping, and more time to stop while
// a job drains. Does nothing when not started by systemd (no NOTIFY_SOCKET)
// or when built with -Dsystemd=disabled.
#pragma once

#include "daemon/loop/timer.hpp"
#include "common/unique_fd.hpp"

#include <sys/un.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

namespace sa {

class Notifier {
public:
    explicit Notifier(uv_loop_t* loop);
    void ready();
    void status(const std::string& text);
    void stopping();
    // Asks systemd for usec more before it gives up on stopping us.
    void extend_timeout(uint64_t usec);
    bool active() const { return active_; }

private:
    void send(const std::string& msg);
    void arm_watchdog();

    UniqueFd fd_;
    sockaddr_un addr_{};
    socklen_t addr_len_ = 0;
    bool active_ = false;
    uint64_t watchdog_usec_ = 0;
    std::unique_ptr<Timer> watchdog_;
    std::string last_status_;
};

}  // namespace sa
