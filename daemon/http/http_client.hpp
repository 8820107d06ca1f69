// HTTP(S) client on the libuv loop: libcurl's multi interface driven by
// uv_poll and uv_timer handles, so no request ever blocks the supervisor.
// Proxies come from the usual environment (HTTPS_PROXY, NO_PROXY); a CA
// bundle from SSL_CERT_FILE, else the system store.
#pragma once

#include "daemon/loop/timer.hpp"

#include <curl/curl.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sa {

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;
    long timeout_ms = 30000;
    size_t max_response_bytes = 16u << 20;  // a bigger answer is refused, not buffered
    bool direct = false;  // never through a proxy (link-local services such as EC2's IMDS)
};

struct HttpResponse {
    long status = 0;    // 0 when no HTTP answer came
    std::string body;
    std::string error;  // transport error (timeout, refused, TLS); empty otherwise
    bool ok() const { return error.empty() && status >= 200 && status < 300; }
    // "HTTP 500" or the transport error, for log lines.
    std::string describe() const;
};

class HttpClient {
public:
    using Callback = std::function<void(HttpResponse)>;

    HttpClient(uv_loop_t* loop, std::string user_agent);
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;
    // Cancels everything in flight; their callbacks are not called.
    ~HttpClient();

    // Starts a request; the callback runs on the loop when it completes.
    uint64_t send(HttpRequest req, Callback cb);
    void cancel(uint64_t id);

private:
    struct Transfer;
    struct Socket;
    static int on_socket(CURL*, curl_socket_t s, int what, void* userp, void* socketp);
    static int on_timer(CURLM*, long timeout_ms, void* userp);
    static size_t on_write(char* data, size_t size, size_t n, void* userp);
    void drive(curl_socket_t s, int ev_bitmask);
    void collect_done();

    uv_loop_t* loop_;
    std::string user_agent_;
    std::string ca_file_;
    std::string ca_dir_;  // SSL_CERT_DIR, trusted beside ca_file_
    // HTTP_PROXY, for plain-HTTP URLs, when http_proxy is unset: libcurl
    // reads only the lower-case name (httpoxy), the original reads both.
    std::string http_proxy_;
    CURLM* multi_;
    Timer timer_;  // libcurl's timeout
    std::map<uint64_t, std::unique_ptr<Transfer>> transfers_;
    uint64_t next_id_ = 1;
};

}  // namespace sa
