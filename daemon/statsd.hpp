// StatsD metrics over UDP (serve mode): counters and timings, fire and forget.
#pragma once

#include "uv_handle.hpp"

#include <string>

namespace sa {

class Statsd {
public:
    // Disabled when host is empty.
    Statsd(uv_loop_t* loop, const std::string& host, int port, std::string ns);
    void count(const std::string& metric, long long n = 1);
    void timing(const std::string& metric, long long ms);
    bool enabled() const { return enabled_; }

private:
    void send(const std::string& line);
    UvHandle<uv_udp_t> udp_;
    sockaddr_storage addr_{};
    std::string ns_;
    bool enabled_ = false;
};

}  // namespace sa
