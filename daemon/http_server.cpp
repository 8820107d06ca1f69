#include "http_server.hpp"

#include "timer.hpp"

#include <cstring>

namespace sa {

const char* http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

// One TLS connection: ciphertext in -> TLS -> llhttp -> handler -> TLS -> out.
class HttpServer::Conn {
public:
    Conn(HttpServer& srv)
        : srv_(srv), tls_(srv.tls_), deadline_(srv.loop_),
          parser_(srv.limits_.max_header_bytes, srv.limits_.max_body_bytes) {
        // Headers must come within the header deadline, however slowly they
        // trickle in; the body then gets the request deadline.
        parser_.on_phase([this](RequestParser::Phase p) {
            if (p == RequestParser::Phase::Headers) arm(srv_.limits_.header_timeout_ms, "request headers");
            else arm(srv_.limits_.request_timeout_ms, "a request body");
        });
    }

    uv_tcp_t* tcp() { return tcp_.get(); }
    UvHandle<uv_tcp_t>& handle() { return tcp_; }

    void start() {
        arm(srv_.limits_.header_timeout_ms, "TLS handshake and request headers");
        uv_read_start(
            reinterpret_cast<uv_stream_t*>(tcp_.get()),
            [](uv_handle_t* h, size_t, uv_buf_t* b) {
                auto* c = static_cast<Conn*>(h->data);
                *b = c ? uv_buf_init(c->rbuf_, sizeof c->rbuf_) : uv_buf_init(nullptr, 0);
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                auto* c = static_cast<Conn*>(s->data);
                if (!c) return;
                if (n < 0) return c->srv_.close(c);
                if (n > 0) c->on_cipher(b->base, static_cast<size_t>(n));
            });
    }

private:
    void arm(uint64_t ms, const char* what) {
        deadline_.start(ms, [this, what] {
            srv_.log_.debug(std::string("serve: closing a connection: ") + what + " took too long");
            srv_.close(this);
        });
    }

    void on_cipher(const char* data, size_t n) {
        std::string plain;
        auto st = tls_.feed(data, n, plain);
        flush_tls();
        if (!st || tls_.closed()) return srv_.close(this);
        if (closing_) return;  // answered and closing: the rest is ignored
        pending_ += plain;
        parse();
    }

    // Runs the parser over buffered plaintext; it stops after each request
    // so that requests on one connection are answered in order.
    void parse() {
        while (!pending_.empty() && !closing_) {
            auto step = parser_.feed(pending_.data(), pending_.size());
            pending_.erase(0, step.used);
            if (step.kind == RequestParser::Kind::NeedMore) return;
            if (step.kind == RequestParser::Kind::Request) {
                respond();
                continue;
            }
            send(ServerReply{parser_.status(), "application/json",
                             std::string(R"({"message":")") + parser_.message() + "\"}"},
                 true);
            return;
        }
    }

    void respond() {
        ServerReply r = srv_.handler_(parser_.request());
        send(r, !parser_.keep_alive());
        if (!closing_) arm(srv_.limits_.idle_timeout_ms, "an idle keep-alive connection");
    }

    void send(const ServerReply& r, bool close_after) {
        std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + http_reason(r.status) +
                           "\r\nContent-Type: " + r.content_type +
                           "\r\nContent-Length: " + std::to_string(r.body.size()) +
                           (close_after ? "\r\nConnection: close" : "\r\nConnection: keep-alive") +
                           "\r\n\r\n";
        if (!tls_.write(head) || !tls_.write(r.body)) return srv_.close(this);
        flush_tls();
        if (close_after) {
            closing_ = true;
            // Close once the reply is on the wire.
            auto* req = new uv_shutdown_t;
            req->data = this;
            if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(tcp_.get()), [](uv_shutdown_t* s, int) {
                    auto* c = static_cast<Conn*>(s->data);
                    if (c) c->shutdown_req_ = nullptr;  // done: ~Conn must not touch it
                    delete s;
                    if (c) c->srv_.close(c);
                }) != 0) {
                delete req;
                srv_.close(this);
            } else {
                shutdown_req_ = req;
            }
        }
    }

    void flush_tls() {
        std::string out = tls_.take_output();
        if (out.empty()) return;
        struct W {
            uv_write_t req;
            std::string bytes;
        };
        auto* w = new W{{}, std::move(out)};
        w->req.data = w;
        uv_buf_t b = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
        if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp_.get()), &b, 1,
                     [](uv_write_t* r, int) { delete static_cast<W*>(r->data); }) != 0)
            delete w;
    }

public:
    ~Conn() {
        if (shutdown_req_) shutdown_req_->data = nullptr;
    }

private:
    HttpServer& srv_;
    UvHandle<uv_tcp_t> tcp_;
    TlsSession tls_;
    Timer deadline_;
    RequestParser parser_;
    std::string pending_;
    bool closing_ = false;
    uv_shutdown_t* shutdown_req_ = nullptr;
    char rbuf_[16384];
};

HttpServer::HttpServer(uv_loop_t* loop, AgentLog& log, SSL_CTX* tls, ServerLimits limits, Handler handler)
    : loop_(loop), log_(log), tls_(tls), limits_(limits), handler_(std::move(handler)) {}

HttpServer::~HttpServer() {
    conns_.clear();
    server_.reset();
}

Status HttpServer::listen(const std::string& host, int port) {
    sockaddr_storage addr{};
    if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
        uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0)
        return err("host: '" + host + "' is not an IP address");
    uv_tcp_init(loop_, server_.get());
    server_.initialized(this);
    int rc = uv_tcp_bind(server_.get(), reinterpret_cast<sockaddr*>(&addr), 0);
    if (rc == 0)
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(server_.get()), 511, [](uv_stream_t* s, int status) {
            auto* self = static_cast<HttpServer*>(s->data);
            if (self && status == 0) self->accept_one();
        });
    if (rc != 0)
        return err("cannot listen on " + host + ":" + std::to_string(port) + ": " + uv_strerror(rc));
    return Ok{};
}

void HttpServer::accept_one() {
    auto c = std::make_unique<Conn>(*this);
    uv_tcp_init(loop_, c->tcp());
    c->handle().initialized(c.get());
    if (uv_accept(reinterpret_cast<uv_stream_t*>(server_.get()), reinterpret_cast<uv_stream_t*>(c->tcp())) != 0)
        return;
    if (conns_.size() >= limits_.max_connections) {
        log_.warn("serve: connection limit reached; refusing a connection");
        return;  // c goes out of scope: the socket is closed
    }
    uv_tcp_nodelay(c->tcp(), 1);
    Conn* raw = c.get();
    conns_[raw] = std::move(c);
    raw->start();
}

void HttpServer::close(Conn* c) {
    auto it = conns_.find(c);
    if (it == conns_.end()) return;
    // Destroyed on the next loop turn: we may be inside one of its callbacks.
    auto owned = std::make_shared<std::unique_ptr<Conn>>(std::move(it->second));
    conns_.erase(it);
    // No more reads: its buffer goes with it. Its data pointer is cleared
    // so that no callback reaches it before the handle is closed.
    uv_read_stop(reinterpret_cast<uv_stream_t*>((*owned)->tcp()));
    (*owned)->handle().get()->data = nullptr;
    auto* idle = new uv_idle_t;
    uv_idle_init(loop_, idle);
    idle->data = new std::shared_ptr<std::unique_ptr<Conn>>(owned);
    uv_idle_start(idle, [](uv_idle_t* h) {
        delete static_cast<std::shared_ptr<std::unique_ptr<Conn>>*>(h->data);
        uv_idle_stop(h);
        uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_idle_t*>(x); });
    });
}

}  // namespace sa
