#include "daemon/http/http_client.hpp"

#include "daemon/http/ca_bundle.hpp"

#include <strings.h>

#include <cstdlib>

namespace sa {

struct HttpClient::Transfer {
    uint64_t id;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    HttpRequest req;
    HttpResponse resp;
    Callback cb;
    bool too_big = false;
    ~Transfer() {
        if (easy) curl_easy_cleanup(easy);
        if (headers) curl_slist_free_all(headers);
    }
};

// One per socket curl wants watched; freed in its close callback.
struct HttpClient::Socket {
    uv_poll_t poll;
    HttpClient* client;
    curl_socket_t fd;
};

std::string HttpResponse::describe() const {
    if (!error.empty()) return error;
    return "HTTP " + std::to_string(status);
}

HttpClient::HttpClient(uv_loop_t* loop, std::string user_agent)
    : loop_(loop), user_agent_(std::move(user_agent)), timer_(loop) {
    ca_file_ = find_ca_bundle(std::getenv("SSL_CERT_FILE"));
    ca_dir_ = find_ca_dir(std::getenv("SSL_CERT_DIR"));
    const char* lower = std::getenv("http_proxy");
    if (const char* upper = std::getenv("HTTP_PROXY"); upper && *upper && !(lower && *lower))
        http_proxy_ = upper;
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

HttpClient::~HttpClient() {
    for (auto& [id, t] : transfers_) curl_multi_remove_handle(multi_, t->easy);
    transfers_.clear();
    curl_multi_cleanup(multi_);  // sockets are reported as removed before this returns
}

size_t HttpClient::on_write(char* data, size_t size, size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    size_t len = size * n;
    if (t->resp.body.size() + len > t->req.max_response_bytes) {
        t->too_big = true;
        return 0;  // aborts the transfer: a huge answer must not exhaust memory
    }
    t->resp.body.append(data, len);
    return len;
}

uint64_t HttpClient::send(HttpRequest req, Callback cb) {
    auto t = std::make_unique<Transfer>();
    t->id = next_id_++;
    t->req = std::move(req);
    t->cb = std::move(cb);
    CURL* e = t->easy = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, t->req.url.c_str());
    curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent_.c_str());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, t->req.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, t->req.timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    if (!ca_file_.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, ca_file_.c_str());
    if (!ca_dir_.empty()) curl_easy_setopt(e, CURLOPT_CAPATH, ca_dir_.c_str());
    // libcurl still applies NO_PROXY/no_proxy to a proxy set this way.
    if (t->req.direct)
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    else if (!http_proxy_.empty() && strncasecmp(t->req.url.c_str(), "http://", 7) == 0)
        curl_easy_setopt(e, CURLOPT_PROXY, http_proxy_.c_str());
    if (t->req.method == "POST") {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req.body.data());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->req.body.size()));
    } else if (t->req.method != "GET") {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->req.method.c_str());
    }
    t->headers = curl_slist_append(t->headers, "Expect:");  // no 100-continue round trip
    for (const auto& h : t->req.headers) t->headers = curl_slist_append(t->headers, h.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    uint64_t id = t->id;
    transfers_[id] = std::move(t);
    curl_multi_add_handle(multi_, e);
    return id;
}

void HttpClient::cancel(uint64_t id) {
    auto it = transfers_.find(id);
    if (it == transfers_.end()) return;
    curl_multi_remove_handle(multi_, it->second->easy);
    transfers_.erase(it);
}

int HttpClient::on_socket(CURL*, curl_socket_t s, int what, void* userp, void* socketp) {
    auto* self = static_cast<HttpClient*>(userp);
    auto* sock = static_cast<Socket*>(socketp);
    if (what == CURL_POLL_REMOVE) {
        if (sock) {
            uv_poll_stop(&sock->poll);
            uv_close(reinterpret_cast<uv_handle_t*>(&sock->poll),
                     [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
            curl_multi_assign(self->multi_, s, nullptr);
        }
        return 0;
    }
    if (!sock) {
        sock = new Socket{};
        sock->client = self;
        sock->fd = s;
        uv_poll_init_socket(self->loop_, &sock->poll, s);
        sock->poll.data = sock;
        curl_multi_assign(self->multi_, s, sock);
    }
    int events = 0;
    if (what & CURL_POLL_IN) events |= UV_READABLE;
    if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
    uv_poll_start(&sock->poll, events, [](uv_poll_t* p, int status, int ev) {
        auto* so = static_cast<Socket*>(p->data);
        int flags = 0;
        if (status < 0) flags = CURL_CSELECT_ERR;
        if (ev & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (ev & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
        so->client->drive(so->fd, flags);
    });
    return 0;
}

int HttpClient::on_timer(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<HttpClient*>(userp);
    if (timeout_ms < 0) {
        self->timer_.stop();
        return 0;
    }
    self->timer_.start(static_cast<uint64_t>(timeout_ms), [self] { self->drive(CURL_SOCKET_TIMEOUT, 0); });
    return 0;
}

void HttpClient::drive(curl_socket_t s, int ev_bitmask) {
    int running;
    curl_multi_socket_action(multi_, s, ev_bitmask, &running);
    collect_done();
}

void HttpClient::collect_done() {
    int left;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        Transfer* raw;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &raw);
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(multi_, m->easy_handle);
        auto it = transfers_.find(raw->id);
        if (it == transfers_.end()) continue;
        std::unique_ptr<Transfer> t = std::move(it->second);
        transfers_.erase(it);
        if (t->too_big) {
            t->resp.error = "response larger than " + std::to_string(t->req.max_response_bytes) +
                            " bytes refused";
            t->resp.body.clear();
        } else if (rc != CURLE_OK) {
            t->resp.error = curl_easy_strerror(rc);
        }
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
        // The callback may start new requests or even destroy this client.
        Callback cb = std::move(t->cb);
        HttpResponse resp = std::move(t->resp);
        t.reset();
        cb(std::move(resp));
    }
}

}  // namespace sa
