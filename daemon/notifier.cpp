#include "notifier.hpp"

#include "sa_build_config.h"

#include <cstdlib>

#if SA_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace sa {

Notifier::Notifier(uv_loop_t* loop) {
#if SA_HAVE_SYSTEMD
    const char* sock = std::getenv("NOTIFY_SOCKET");
    active_ = sock && *sock;
    uint64_t usec = 0;
    if (active_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        watchdog_usec_ = usec;
        watchdog_ = std::make_unique<Timer>(loop);
        arm_watchdog();
    }
#else
    (void)loop;
#endif
}

// Pings at half the watchdog interval. The ping comes from a loop timer,
// so a blocked loop stops the pings and systemd restarts the agent.
void Notifier::arm_watchdog() {
    watchdog_->start(watchdog_usec_ / 2000, [this] {
        send("WATCHDOG=1");
        arm_watchdog();
    });
}

void Notifier::send(const std::string& msg) {
#if SA_HAVE_SYSTEMD
    if (active_) sd_notify(0, msg.c_str());
#else
    (void)msg;
#endif
}

void Notifier::ready() { send("READY=1"); }

void Notifier::status(const std::string& text) {
    if (text == last_status_) return;
    last_status_ = text;
    send("STATUS=" + text);
}

void Notifier::stopping() { send("STOPPING=1"); }

void Notifier::extend_timeout(uint64_t usec) {
    send("EXTEND_TIMEOUT_USEC=" + std::to_string(usec));
}

}  // namespace sa
