// The plain-HTTP listener for GET /healthz and GET /metrics (metrics-listen),
// on the agent's own loop. It must never disturb the agent, whatever a
// client does:
//  - one request at a time per connection: no reading while a reply is
//    unsent (backpressure), so a client that does not read its replies
//    holds at most one reply in memory;
//  - request headers are capped (431), a body is refused (413);
//  - deadlines for headers and for idle keep-alive connections, so a slow
//    client holds a connection (of a bounded number) and nothing else;
//  - at the connection limit the longest idle connection is closed to make
//    room, so idle connections cannot lock out /healthz;
//  - bad input gets its status, then the connection is closed.
#pragma once

#include "common/agent_log.hpp"
#include "daemon/http/http_request.hpp"
#include "common/result.hpp"
#include "daemon/loop/uv_handle.hpp"

#include <functional>
#include <memory>
#include <set>
#include <string>

namespace sa {

struct MetricsReply {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

struct MetricsListenerLimits {
    size_t max_header_bytes = 8 * 1024;
    size_t max_connections = 64;
    uint64_t header_timeout_ms = 5000;  // from the first byte of a request to its end
    uint64_t idle_timeout_ms = 60000;   // between keep-alive requests (scrapes come every 15-60 s)
};

class MetricsListener {
public:
    // Gets GET (or HEAD) requests for any path; the listener answers other
    // methods with 405 itself.
    using Handler = std::function<MetricsReply(const ServerRequest&)>;

    MetricsListener(uv_loop_t* loop, AgentLog& log, Handler handler, MetricsListenerLimits limits = {});
    ~MetricsListener();
    MetricsListener(const MetricsListener&) = delete;
    MetricsListener& operator=(const MetricsListener&) = delete;

    // host:port as metrics-listen has it.
    Status listen(const std::string& address);
    size_t connections() const { return conns_.size(); }

private:
    class Conn;
    void accept_one();
    void close(Conn* c);

    uv_loop_t* loop_;
    AgentLog& log_;
    Handler handler_;
    MetricsListenerLimits limits_;
    UvHandle<uv_tcp_t> server_;
    std::set<Conn*> conns_;  // each freed by its handle's close callback
    // Orders connections by when they last became idle (loop time is the
    // same for all accepted in one turn).
    uint64_t idle_seq_ = 0;
};

}  // namespace sa
