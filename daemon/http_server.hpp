// Serve mode's HTTPS server on the libuv loop: TLS through memory BIOs,
// RequestParser (llhttp) for parsing, keep-alive, and limits so that no client can pin the
// agent: header bytes, body bytes, connection count, and deadlines for
// the handshake plus headers, for a whole request, and for idle keep-alive.
#pragma once

#include "agent_log.hpp"
#include "http_request.hpp"
#include "result.hpp"
#include "tls.hpp"
#include "uv_handle.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace sa {

struct ServerReply {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
};

struct ServerLimits {
    size_t max_header_bytes = 64 * 1024;
    size_t max_body_bytes = 64u << 20;  // a job request carries its files
    size_t max_connections = 4096;
    uint64_t header_timeout_ms = 15000;   // TLS handshake and headers
    uint64_t request_timeout_ms = 120000; // a whole request, body included
    uint64_t idle_timeout_ms = 120000;    // between keep-alive requests
};

class HttpServer {
public:
    using Handler = std::function<ServerReply(const ServerRequest&)>;

    HttpServer(uv_loop_t* loop, AgentLog& log, SSL_CTX* tls, ServerLimits limits, Handler handler);
    ~HttpServer();
    Status listen(const std::string& host, int port);
    size_t connections() const { return conns_.size(); }

private:
    class Conn;
    void accept_one();
    void close(Conn* c);

    uv_loop_t* loop_;
    AgentLog& log_;
    SSL_CTX* tls_;
    ServerLimits limits_;
    Handler handler_;
    UvHandle<uv_tcp_t> server_;
    std::map<Conn*, std::unique_ptr<Conn>> conns_;
};

const char* http_reason(int status);

}  // namespace sa
