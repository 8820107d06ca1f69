#include "daemon/loop/notifier.hpp"

#include "sa_build_config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace sa {

// The notification protocol is a datagram to $NOTIFY_SOCKET (a path, or an
// abstract socket when it starts with '@'), documented as stable in
// sd_notify(3). Speaking it directly spares the agent libsystemd and the
// libraries it loads (gcrypt, lz4, lzma...): about 0.7 MB of resident memory.
Notifier::Notifier(uv_loop_t* loop) {
#if SA_HAVE_SYSTEMD
    const char* sock = std::getenv("NOTIFY_SOCKET");
    if (!sock || !*sock || std::strlen(sock) >= sizeof(addr_.sun_path) ||
        (sock[0] != '/' && sock[0] != '@'))
        return;
    addr_.sun_family = AF_UNIX;
    std::memcpy(addr_.sun_path, sock, std::strlen(sock));
    addr_len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + std::strlen(sock));
    if (sock[0] == '@') addr_.sun_path[0] = '\0';
    fd_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    active_ = fd_.valid();
    // WATCHDOG_USEC is meant for us unless WATCHDOG_PID names another process.
    const char* usec = std::getenv("WATCHDOG_USEC");
    const char* pid = std::getenv("WATCHDOG_PID");
    uint64_t us = usec ? std::strtoull(usec, nullptr, 10) : 0;
    if (active_ && us > 0 && (!pid || std::strtol(pid, nullptr, 10) == getpid())) {
        watchdog_usec_ = us;
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
    if (!active_) return;
    // Best effort, as with sd_notify: a full or missing socket must not
    // block or stop the agent.
    (void)sendto(fd_.get(), msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
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
