// Serve mode's request path on arbitrary bytes: the HTTP parser fed in
// pieces (sizes taken from the input's first byte, so incremental parsing is
// exercised), then, for each complete request, what the server does with it
// before routing: the query parameter and the JWT check of its bearer token.
// Invariants: no crash, limits hold, and a refusal always carries a status.
#include "http_request.hpp"
#include "jwt.hpp"

#include <cstdlib>
#include <string>

namespace {
constexpr size_t kMaxHeaders = 4096, kMaxBody = 16384;  // small, so the limits are reached
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    size_t piece = 1 + data[0] % 64;
    std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
    sa::RequestParser parser(kMaxHeaders, kMaxBody);
    std::string pending;
    for (size_t at = 0; at < input.size();) {
        size_t n = std::min(piece, input.size() - at);
        pending.append(input, at, n);
        at += n;
        for (;;) {
            auto step = parser.feed(pending.data(), pending.size());
            if (step.used > pending.size()) std::abort();
            pending.erase(0, step.used);
            if (step.kind == sa::RequestParser::Kind::Error) {
                int st = parser.status();
                if (st != 400 && st != 413 && st != 431) std::abort();
                return 0;
            }
            if (step.kind == sa::RequestParser::Kind::NeedMore) break;
            const sa::ServerRequest& r = parser.request();
            if (r.body.size() > kMaxBody || parser.header_bytes() > kMaxHeaders) std::abort();
            (void)r.query_param("start_from");
            std::string auth = r.header("authorization");
            if (auth.rfind("Bearer ", 0) == 0)
                (void)sa::verify_jwt_hs256(auth.substr(7), "fuzz-secret", 1800000000);
        }
    }
    return 0;
}
