#include "http_server.hpp"

#include "timer.hpp"

#include <llhttp.h>

#include <cctype>
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

std::string ServerRequest::query_param(const std::string& name) const {
    size_t pos = 0;
    while (pos <= query.size()) {
        size_t amp = query.find('&', pos);
        if (amp == std::string::npos) amp = query.size();
        std::string kv = query.substr(pos, amp - pos);
        size_t eq = kv.find('=');
        if (kv.substr(0, eq) == name) return eq == std::string::npos ? "" : kv.substr(eq + 1);
        pos = amp + 1;
    }
    return "";
}

// One TLS connection: ciphertext in -> TLS -> llhttp -> handler -> TLS -> out.
class HttpServer::Conn {
public:
    Conn(HttpServer& srv) : srv_(srv), tls_(srv.tls_), deadline_(srv.loop_) {
        llhttp_settings_init(&settings_);
        settings_.on_message_begin = [](llhttp_t* p) { return self(p)->on_begin(); };
        settings_.on_url = [](llhttp_t* p, const char* a, size_t n) { return self(p)->on_url(a, n); };
        settings_.on_header_field = [](llhttp_t* p, const char* a, size_t n) { return self(p)->on_field(a, n); };
        settings_.on_header_value = [](llhttp_t* p, const char* a, size_t n) { return self(p)->on_value(a, n); };
        settings_.on_headers_complete = [](llhttp_t* p) { return self(p)->on_headers_complete(); };
        settings_.on_body = [](llhttp_t* p, const char* a, size_t n) { return self(p)->on_body(a, n); };
        settings_.on_message_complete = [](llhttp_t* p) { return self(p)->on_complete(); };
        llhttp_init(&parser_, HTTP_REQUEST, &settings_);
        parser_.data = this;
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
    static Conn* self(llhttp_t* p) { return static_cast<Conn*>(p->data); }

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

    // Runs the parser over buffered plaintext; it pauses after each request
    // so that requests on one connection are answered in order.
    void parse() {
        while (!pending_.empty() && !closing_) {
            llhttp_errno_t e = llhttp_execute(&parser_, pending_.data(), pending_.size());
            if (e == HPE_OK) {
                pending_.clear();
                return;
            }
            if (e == HPE_PAUSED) {
                size_t used = static_cast<size_t>(llhttp_get_error_pos(&parser_) - pending_.data());
                pending_.erase(0, used);
                llhttp_resume(&parser_);
                respond();
                continue;
            }
            int status = reject_status_ ? reject_status_ : 400;
            ServerReply r{status, "application/json",
                          std::string(R"({"message":")") +
                              (reject_status_ ? reject_msg_ : "malformed HTTP request") + "\"}"};
            send(r, true);
            return;
        }
    }

    int on_begin() {
        req_ = ServerRequest{};
        header_bytes_ = 0;
        field_.clear();
        value_.clear();
        in_value_ = false;
        // Headers must come within the header deadline, however slowly
        // they trickle in; the body then gets the request deadline.
        arm(srv_.limits_.header_timeout_ms, "request headers");
        return 0;
    }
    bool count_header(size_t n) {
        header_bytes_ += n;
        if (header_bytes_ <= srv_.limits_.max_header_bytes) return true;
        reject_status_ = 431;
        reject_msg_ = "request headers too large";
        return false;
    }
    int on_url(const char* a, size_t n) {
        if (!count_header(n)) return -1;
        req_.path.append(a, n);
        return 0;
    }
    void end_header() {
        if (field_.empty()) return;
        for (auto& ch : field_) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        req_.headers[field_] = value_;
        field_.clear();
        value_.clear();
    }
    int on_field(const char* a, size_t n) {
        if (!count_header(n)) return -1;
        if (in_value_) end_header();
        in_value_ = false;
        field_.append(a, n);
        return 0;
    }
    int on_value(const char* a, size_t n) {
        if (!count_header(n)) return -1;
        in_value_ = true;
        value_.append(a, n);
        return 0;
    }
    int on_headers_complete() {
        end_header();
        arm(srv_.limits_.request_timeout_ms, "a request body");
        req_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
        if (size_t q = req_.path.find('?'); q != std::string::npos) {
            req_.query = req_.path.substr(q + 1);
            req_.path.resize(q);
        }
        if ((parser_.flags & F_CONTENT_LENGTH) && parser_.content_length > srv_.limits_.max_body_bytes) {
            reject_status_ = 413;
            reject_msg_ = "request body too large";
            return -1;
        }
        return 0;
    }
    int on_body(const char* a, size_t n) {
        if (req_.body.size() + n > srv_.limits_.max_body_bytes) {
            reject_status_ = 413;
            reject_msg_ = "request body too large";
            return -1;
        }
        req_.body.append(a, n);
        return 0;
    }
    int on_complete() {
        keep_alive_ = llhttp_should_keep_alive(&parser_);
        return HPE_PAUSED;
    }

    void respond() {
        ServerReply r = srv_.handler_(req_);
        send(r, !keep_alive_);
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
    llhttp_t parser_;
    llhttp_settings_t settings_;
    ServerRequest req_;
    std::string field_, value_, pending_;
    bool in_value_ = false, keep_alive_ = true, closing_ = false;
    size_t header_bytes_ = 0;
    int reject_status_ = 0;
    const char* reject_msg_ = "";
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
