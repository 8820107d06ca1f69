#include <doctest/doctest.h>

#include "daemon/http/http_request.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace sa;

namespace {

struct Parsed {
    std::vector<ServerRequest> requests;
    int status = 0;  // set on error
};

// Feeds `input` in pieces of `piece` bytes (0: all at once), as the server does.
Parsed parse(const std::string& input, size_t piece = 0, size_t max_headers = 1024,
             size_t max_body = 4096) {
    RequestParser p(max_headers, max_body);
    Parsed out;
    std::string pending;
    for (size_t at = 0; at < input.size() || !pending.empty();) {
        size_t n = piece ? std::min(piece, input.size() - at) : input.size() - at;
        pending.append(input, at, n);
        at += n;
        for (;;) {
            auto step = p.feed(pending.data(), pending.size());
            pending.erase(0, step.used);
            if (step.kind == RequestParser::Kind::Request) {
                out.requests.push_back(p.request());
                continue;
            }
            if (step.kind == RequestParser::Kind::Error) {
                out.status = p.status();
                return out;
            }
            break;
        }
        if (at >= input.size()) break;
    }
    return out;
}

const std::string kPost =
    "POST /jobs?x=1&start_from=20 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t.k.n\r\n"
    "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"job_id\":1}\n";

}  // namespace

TEST_SUITE("http") {

TEST_CASE("a complete request, with its query and lower-cased headers") {
    auto r = parse(kPost);
    REQUIRE(r.requests.size() == 1);
    const auto& q = r.requests[0];
    CHECK(q.method == "POST");
    CHECK(q.path == "/jobs");
    CHECK(q.query_param("start_from") == "20");
    CHECK(q.query_param("x") == "1");
    CHECK(q.query_param("missing").empty());
    CHECK(q.header("authorization") == "Bearer t.k.n");
    CHECK(q.body == "{\"job_id\":1}\n");
    CHECK(r.status == 0);
}

TEST_CASE("split at every byte boundary, the same request comes out") {
    for (size_t piece = 1; piece <= kPost.size(); piece++) {
        auto r = parse(kPost, piece);
        REQUIRE(r.requests.size() == 1);
        CHECK(r.requests[0].body == "{\"job_id\":1}\n");
        CHECK(r.requests[0].header("content-type") == "application/json");
    }
}

TEST_CASE("pipelined requests come out one at a time, in order") {
    std::string two = "GET /is_alive HTTP/1.1\r\nHost: a\r\n\r\n" + kPost +
                      "GET /jobs/x/log HTTP/1.1\r\n\r\n";
    for (size_t piece : {0, 1, 7}) {
        auto r = parse(two, piece);
        REQUIRE(r.requests.size() == 3);
        CHECK(r.requests[0].path == "/is_alive");
        CHECK(r.requests[0].body.empty());
        CHECK(r.requests[1].path == "/jobs");
        CHECK(r.requests[2].path == "/jobs/x/log");
    }
}

TEST_CASE("a chunked body is joined") {
    auto r = parse("POST /jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    REQUIRE(r.requests.size() == 1);
    CHECK(r.requests[0].body == "abcde");
}

TEST_CASE("limits: 431 for headers, 413 for a declared or a streamed body") {
    CHECK(parse("GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n\r\n").status == 431);
    CHECK(parse("GET / HTTP/1.1\r\nX: " + std::string(2000, 'v') + "\r\n\r\n", 3).status == 431);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n").status == 413);
    std::string chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 5; i++) chunked += "3e8\r\n" + std::string(1000, 'b') + "\r\n";
    CHECK(parse(chunked + "0\r\n\r\n").status == 413);
}

// Many tiny headers: each costs a map node and two strings (~110 bytes on
// x86-64), far more than its bytes. The attack that found it: 16,000
// distinct 'aNNNN:x' headers counted 64 KB but held ~1.7 MB per connection.
TEST_CASE("limits: many tiny headers are refused by count and by their overhead") {
    auto headers = [](int n) {
        std::string r = "GET / HTTP/1.1\r\n";
        for (int i = 0; i < n; i++) r += "h" + std::to_string(i) + ":x\r\n";
        return r + "\r\n";
    };
    // The count cap: 100 pass, 101 do not, wherever the input is split.
    auto ok = parse(headers(100), 0, 64 * 1024);
    REQUIRE(ok.requests.size() == 1);
    CHECK(ok.requests[0].headers.size() == 100);
    CHECK(parse(headers(101), 0, 64 * 1024).status == 431);
    CHECK(parse(headers(101), 7, 64 * 1024).status == 431);
    CHECK(parse(headers(16000), 0, 64 * 1024).status == 431);

    // The overhead: 40 headers of ~8 bytes are 320 bytes of text, under a
    // 1024-byte cap, but with 32 bytes each for their nodes they are over it.
    std::string forty = headers(40);
    REQUIRE(forty.size() < 1024);
    CHECK(parse(forty, 0, 1024).status == 431);
    CHECK(parse(forty, 5, 1024).status == 431);

    // What is accounted covers what the headers hold: the map nodes and the
    // strings' heap (one heap block beyond the small-string buffer).
    RequestParser p(64 * 1024, 0);
    std::string in = headers(100);
    auto step = p.feed(in.data(), in.size());
    REQUIRE(step.kind == RequestParser::Kind::Request);
    CHECK(p.header_count() == 100);
    CHECK(p.header_bytes() >= 100 * RequestParser::kHeaderOverhead);
    // Worst case at the server's limits: 100 headers, each ~110 bytes of
    // node beyond its text, is at most 11 KB over the 64 KiB cap, not 28x.
    constexpr size_t kNodeBytes = 110;
    CHECK(64 * 1024 + RequestParser::kDefaultMaxHeaderCount * kNodeBytes < 2 * 64 * 1024);
}

TEST_CASE("garbage is a 400, and the parser stays refused") {
    CHECK(parse("NOT HTTP AT ALL\r\n\r\n").status == 400);
    CHECK(parse("GET / HTTP/1.1\r\nno colon here\r\n\r\n").status == 400);
    RequestParser p(1024, 1024);
    std::string bad = "\x01\x02\x03 / HTTP/1.1\r\n\r\n";
    CHECK(p.feed(bad.data(), bad.size()).kind == RequestParser::Kind::Error);
    std::string good = "GET / HTTP/1.1\r\n\r\n";
    CHECK(p.feed(good.data(), good.size()).kind == RequestParser::Kind::Error);
}

// Issue 17, fault 2: the server decides at the end of the headers, before a
// byte of the body is read.
TEST_CASE("the headers callback refuses before the body, or sets the body's limit") {
    RequestParser p(1024, 16);
    int calls = 0;
    p.on_headers([&](const ServerRequest& head) {
        calls++;
        CHECK(head.body.empty());
        if (head.header("authorization").empty()) return RequestParser::Verdict{401, "missing Bearer token", 0};
        if (head.path == "/jobs") return RequestParser::Verdict{0, "", 1000};
        return RequestParser::Verdict{0, "", 16};
    });
    std::string unauth = "POST /jobs HTTP/1.1\r\nContent-Length: 500\r\n\r\n" + std::string(500, 'x');
    auto step = p.feed(unauth.data(), unauth.size());
    CHECK(step.kind == RequestParser::Kind::Error);
    CHECK(p.status() == 401);
    CHECK(p.message() == "missing Bearer token");
    CHECK(p.request().body.empty());
    CHECK(calls == 1);
}

TEST_CASE("the limit set for one request holds for it only") {
    RequestParser p(1024, 16);
    p.on_headers([](const ServerRequest& head) {
        return RequestParser::Verdict{0, "", head.path == "/jobs" ? size_t{1000} : size_t{16}};
    });
    std::string big = "POST /jobs HTTP/1.1\r\nContent-Length: 500\r\n\r\n" + std::string(500, 'x');
    auto step = p.feed(big.data(), big.size());
    REQUIRE(step.kind == RequestParser::Kind::Request);
    CHECK(p.request().body.size() == 500);
    CHECK(p.request().content_length == std::optional<uint64_t>(500));
    CHECK_FALSE(p.in_request());
    std::string other = "POST /stop HTTP/1.1\r\nContent-Length: 17\r\n\r\n" + std::string(17, 'y');
    step = p.feed(other.data(), other.size());
    CHECK(step.kind == RequestParser::Kind::Error);
    CHECK(p.status() == 413);
}

TEST_CASE("a streamed (chunked) body over the request's limit is refused as it comes") {
    RequestParser p(1024, 4096);
    p.on_headers([](const ServerRequest& head) {
        CHECK(head.chunked);
        CHECK_FALSE(head.content_length.has_value());
        return RequestParser::Verdict{0, "", 10};
    });
    std::string chunked = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n";
    auto step = p.feed(chunked.data(), chunked.size());
    CHECK(step.kind == RequestParser::Kind::Error);
    CHECK(p.status() == 413);
}

TEST_CASE("an exception in the headers callback is a refusal, not a crash") {
    RequestParser p(1024, 16);
    p.on_headers([](const ServerRequest&) -> RequestParser::Verdict { throw std::runtime_error("boom"); });
    std::string req = "GET /status HTTP/1.1\r\n\r\n";
    auto step = p.feed(req.data(), req.size());
    CHECK(step.kind == RequestParser::Kind::Error);
    CHECK(p.status() == 500);
    CHECK(p.message().find("boom") != std::string::npos);
}

TEST_CASE("in_request spans a request's first byte to its end") {
    RequestParser p(1024, 16);
    std::string part = "GET /status HT";
    CHECK(p.feed(part.data(), part.size()).kind == RequestParser::Kind::NeedMore);
    CHECK(p.in_request());
    std::string rest = "TP/1.1\r\n\r\n";
    CHECK(p.feed(rest.data(), rest.size()).kind == RequestParser::Kind::Request);
    CHECK_FALSE(p.in_request());
}

}  // TEST_SUITE
