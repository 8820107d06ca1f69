#include "statsd.hpp"

#include <cstring>

namespace sa {

Statsd::Statsd(uv_loop_t* loop, const std::string& host, int port, std::string ns) : ns_(std::move(ns)) {
    if (host.empty()) return;
    if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr_)) != 0 &&
        uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr_)) != 0)
        return;
    uv_udp_init(loop, udp_.get());
    udp_.initialized(this);
    enabled_ = true;
}

void Statsd::send(const std::string& line) {
    if (!enabled_) return;
    struct Req {
        uv_udp_send_t req;
        std::string bytes;
    };
    auto* r = new Req{{}, ns_.empty() ? line : ns_ + "." + line};
    r->req.data = r;
    uv_buf_t b = uv_buf_init(r->bytes.data(), static_cast<unsigned>(r->bytes.size()));
    if (uv_udp_send(&r->req, udp_.get(), &b, 1, reinterpret_cast<sockaddr*>(&addr_),
                    [](uv_udp_send_t* q, int) { delete static_cast<Req*>(q->data); }) != 0)
        delete r;
}

void Statsd::count(const std::string& metric, long long n) { send(metric + ":" + std::to_string(n) + "|c"); }

void Statsd::timing(const std::string& metric, long long ms) { send(metric + ":" + std::to_string(ms) + "|ms"); }

}  // namespace sa
