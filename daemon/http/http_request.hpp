// Serve mode's HTTP/1.1 request parsing: llhttp fed incrementally, with the
// server's limits on header and body bytes. No I/O and no event loop, so the
// fuzzer drives exactly the code the server runs.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace sa {

struct ServerRequest {
    std::string method, path, query;
    std::map<std::string, std::string> headers;  // names lower-cased
    // What the headers declare about the body: its length, or chunked.
    std::optional<uint64_t> content_length;
    bool chunked = false;
    std::string body;
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? "" : it->second;
    }
    // The value of ?name=... in the query, or "".
    std::string query_param(const std::string& name) const;
};

class RequestParser {
public:
    enum class Kind { NeedMore, Request, Error };
    struct Step {
        Kind kind;
        size_t used;  // bytes of the input consumed
    };
    // When a request's headers start and when they are complete (the server
    // arms its deadlines there).
    enum class Phase { Headers, Body };

    // What the server decides once a request's headers are complete and
    // before a byte of its body is read: refuse it (status != 0; the
    // connection is then done), or accept a body of at most max_body bytes.
    struct Verdict {
        int status = 0;
        std::string message;
        size_t max_body = 0;
    };
    using HeadersFn = std::function<Verdict(const ServerRequest& head)>;

    // What one header costs beyond its bytes: its node in the headers map
    // and two string objects. Counted against max_header_bytes, so that many
    // tiny headers cannot hold many times the cap (16,000 headers of 'abc:x'
    // are 64 KB of bytes but ~1.7 MB of map).
    static constexpr size_t kHeaderOverhead = 32;
    static constexpr size_t kDefaultMaxHeaderCount = 100;

    // max_body_bytes holds for every request unless a headers callback says
    // otherwise for one. A request with more than max_header_count header
    // lines is refused (431).
    RequestParser(size_t max_header_bytes, size_t max_body_bytes,
                  size_t max_header_count = kDefaultMaxHeaderCount);
    RequestParser(const RequestParser&) = delete;
    RequestParser& operator=(const RequestParser&) = delete;

    void on_phase(std::function<void(Phase)> f) { on_phase_ = std::move(f); }
    void on_headers(HeadersFn f) { on_headers_ = std::move(f); }

    // Parses until one request is complete, the input runs out, or the
    // input is refused. After Request, request() and keep_alive() describe
    // it and the next feed() starts the next request (pipelining). After
    // Error, status() and message() say why; the connection is done.
    Step feed(const char* data, size_t n);

    const ServerRequest& request() const { return req_; }
    // Frees the answered request (a job's body can be 64 MiB).
    void discard_request() { req_ = ServerRequest{}; }
    bool keep_alive() const { return keep_alive_; }
    int status() const { return status_; }
    const std::string& message() const { return message_; }
    // The request's header bytes, kHeaderOverhead included per header.
    size_t header_bytes() const { return header_bytes_; }
    size_t header_count() const { return header_count_; }
    // Between the first byte of a request and its end.
    bool in_request() const { return in_request_; }

private:
    friend struct ParserCallbacks;
    int on_begin();
    bool count_header(size_t n);
    int on_url(const char* a, size_t n);
    void end_header();
    int on_field(const char* a, size_t n);
    int on_value(const char* a, size_t n);
    int on_headers_complete();
    int on_body(const char* a, size_t n);
    int on_complete();
    int refuse(int status, std::string message);

    size_t max_header_bytes_, default_max_body_, max_body_bytes_, max_header_count_;
    llhttp_t parser_;
    llhttp_settings_t settings_;
    std::function<void(Phase)> on_phase_;
    HeadersFn on_headers_;
    ServerRequest req_;
    std::string field_, value_;
    bool in_value_ = false, keep_alive_ = true, failed_ = false, in_request_ = false;
    size_t header_bytes_ = 0, header_count_ = 0;
    int status_ = 0;
    std::string message_;
};

}  // namespace sa
