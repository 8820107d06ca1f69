#include "daemon/http/http_request.hpp"

#include <cctype>
#include <exception>
#include <utility>

namespace sa {

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

// llhttp's callbacks are plain C functions: each forwards to the member, and
// nothing thrown there (std::bad_alloc from a header append) may cross into
// llhttp: it becomes a refusal of this request.
struct ParserCallbacks {
    static RequestParser* self(llhttp_t* p) { return static_cast<RequestParser*>(p->data); }
    template <class F>
    static int guarded(llhttp_t* p, F&& f) {
        try {
            return f(self(p));
        } catch (const std::exception& e) {
            return self(p)->refuse(500, std::string("cannot parse the request: ") + e.what());
        } catch (...) {
            return self(p)->refuse(500, "cannot parse the request");
        }
    }
    static int begin(llhttp_t* p) {
        return guarded(p, [](RequestParser* r) { return r->on_begin(); });
    }
    static int url(llhttp_t* p, const char* a, size_t n) {
        return guarded(p, [&](RequestParser* r) { return r->on_url(a, n); });
    }
    static int field(llhttp_t* p, const char* a, size_t n) {
        return guarded(p, [&](RequestParser* r) { return r->on_field(a, n); });
    }
    static int value(llhttp_t* p, const char* a, size_t n) {
        return guarded(p, [&](RequestParser* r) { return r->on_value(a, n); });
    }
    static int headers(llhttp_t* p) {
        return guarded(p, [](RequestParser* r) { return r->on_headers_complete(); });
    }
    static int body(llhttp_t* p, const char* a, size_t n) {
        return guarded(p, [&](RequestParser* r) { return r->on_body(a, n); });
    }
    static int complete(llhttp_t* p) {
        return guarded(p, [](RequestParser* r) { return r->on_complete(); });
    }
};

RequestParser::RequestParser(size_t max_header_bytes, size_t max_body_bytes, size_t max_header_count)
    : max_header_bytes_(max_header_bytes), default_max_body_(max_body_bytes),
      max_body_bytes_(max_body_bytes), max_header_count_(max_header_count) {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = ParserCallbacks::begin;
    settings_.on_url = ParserCallbacks::url;
    settings_.on_header_field = ParserCallbacks::field;
    settings_.on_header_value = ParserCallbacks::value;
    settings_.on_headers_complete = ParserCallbacks::headers;
    settings_.on_body = ParserCallbacks::body;
    settings_.on_message_complete = ParserCallbacks::complete;
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = this;
}

RequestParser::Step RequestParser::feed(const char* data, size_t n) {
    if (failed_) return {Kind::Error, 0};
    if (n == 0) return {Kind::NeedMore, 0};
    llhttp_errno_t e = llhttp_execute(&parser_, data, n);
    if (e == HPE_OK) return {Kind::NeedMore, n};
    if (e == HPE_PAUSED) {
        size_t used = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
        llhttp_resume(&parser_);
        return {Kind::Request, used};
    }
    failed_ = true;
    in_request_ = false;
    if (status_ == 0) {
        status_ = 400;
        message_ = "malformed HTTP request";
    }
    return {Kind::Error, 0};
}

int RequestParser::refuse(int status, std::string message) {
    status_ = status;
    message_ = std::move(message);
    return -1;
}

int RequestParser::on_begin() {
    req_ = ServerRequest{};
    header_bytes_ = 0;
    header_count_ = 0;
    field_.clear();
    value_.clear();
    in_value_ = false;
    in_request_ = true;
    max_body_bytes_ = default_max_body_;
    if (on_phase_) on_phase_(Phase::Headers);
    return 0;
}

bool RequestParser::count_header(size_t n) {
    header_bytes_ += n;
    return header_bytes_ <= max_header_bytes_;
}

int RequestParser::on_url(const char* a, size_t n) {
    if (!count_header(n)) return refuse(431, "request headers too large");
    req_.path.append(a, n);
    return 0;
}

void RequestParser::end_header() {
    if (field_.empty()) return;
    for (auto& ch : field_) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    req_.headers[field_] = value_;
    field_.clear();
    value_.clear();
}

int RequestParser::on_field(const char* a, size_t n) {
    if (in_value_) end_header();
    in_value_ = false;
    if (field_.empty()) {  // a new header line (llhttp may hand a name in pieces)
        if (++header_count_ > max_header_count_) return refuse(431, "too many request headers");
        if (!count_header(kHeaderOverhead)) return refuse(431, "request headers too large");
    }
    if (!count_header(n)) return refuse(431, "request headers too large");
    field_.append(a, n);
    return 0;
}

int RequestParser::on_value(const char* a, size_t n) {
    if (!count_header(n)) return refuse(431, "request headers too large");
    in_value_ = true;
    value_.append(a, n);
    return 0;
}

int RequestParser::on_headers_complete() {
    end_header();
    req_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
    if (size_t q = req_.path.find('?'); q != std::string::npos) {
        req_.query = req_.path.substr(q + 1);
        req_.path.resize(q);
    }
    if (parser_.flags & F_CONTENT_LENGTH) req_.content_length = parser_.content_length;
    req_.chunked = (parser_.flags & F_CHUNKED) != 0;
    // The server decides here, before a byte of the body is read, whether
    // the request may go on and how much body it may carry.
    if (on_headers_) {
        Verdict v = on_headers_(req_);
        if (v.status != 0) return refuse(v.status, std::move(v.message));
        max_body_bytes_ = v.max_body;
    }
    // Refused before a byte of it is read, when its length is declared.
    if (req_.content_length && *req_.content_length > max_body_bytes_)
        return refuse(413, "request body too large");
    if (on_phase_) on_phase_(Phase::Body);
    return 0;
}

int RequestParser::on_body(const char* a, size_t n) {
    if (n > max_body_bytes_ - req_.body.size()) return refuse(413, "request body too large");
    req_.body.append(a, n);
    return 0;
}

int RequestParser::on_complete() {
    keep_alive_ = llhttp_should_keep_alive(&parser_);
    in_request_ = false;
    return HPE_PAUSED;  // one request at a time: answered in order
}

}  // namespace sa
