#include "daemon/metrics/statsd.hpp"

#include <cstring>

namespace sa {

// The request outlives a Statsd destroyed mid-resolution: the destructor
// clears `owner` and the callback frees the request.
struct Statsd::Resolve {
    uv_getaddrinfo_t req{};
    Statsd* owner = nullptr;
};

Statsd::Statsd(uv_loop_t* loop, AgentLog& log, const std::string& host, int port, std::string ns)
    : log_(log), host_(host), ns_(std::move(ns)) {
    if (host.empty()) return;
    if (uv_udp_init(loop, udp_.get()) != 0) {
        log_.warn("StatsD: cannot open a UDP socket: metrics are not sent");
        return;
    }
    udp_.initialized(this);
    if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr_)) == 0 ||
        uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr_)) == 0) {
        state_ = State::Ready;
        return;
    }
    auto* r = new Resolve;
    r->owner = this;
    r->req.data = r;
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    std::string service = std::to_string(port);
    int rc = uv_getaddrinfo(
        loop, &r->req,
        [](uv_getaddrinfo_t* q, int status, addrinfo* res) {
            auto* self = static_cast<Resolve*>(q->data);
            if (self->owner) {
                self->owner->resolve_ = nullptr;
                self->owner->resolved(status, res);
            }
            uv_freeaddrinfo(res);
            delete self;
        },
        host.c_str(), service.c_str(), &hints);
    if (rc != 0) {
        delete r;
        resolved(rc, nullptr);
        return;
    }
    resolve_ = r;
    state_ = State::Resolving;
}

Statsd::~Statsd() {
    if (resolve_) {
        resolve_->owner = nullptr;
        uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->req));
    }
}

void Statsd::resolved(int status, const addrinfo* res) {
    if (status != 0 || !res || res->ai_addrlen > sizeof addr_) {
        // Said once: the sink stays off for the agent's life, as with the
        // original, which resolved its host once at start-up.
        log_.warn("StatsD host '" + host_ + "' does not resolve (" +
                  (status != 0 ? uv_strerror(status) : "no address") + "): metrics are not sent");
        state_ = State::Off;
        pending_.clear();
        return;
    }
    std::memcpy(&addr_, res->ai_addr, res->ai_addrlen);
    state_ = State::Ready;
    for (const auto& d : pending_) write(d);
    pending_.clear();
}

void Statsd::send(const StatsdMetric& m) {
    if (state_ == State::Off) return;
    std::string d = statsd_datagram(ns_, m);
    if (state_ == State::Resolving) {
        if (pending_.size() < kMaxPending) pending_.push_back(std::move(d));
        return;
    }
    write(d);
}

// uv_udp_try_send: sent now or dropped, never queued in memory behind a
// full socket buffer. Loss is what UDP metrics accept.
void Statsd::write(const std::string& datagram) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(datagram.data()), static_cast<unsigned>(datagram.size()));
    uv_udp_try_send(udp_.get(), &b, 1, reinterpret_cast<const sockaddr*>(&addr_));
}

}  // namespace sa
