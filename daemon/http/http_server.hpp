// Serve mode's HTTPS server on the libuv loop: TLS through memory BIOs,
// RequestParser (llhttp) for parsing, keep-alive, and limits so that no client
// can pin the agent:
// - backpressure: a connection is not read while more than kMaxUnsent bytes
//   of its output are unsent, and requests are answered one at a time, so a
//   client that sends without reading holds a bounded amount of memory;
// - authentication when the headers are complete (the admit callback): a
//   refused request is answered before a byte of its body is read, and only
//   an admitted large body (a job) may exceed a few KiB, one at a time;
// - streamed replies: a BodySource is read in blocks, the next one after the
//   previous block's write completed;
// - deadlines from the client's progress: headers, a whole request, taking
//   the reply (reset by each completed write), idle keep-alive (from the
//   moment the last reply was taken).
// - connections that never authenticated (a TLS handshake, GET /is_alive)
//   get a short idle time, and at the connection limit the oldest of them
//   with no reply pending is closed to make room.
#pragma once

#include "common/agent_log.hpp"
#include "daemon/http/http_request.hpp"
#include "common/result.hpp"
#include "daemon/http/tls.hpp"
#include "daemon/loop/uv_handle.hpp"

#include <cstdint>
#include <functional>
#include <set>
#include <memory>
#include <optional>
#include <string>

namespace sa {

// A reply body produced in pieces, for bodies too large to hold at once (a
// job log). Its length is known when the reply starts (Content-Length).
class BodySource {
public:
    virtual ~BodySource() = default;
    virtual uint64_t size() const = 0;
    // Replaces `out` with the next at most `max` bytes (at least one while
    // bytes remain). An error fails the reply: the connection is closed.
    virtual Status read(std::string& out, size_t max) = 0;
};

struct ServerReply {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::unique_ptr<BodySource> stream;  // when set, the body instead of `body`
    // Called once the reply's last bytes were taken by the kernel (the
    // write callback of its last block), not when the handler returns: a
    // streamed body is still being read then. Not called when the
    // connection fails first.
    std::function<void()> on_complete;
};

// What a request may do once its headers are known.
enum class BodyAllowance { Small, Large };
// Whether the request proved who sent it (a valid token). A connection that
// never did is cheap for anyone to hold: it gets a short idle time and is
// the first to make room at the connection limit.
enum class Caller { Anonymous, Authenticated };
struct Admission {
    std::optional<ServerReply> refusal;  // answered at once; the connection closes
    BodyAllowance body = BodyAllowance::Small;
    Caller caller = Caller::Anonymous;
};

struct ServerLimits {
    size_t max_header_bytes = 64 * 1024;  // RequestParser::kHeaderOverhead counted per header
    size_t max_header_count = 100;
    size_t max_small_body_bytes = 4 * 1024;  // every route but an admitted large one
    size_t max_large_body_bytes = 64u << 20; // a job request carries its files
    size_t max_connections = 4096;
    uint64_t header_timeout_ms = 15000;   // TLS handshake and headers
    uint64_t request_timeout_ms = 120000; // a whole request, body included
    uint64_t send_timeout_ms = 30000;     // the client taking none of a pending reply
    uint64_t idle_timeout_ms = 120000;    // after the last reply was taken
    uint64_t anonymous_idle_timeout_ms = 10000;  // the same, never authenticated
    uint64_t linger_ms = 2000;            // reading and dropping after a final reply
};

class HttpServer {
public:
    using Handler = std::function<ServerReply(const ServerRequest&)>;
    using Admitter = std::function<Admission(const ServerRequest& head)>;

    // Unsent output above which a connection is not read and no further
    // block of a streamed reply is produced.
    static constexpr size_t kMaxUnsent = 64 * 1024;
    // The size of a streamed reply's blocks.
    static constexpr size_t kStreamBlock = 256 * 1024;

    HttpServer(uv_loop_t* loop, AgentLog& log, SSL_CTX* tls, ServerLimits limits, Admitter admit,
               Handler handler);
    ~HttpServer();
    Status listen(const std::string& host, int port);
    size_t connections() const { return conns_.size(); }

private:
    class Conn;
    void accept_one();
    Conn* eviction_candidate() const;
    void close(Conn* c);

    uv_loop_t* loop_;
    AgentLog& log_;
    SSL_CTX* tls_;
    ServerLimits limits_;
    Admitter admit_;
    Handler handler_;
    UvHandle<uv_tcp_t> server_;
    // Open connections. Each is owned by its TCP handle: a closed one leaves
    // the set and is freed in the handle's close callback.
    std::set<Conn*> conns_;
    uint64_t accepted_ = 0;  // connections accepted so far: their age order
    Conn* large_body_reader_ = nullptr;  // the one connection reading a large body
};

const char* http_reason(int status);

}  // namespace sa
