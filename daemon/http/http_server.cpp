#include "daemon/http/http_server.hpp"

#include "common/json.hpp"
#include "daemon/loop/stream_write.hpp"
#include "daemon/loop/timer.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <exception>

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

namespace {

ServerReply message_reply(int status, const std::string& message) {
    std::string body = "{\"message\":";
    json_append_string(body, message);
    body += "}";
    return ServerReply{status, "application/json", std::move(body), nullptr, {}};
}

}  // namespace

// One TLS connection: ciphertext in -> TLS -> llhttp -> handler -> TLS -> out.
//
// Every entry from libuv (read, write, shutdown, timer) goes through
// guarded(): nothing thrown may cross a C callback, and a failure ends this
// connection only.
//
// The connection owns its TCP handle and, like the handle, lives until the
// handle's close callback: libuv calls the cancelled write and shutdown
// callbacks before that one, so they always find the connection (marked gone)
// and nothing needs to keep it alive in between.
class HttpServer::Conn {
public:
    explicit Conn(HttpServer& srv)
        : srv_(srv), tls_(srv.tls_), deadline_(std::in_place, srv.loop_),
          parser_(srv.limits_.max_header_bytes, srv.limits_.max_small_body_bytes,
                  srv.limits_.max_header_count) {
        // Headers must come within the header deadline, however slowly they
        // trickle in; the body then gets the request deadline.
        parser_.on_phase([this](RequestParser::Phase p) {
            if (p == RequestParser::Phase::Headers) arm(srv_.limits_.header_timeout_ms, "request headers");
            else arm(srv_.limits_.request_timeout_ms, "a request body");
        });
        parser_.on_headers([this](const ServerRequest& head) { return admit(head); });
    }

    // Initializes the TCP handle: from then on the connection is freed only
    // by close_handle().
    void init_handle() {
        uv_tcp_init(srv_.loop_, &tcp_);
        tcp_.data = this;
    }
    // Closes the handle; its close callback frees the connection.
    void close_handle() {
        closed();
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
    }

    uv_tcp_t* tcp() { return &tcp_; }
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
    uint64_t seq = 0;  // its place in the accept order

    // May be closed to make room: never authenticated and owed nothing.
    // One in the middle of a request only when no other is left.
    bool evictable() const { return !authenticated_ && !closing_ && !stream_ && unsent_ == 0; }
    bool mid_request() const { return parser_.in_request(); }

    void start() {
        arm(srv_.limits_.header_timeout_ms, "TLS handshake and request headers");
        update_reading();
    }

    // Taken out of the server: no callback may reach this connection again.
    void closed() {
        gone_ = true;
        uv_read_stop(stream());
        // Closed now, with the TCP handle, so that one turn of the loop frees both.
        deadline_.reset();
        stream_.reset();
        on_complete_ = nullptr;  // the replies were not taken whole
        completions_.clear();
    }

private:
    template <class F>
    void guarded(const char* where, F&& f) {
        try {
            f();
        } catch (const std::exception& e) {
            fail(where, e.what());
        } catch (...) {
            fail(where, "unknown exception");
        }
    }

    void fail(const char* where, const char* what) noexcept {
        try {
            srv_.log_.error(std::string("serve: ") + where + ": " + what + "; closing that connection");
        } catch (...) {
        }
        srv_.close(this);
    }

    void arm(uint64_t ms, const char* what) {
        if (gone_) return;
        deadline_->start(ms, [this, what] {
            guarded("a deadline", [&] {
                srv_.log_.debug(std::string("serve: closing a connection: ") + what + " took too long");
                srv_.close(this);
            });
        });
    }

    // While no request is being read: the client must take what is pending
    // (each completed write is progress), or, once it has taken everything,
    // start a new request within the idle deadline. A reply queued by the
    // server is not progress of the client's, nor are bytes that carry no
    // request. Until the first reply, the handshake-and-headers deadline
    // armed at the start holds.
    void wait_for_client() {
        if (gone_ || closing_ || !served_ || parser_.in_request()) return;
        if (unsent_ > 0 || stream_) arm(srv_.limits_.send_timeout_ms, "taking a reply");
        else if (authenticated_) arm(srv_.limits_.idle_timeout_ms, "an idle keep-alive connection");
        else arm(srv_.limits_.anonymous_idle_timeout_ms, "an idle unauthenticated connection");
    }

    // Reading is on while the connection can take more: nothing buffered
    // unparsed, no reply being streamed, output under the bound. A closing
    // connection reads and drops, so that the client sees the final reply
    // instead of a reset.
    void update_reading() {
        if (gone_) return;
        bool want = !peer_done_ &&
                    (closing_ || (!stream_ && unsent_ <= kMaxUnsent && pending_.empty()));
        if (want == reading_) return;
        auto* s = stream();
        if (!want) {
            uv_read_stop(s);
            reading_ = false;
            return;
        }
        int rc = uv_read_start(
            s,
            [](uv_handle_t* h, size_t, uv_buf_t* b) {
                auto* c = static_cast<Conn*>(h->data);
                *b = uv_buf_init(c->rbuf_, sizeof c->rbuf_);
            },
            [](uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
                auto* c = static_cast<Conn*>(st->data);
                if (c->gone_) return;
                c->guarded("reading a request", [&] { c->on_read(n, b); });
            });
        if (rc != 0) return srv_.close(this);
        reading_ = true;
    }

    void on_read(ssize_t n, const uv_buf_t* b) {
        if (n == 0) return;
        if (n < 0) return on_peer_done();
        if (closing_) return;  // answered and closing: the rest is dropped
        auto st = tls_.feed(b->base, static_cast<size_t>(n), pending_);
        if (!queue_output()) return;
        if (!st || tls_.closed()) return srv_.close(this);
        process();
    }

    // The client closed its side: finish what is being sent, then close.
    void on_peer_done() {
        peer_done_ = true;
        if (closing_ || parser_.in_request() || (!stream_ && unsent_ == 0)) return srv_.close(this);
        update_reading();
        if (!stream_) start_closing();
        else close_after_stream_ = true;
    }

    // Runs the parser over buffered plaintext, one request at a time: the
    // next is parsed only once the previous reply is out and the unsent
    // output is under the bound.
    void process() {
        bool answered = false;
        while (!gone_ && !closing_ && !stream_ && unsent_ <= kMaxUnsent && !pending_.empty()) {
            auto step = parser_.feed(pending_.data(), pending_.size());
            pending_.erase(0, step.used);
            if (step.kind == RequestParser::Kind::NeedMore) break;
            if (step.kind == RequestParser::Kind::Request) {
                answer();
                answered = true;
                continue;
            }
            release_large_body();
            ServerReply r = refusal_ ? std::move(*refusal_) : message_reply(parser_.status(), parser_.message());
            refusal_.reset();
            send_reply(std::move(r), true);
            return;
        }
        if (answered) wait_for_client();
        update_reading();
    }

    RequestParser::Verdict admit(const ServerRequest& head) {
        const ServerLimits& lim = srv_.limits_;
        Admission a = srv_.admit_ ? srv_.admit_(head) : Admission{};
        if (!a.refusal && a.caller == Caller::Authenticated) authenticated_ = true;
        if (a.refusal) {
            int status = a.refusal->status;
            refusal_ = std::move(*a.refusal);
            return {status, "refused", 0};
        }
        bool declared_small = head.content_length && *head.content_length <= lim.max_small_body_bytes;
        if (a.body == BodyAllowance::Small || declared_small) return {0, "", lim.max_small_body_bytes};
        // One large body at a time: the agent takes one job, and the cap on
        // body bytes then bounds the memory, whatever the connection count.
        if (srv_.large_body_reader_ && srv_.large_body_reader_ != this) {
            refusal_ = message_reply(503, "another job request is being received; try again later");
            return {503, "busy", 0};
        }
        srv_.large_body_reader_ = this;
        return {0, "", lim.max_large_body_bytes};
    }

    void release_large_body() {
        if (srv_.large_body_reader_ == this) srv_.large_body_reader_ = nullptr;
    }

    void answer() {
        release_large_body();
        bool close_after = !parser_.keep_alive();
        ServerReply r;
        try {
            r = srv_.handler_(parser_.request());
        } catch (const std::exception& e) {
            srv_.log_.error(std::string("serve: ") + parser_.request().method + " " + parser_.request().path +
                            " failed: " + e.what());
            r = message_reply(500, "internal error");
            close_after = true;
        }
        parser_.discard_request();  // a job's body is not kept with the connection
        send_reply(std::move(r), close_after);
    }

    void send_reply(ServerReply r, bool close_after) {
        served_ = true;
        uint64_t length = r.stream ? r.stream->size() : r.body.size();
        std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + http_reason(r.status) +
                           "\r\nContent-Type: " + r.content_type +
                           "\r\nContent-Length: " + std::to_string(length) +
                           (close_after ? "\r\nConnection: close" : "\r\nConnection: keep-alive") +
                           "\r\n\r\n";
        if (!tls_.write(head)) return srv_.close(this);
        on_complete_ = std::move(r.on_complete);
        if (r.stream && length > 0) {
            if (!queue_output()) return;
            stream_ = std::move(r.stream);
            stream_left_ = length;
            close_after_stream_ = close_after;
            wait_for_client();
            return pump();
        }
        if (!tls_.write(r.body) || !queue_output()) return;
        finish_reply(close_after);
    }

    // The next block of a streamed reply, once the previous one was taken
    // by the kernel (the write callback): memory stays one block per
    // connection, and the loop turns between blocks.
    void pump() {
        while (stream_ && unsent_ <= kMaxUnsent) {
            auto st = stream_->read(block_, std::min<uint64_t>(kStreamBlock, stream_left_));
            if (!st || block_.empty() || block_.size() > stream_left_) {
                srv_.log_.warn("serve: a streamed reply failed: " +
                               (st ? std::string("its source ended early") : st.message()));
                return srv_.close(this);
            }
            stream_left_ -= block_.size();
            if (!tls_.write(block_) || !queue_output()) return;
            if (stream_left_ == 0) {
                stream_.reset();
                block_ = std::string();  // the block's memory goes with the reply
                finish_reply(close_after_stream_);
            }
        }
    }

    void finish_reply(bool close_after) {
        // Everything of this reply is queued: it is complete once the
        // writes queued so far are done.
        if (on_complete_) {
            if (unsent_ == 0) {
                auto f = std::move(on_complete_);
                on_complete_ = nullptr;
                f();
                if (gone_) return;
            } else {
                completions_.push_back({queued_total_, std::move(on_complete_)});
                on_complete_ = nullptr;
            }
        }
        if (close_after || peer_done_) return start_closing();
        wait_for_client();
    }

    // Closes once the reply is on the wire; meanwhile the client's further
    // bytes are dropped, and after the shutdown it has linger_ms to finish.
    void start_closing() {
        if (closing_ || gone_) return;
        closing_ = true;
        stream_.reset();
        arm(srv_.limits_.send_timeout_ms, "taking the last reply");
        update_reading();
        shutdown_req_.data = this;
        if (uv_shutdown(&shutdown_req_, stream(), [](uv_shutdown_t* s, int status) {
                auto* c = static_cast<Conn*>(s->data);
                c->shutting_down_ = false;
                if (c->gone_) return;  // cancelled by the close
                c->guarded("closing", [&] {
                    if (status < 0 || c->peer_done_) return c->srv_.close(c);
                    c->arm(c->srv_.limits_.linger_ms, "lingering after the last reply");
                });
            }) != 0)
            return srv_.close(this);
        shutting_down_ = true;
    }

    // Hands the TLS output to libuv. False when the connection was closed.
    bool queue_output() {
        if (tls_.output_pending() == 0) return true;
        std::string bytes = tls_.take_output();
        size_t n = bytes.size();
        if (write_owned(stream(), std::move(bytes), [](uv_stream_t* s, int status, size_t written) {
                auto* c = static_cast<Conn*>(s->data);
                if (c->gone_) return;  // cancelled by the close
                c->guarded("sending a reply", [&] { c->on_written(written, status); });
            }) != 0) {
            srv_.close(this);
            return false;
        }
        unsent_ += n;
        queued_total_ += n;
        return true;
    }

    void on_written(size_t n, int status) {
        unsent_ -= std::min(n, unsent_);
        if (status < 0) return srv_.close(this);
        written_total_ += n;
        // Writes complete in order: every reply queued whole up to here is taken.
        while (!completions_.empty() && completions_.front().first <= written_total_) {
            auto f = std::move(completions_.front().second);
            completions_.pop_front();
            f();
            if (gone_) return;
        }
        if (closing_) {
            if (shutting_down_) arm(srv_.limits_.send_timeout_ms, "taking the last reply");
            return;
        }
        wait_for_client();  // this write was the client's progress
        pump();
        process();
    }

    HttpServer& srv_;
    uv_tcp_t tcp_{};
    TlsSession tls_;
    std::optional<Timer> deadline_;  // until closed()
    RequestParser parser_;
    std::string pending_;                 // plaintext not parsed yet
    std::optional<ServerReply> refusal_;  // the admit callback's answer
    std::unique_ptr<BodySource> stream_;  // the reply being streamed
    uint64_t stream_left_ = 0;
    bool close_after_stream_ = false;
    std::string block_;
    size_t unsent_ = 0;  // handed to uv_write, not yet taken by the kernel
    // Bytes handed to uv_write and taken by the kernel since the start.
    uint64_t queued_total_ = 0, written_total_ = 0;
    std::function<void()> on_complete_;  // of the reply being queued
    // Replies queued whole, not yet taken: their end in queued_total_ terms
    // (a pipelined request's reply may be queued behind the previous one).
    std::deque<std::pair<uint64_t, std::function<void()>>> completions_;
    bool reading_ = false, closing_ = false, peer_done_ = false;
    bool gone_ = false;  // closed by the server: only its destruction is left
    bool served_ = false;  // a reply was sent: the handshake deadline is over
    bool authenticated_ = false;  // a request of it carried a valid token
    bool shutting_down_ = false;  // shutdown_req_ is queued
    uv_shutdown_t shutdown_req_{};
    char rbuf_[16384];
};

HttpServer::HttpServer(uv_loop_t* loop, AgentLog& log, SSL_CTX* tls, ServerLimits limits, Admitter admit,
                       Handler handler)
    : loop_(loop), log_(log), tls_(tls), limits_(limits), admit_(std::move(admit)),
      handler_(std::move(handler)) {}

// The connections are freed by their close callbacks, on the loop's next turn.
HttpServer::~HttpServer() {
    for (Conn* c : conns_) c->close_handle();
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
            if (!self || status != 0) return;
            try {
                self->accept_one();
            } catch (const std::exception& e) {
                try {
                    self->log_.error(std::string("serve: cannot take a connection: ") + e.what());
                } catch (...) {
                }
            } catch (...) {
            }
        });
    if (rc != 0)
        return err("cannot listen on " + host + ":" + std::to_string(port) + ": " + uv_strerror(rc));
    return Ok{};
}

void HttpServer::accept_one() {
    Conn* c = new Conn(*this);  // from here on freed by its handle's close callback
    c->init_handle();
    if (uv_accept(reinterpret_cast<uv_stream_t*>(server_.get()), c->stream()) != 0) return c->close_handle();
    if (conns_.size() >= limits_.max_connections) {
        // Anyone can hold a connection without a token (a handshake, GET
        // /is_alive): the oldest such makes room, so that the API's
        // authenticated requests still get in.
        Conn* victim = eviction_candidate();
        if (!victim) {
            log_.warn("serve: connection limit reached; refusing a connection");
            return c->close_handle();
        }
        log_.debug("serve: connection limit reached; closing the oldest unauthenticated connection");
        close(victim);
    }
    uv_tcp_nodelay(c->tcp(), 1);
    c->seq = ++accepted_;
    try {
        conns_.insert(c);
    } catch (...) {
        c->close_handle();
        throw;
    }
    c->start();
}

// The oldest evictable connection, one between requests first: a linear
// scan, only at the limit.
HttpServer::Conn* HttpServer::eviction_candidate() const {
    Conn* best = nullptr;
    for (Conn* c : conns_) {
        if (!c->evictable()) continue;
        if (!best || (!c->mid_request() && best->mid_request()) ||
            (c->mid_request() == best->mid_request() && c->seq < best->seq))
            best = c;
    }
    return best;
}

// The connection is freed by its handle's close callback, after the loop's
// cancelled write and shutdown callbacks: we may be inside one of its
// callbacks now. Erasing allocates nothing, so closing cannot fail.
void HttpServer::close(Conn* c) {
    if (conns_.erase(c) == 0) return;
    if (large_body_reader_ == c) large_body_reader_ = nullptr;
    c->close_handle();
}

}  // namespace sa
