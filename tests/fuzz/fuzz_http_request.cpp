// Serve mode's request path on arbitrary bytes: the HTTP parser fed in
// pieces (sizes taken from the input's first byte, so incremental parsing is
// exercised), with the server's decision when the headers are complete: the
// JWT check of the bearer token (when the first byte's top bit is set; else
// every request is admitted, so that bodies are reached) and the body limit
// per route. Then, for each complete request, the query parameter.
// Invariants: no crash, limits hold, and a refusal always carries a status.
#include "daemon/http/http_request.hpp"
#include "daemon/serve/jwt.hpp"

#include <cstdlib>
#include <string>

namespace {
constexpr size_t kMaxHeaders = 4096, kSmallBody = 512, kMaxBody = 16384;  // small, so the limits are reached
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    size_t piece = 1 + data[0] % 64;
    bool check_token = (data[0] & 0x80) != 0;
    std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
    sa::RequestParser parser(kMaxHeaders, kSmallBody);
    size_t limit = kSmallBody;
    parser.on_headers([&](const sa::ServerRequest& head) {
        using V = sa::RequestParser::Verdict;
        if (!head.body.empty()) std::abort();  // decided before any body byte
        if (check_token && head.path != "/is_alive") {
            std::string auth = head.header("authorization");
            if (auth.rfind("Bearer ", 0) != 0) return V{401, "missing Bearer token", 0};
            if (auto st = sa::verify_jwt_hs256(auth.substr(7), "fuzz-secret", 1800000000); !st)
                return V{401, st.message(), 0};
        }
        limit = head.path == "/jobs" && head.method == "POST" ? kMaxBody : kSmallBody;
        return V{0, "", limit};
    });
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
                if (st != 400 && st != 401 && st != 413 && st != 431) std::abort();
                return 0;
            }
            if (step.kind == sa::RequestParser::Kind::NeedMore) break;
            const sa::ServerRequest& r = parser.request();
            if (r.body.size() > limit || parser.header_bytes() > kMaxHeaders) std::abort();
            (void)r.query_param("start_from");
        }
    }
    return 0;
}
