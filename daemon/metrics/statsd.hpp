// StatsD metrics over UDP: fire and forget. Nothing here can block or fail
// a job: the host is resolved off the loop, a datagram the kernel will not
// take at once is dropped, and an unresolvable host disables the sink with
// one line in the agent log. Wire format: statsd_format.hpp.
#pragma once

#include "common/agent_log.hpp"
#include "daemon/metrics/statsd_format.hpp"
#include "daemon/loop/uv_handle.hpp"

#include <string>
#include <vector>

namespace sa {

class Statsd {
public:
    // Disabled when host is empty. A host that is not a literal address is
    // resolved in the background; metrics sent meanwhile wait (a few).
    Statsd(uv_loop_t* loop, AgentLog& log, const std::string& host, int port, std::string ns);
    ~Statsd();
    Statsd(const Statsd&) = delete;
    Statsd& operator=(const Statsd&) = delete;

    void send(const StatsdMetric& m);
    void count(const std::string& metric, long long n = 1) { send({metric, n, StatsdKind::Counter, false, {}}); }
    void timing(const std::string& metric, long long ms) { send({metric, ms, StatsdKind::Timing, false, {}}); }

private:
    enum class State { Off, Resolving, Ready };
    struct Resolve;
    void resolved(int status, const addrinfo* res);
    void write(const std::string& datagram);

    AgentLog& log_;
    std::string host_;
    UvHandle<uv_udp_t> udp_;
    sockaddr_storage addr_{};
    std::string ns_;
    State state_ = State::Off;
    Resolve* resolve_ = nullptr;  // owned by libuv until its callback
    std::vector<std::string> pending_;
    static constexpr size_t kMaxPending = 64;
};

}  // namespace sa
