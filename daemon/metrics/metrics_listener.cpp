#include "daemon/metrics/metrics_listener.hpp"

#include "common/config.hpp"
#include "daemon/http/http_server.hpp"  // http_reason
#include "daemon/loop/stream_write.hpp"
#include "daemon/loop/timer.hpp"

#include <exception>
#include <optional>

namespace sa {

// The connection owns its TCP handle and, like the handle, lives until the
// handle's close callback, as HttpServer's do: libuv calls the cancelled
// write and shutdown callbacks before that one, so they always find the
// connection (marked gone).
class MetricsListener::Conn {
public:
    explicit Conn(MetricsListener& l)
        : l_(l), deadline_(std::in_place, l.loop_), parser_(l.limits_.max_header_bytes, 0) {
        // A request must be complete within the header deadline however
        // slowly it trickles in.
        parser_.on_phase([this](RequestParser::Phase p) {
            if (p == RequestParser::Phase::Headers) arm(l_.limits_.header_timeout_ms, "request headers");
        });
    }
    // Initializes the TCP handle: from then on the connection is freed only
    // by close_handle().
    void init_handle() {
        uv_tcp_init(l_.loop_, &tcp_);
        tcp_.data = this;
    }
    // Taken out of the listener: no callback may act on it again. The timer
    // is closed now, with the TCP handle, so that one turn of the loop frees
    // both; the TCP handle's close callback frees the connection.
    void close_handle() {
        gone_ = true;
        uv_read_stop(stream());
        deadline_.reset();
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
    }

    uv_tcp_t* tcp() { return &tcp_; }
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

    void start() {
        idle_since_ = ++l_.idle_seq_;
        arm(l_.limits_.idle_timeout_ms, "an idle connection");
        resume();
    }

    // Between requests (or done and lingering): closing it loses no answer.
    bool idle() const { return !writing_ && !parser_.in_request(); }
    uint64_t idle_since() const { return idle_since_; }

private:
    void arm(uint64_t ms, const char* what) {
        deadline_->start(ms, [this, what] {
            l_.log_.debug(std::string("metrics: closing a connection: ") + what + " took too long");
            l_.close(this);  // nothing may touch `this` after this
        });
    }

    void resume() {
        uv_read_start(
            stream(),
            [](uv_handle_t* h, size_t, uv_buf_t* b) {
                auto* c = static_cast<Conn*>(h->data);
                *b = uv_buf_init(c->rbuf_, sizeof c->rbuf_);
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                auto* c = static_cast<Conn*>(s->data);
                if (c->gone_) return;
                if (n < 0) return c->l_.close(c);
                if (n == 0 || c->lingering_) return;  // lingering: what comes now is dropped
                // Nothing thrown may cross libuv: a failure closes this
                // connection only.
                MetricsListener& l = c->l_;
                try {
                    c->pending_.append(b->base, static_cast<size_t>(n));
                    c->parse();
                } catch (...) {
                    l.close(c);  // a no-op if c was closed already
                }
            });
    }

    // Parses what is buffered; stops reading while a reply is on its way.
    void parse() {
        while (!pending_.empty()) {
            auto step = parser_.feed(pending_.data(), pending_.size());
            pending_.erase(0, step.used);
            if (step.kind == RequestParser::Kind::NeedMore) {
                // Unparsed bytes are bounded by llhttp consuming everything
                // it is given; the header cap bounds what it keeps.
                return;
            }
            if (step.kind == RequestParser::Kind::Error) {
                MetricsReply r{parser_.status(), "text/plain; charset=utf-8", std::string(parser_.message()) + "\n"};
                return send(r, true, false);
            }
            const ServerRequest& req = parser_.request();
            bool head = req.method == "HEAD";
            MetricsReply r;
            if (req.method != "GET" && !head) r = {405, "text/plain; charset=utf-8", "only GET is served here\n"};
            else r = answer(req);
            return send(r, !parser_.keep_alive(), head);
        }
    }

    // The handler runs in the read callback: what it throws (bad_alloc
    // building the metrics text) fails this request only, as a 500.
    MetricsReply answer(const ServerRequest& req) {
        try {
            return l_.handler_(req);
        } catch (const std::exception& e) {
            try {
                l_.log_.error(std::string("metrics: ") + req.method + " " + req.path + " failed: " + e.what());
            } catch (...) {
            }
        } catch (...) {
        }
        return {500, "text/plain; charset=utf-8", "internal error\n"};
    }

    void send(const MetricsReply& r, bool close_after, bool head) {
        uv_read_stop(stream());  // backpressure: nothing more is read until this is written
        writing_ = true;
        closing_ = close_after;
        std::string bytes = "HTTP/1.1 " + std::to_string(r.status) + " " + http_reason(r.status) +
                            "\r\nContent-Type: " + r.content_type +
                            "\r\nContent-Length: " + std::to_string(r.body.size()) +
                            (r.status == 405 ? "\r\nAllow: GET, HEAD" : "") +
                            (close_after ? "\r\nConnection: close" : "") + "\r\n\r\n";
        if (!head) bytes += r.body;
        int rc = write_owned(stream(), std::move(bytes), [](uv_stream_t* s, int status, size_t) {
            auto* c = static_cast<Conn*>(s->data);
            if (!c->gone_) c->written(status);  // cancelled by the close otherwise
        });
        if (rc != 0) l_.close(this);
    }

    void written(int status) {
        writing_ = false;
        if (status != 0) return l_.close(this);
        if (closing_) return linger();
        // The reply is out: wait for the next request, and parse what the
        // client pipelined meanwhile.
        idle_since_ = ++l_.idle_seq_;
        arm(l_.limits_.idle_timeout_ms, "an idle connection");
        resume();
        parse();
    }

    // Closing with unread input makes the kernel send a reset, which can
    // destroy the error reply before the client reads it (a 431 after huge
    // headers): send FIN, drop what still comes for a moment, then close.
    void linger() {
        lingering_ = true;
        // The request is the connection's: its callback runs before the
        // handle's close callback frees it, and has nothing left to do.
        if (uv_shutdown(&shutdown_req_, stream(), [](uv_shutdown_t*, int) {}) != 0) return l_.close(this);
        arm(kLingerMs, "closing after an answer");
        resume();
    }
    static constexpr uint64_t kLingerMs = 2000;

    MetricsListener& l_;
    uv_tcp_t tcp_{};
    uv_shutdown_t shutdown_req_{};
    std::optional<Timer> deadline_;  // reset when the connection is closed
    RequestParser parser_;
    std::string pending_;
    bool writing_ = false, closing_ = false, lingering_ = false, gone_ = false;
    uint64_t idle_since_ = 0;  // l_.idle_seq_ at the accept or at the last reply
    char rbuf_[4096];
};

MetricsListener::MetricsListener(uv_loop_t* loop, AgentLog& log, Handler handler, MetricsListenerLimits limits)
    : loop_(loop), log_(log), handler_(std::move(handler)), limits_(limits) {}

MetricsListener::~MetricsListener() {
    for (Conn* c : conns_) c->close_handle();
    conns_.clear();
    server_.reset();
}

Status MetricsListener::listen(const std::string& address) {
    std::string host;
    int port = 0;
    if (!split_listen_address(address, host, port))
        return err("metrics-listen: '" + address + "' is not HOST:PORT with an IP address, like 127.0.0.1:9464");
    sockaddr_storage addr{};
    if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
        uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0)
        return err("metrics-listen: '" + host + "' is not an IP address");
    uv_tcp_init(loop_, server_.get());
    server_.initialized(this);
    int rc = uv_tcp_bind(server_.get(), reinterpret_cast<sockaddr*>(&addr), 0);
    if (rc == 0)
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(server_.get()), 64, [](uv_stream_t* s, int status) {
            auto* self = static_cast<MetricsListener*>(s->data);
            if (self && status == 0) self->accept_one();
        });
    if (rc != 0) return err("metrics-listen: cannot listen on " + address + ": " + uv_strerror(rc));
    return Ok{};
}

void MetricsListener::accept_one() {
    Conn* c = new Conn(*this);  // from here on freed by its handle's close callback
    c->init_handle();
    if (uv_accept(reinterpret_cast<uv_stream_t*>(server_.get()), c->stream()) != 0) return c->close_handle();
    if (conns_.size() >= limits_.max_connections) {
        // Idle connections cost any local process nothing to hold: at the
        // limit the one idle longest makes room, so that a scrape or a
        // health check always gets in. Only when every connection has a
        // request in progress (each bounded by the header deadline) is the
        // new one refused.
        Conn* victim = nullptr;
        for (Conn* conn : conns_)
            if (conn->idle() && (!victim || conn->idle_since() < victim->idle_since())) victim = conn;
        if (!victim) {
            log_.debug("metrics: connection limit reached, none idle; refusing a connection");
            return c->close_handle();
        }
        log_.debug("metrics: connection limit reached; closing the longest idle connection");
        close(victim);
    }
    uv_tcp_nodelay(c->tcp(), 1);
    try {
        conns_.insert(c);
    } catch (...) {
        return c->close_handle();  // out of memory: refused; nothing may cross libuv
    }
    c->start();
}

// The connection is freed by its handle's close callback, after the loop's
// cancelled write and shutdown callbacks: we may be inside one of its
// callbacks now. Erasing allocates nothing, so closing cannot fail.
void MetricsListener::close(Conn* c) {
    if (conns_.erase(c) == 0) return;
    c->close_handle();
}

}  // namespace sa
