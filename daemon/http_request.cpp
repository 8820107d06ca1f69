#include "http_request.hpp"

#include <cctype>

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

namespace {
RequestParser* self(llhttp_t* p) { return static_cast<RequestParser*>(p->data); }
}  // namespace

RequestParser::RequestParser(size_t max_header_bytes, size_t max_body_bytes)
    : max_header_bytes_(max_header_bytes), max_body_bytes_(max_body_bytes) {
    llhttp_settings_init(&settings_);
    // llhttp's callbacks are plain C functions: each forwards to the member.
    struct Fwd {
        static int begin(llhttp_t* p) { return self(p)->on_begin(); }
        static int url(llhttp_t* p, const char* a, size_t n) { return self(p)->on_url(a, n); }
        static int field(llhttp_t* p, const char* a, size_t n) { return self(p)->on_field(a, n); }
        static int value(llhttp_t* p, const char* a, size_t n) { return self(p)->on_value(a, n); }
        static int headers(llhttp_t* p) { return self(p)->on_headers_complete(); }
        static int body(llhttp_t* p, const char* a, size_t n) { return self(p)->on_body(a, n); }
        static int complete(llhttp_t* p) {
            self(p)->keep_alive_ = llhttp_should_keep_alive(p);
            return HPE_PAUSED;  // one request at a time: answered in order
        }
    };
    settings_.on_message_begin = Fwd::begin;
    settings_.on_url = Fwd::url;
    settings_.on_header_field = Fwd::field;
    settings_.on_header_value = Fwd::value;
    settings_.on_headers_complete = Fwd::headers;
    settings_.on_body = Fwd::body;
    settings_.on_message_complete = Fwd::complete;
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
    if (status_ == 0) {
        status_ = 400;
        message_ = "malformed HTTP request";
    }
    return {Kind::Error, 0};
}

int RequestParser::refuse(int status, const char* message) {
    status_ = status;
    message_ = message;
    return -1;
}

int RequestParser::on_begin() {
    req_ = ServerRequest{};
    header_bytes_ = 0;
    field_.clear();
    value_.clear();
    in_value_ = false;
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
    if (!count_header(n)) return refuse(431, "request headers too large");
    if (in_value_) end_header();
    in_value_ = false;
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
    if (on_phase_) on_phase_(Phase::Body);
    req_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
    if (size_t q = req_.path.find('?'); q != std::string::npos) {
        req_.query = req_.path.substr(q + 1);
        req_.path.resize(q);
    }
    // Refused before a byte of it is read, when its length is declared.
    if ((parser_.flags & F_CONTENT_LENGTH) && parser_.content_length > max_body_bytes_)
        return refuse(413, "request body too large");
    return 0;
}

int RequestParser::on_body(const char* a, size_t n) {
    if (req_.body.size() + n > max_body_bytes_) return refuse(413, "request body too large");
    req_.body.append(a, n);
    return 0;
}

}  // namespace sa
