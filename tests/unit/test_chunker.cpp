#include <doctest/doctest.h>

#include "worker/chunker.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace sa;

namespace {

const std::string kFFFD = "\xEF\xBF\xBD";

struct Recorder : ChunkSink {
    std::vector<std::string> chunks;
    void chunk(std::string_view t) override { chunks.emplace_back(t); }
    std::string joined() const {
        std::string s;
        for (const auto& c : chunks) s += c;
        return s;
    }
    size_t size() const { return chunks.size(); }
};

// Decodes one scalar value at s[i]; returns its length, or 0 when the bytes
// there are not a complete, shortest-form, non-surrogate sequence <= U+10FFFF.
// Written independently of the chunker (decodes the code point, then checks
// ranges) so that the two can be compared.
size_t decode_one(const std::string& s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    unsigned char c = b(0);
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (i + len > s.size()) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((b(k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool valid_utf8(const std::string& s) {
    for (size_t i = 0; i < s.size();) {
        size_t len = decode_one(s, i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

// Reference normaliser: `\r\n` -> `\n` in one left-to-right pass, then each
// byte that does not start a valid sequence becomes U+FFFD (one per byte).
std::string reference(const std::string& in) {
    std::string crlf;
    for (size_t i = 0; i < in.size(); i++) {
        if (in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n') {
            crlf += '\n';
            i++;
        } else {
            crlf += in[i];
        }
    }
    std::string out;
    for (size_t i = 0; i < crlf.size();) {
        size_t len = decode_one(crlf, i);
        if (len == 0) {
            out += kFFFD;
            i++;
        } else {
            out.append(crlf, i, len);
            i += len;
        }
    }
    return out;
}

// Runs the whole input through a chunker in one push.
std::string run_whole(const std::string& in) {
    Recorder r;
    Chunker c(r);
    c.push(in, 0);
    c.finish();
    return r.joined();
}

// Checks the invariants every chunk must satisfy.
void check_chunks(const Recorder& r) {
    for (const auto& ch : r.chunks) {
        CHECK_FALSE(ch.empty());
        CHECK(ch.size() <= Chunker::kMaxChunk);
        CHECK(valid_utf8(ch));
    }
}

}  // namespace

TEST_SUITE("chunker") {
    TEST_CASE("the test's own validator and reference") {
        CHECK(valid_utf8("a\xc3\xa9\xe7\x89\xb9\xf0\x9f\x8e\x89"));
        CHECK_FALSE(valid_utf8("\xc3"));
        CHECK_FALSE(valid_utf8("\xc0\x80"));
        CHECK_FALSE(valid_utf8("\xe0\x80\x80"));
        CHECK_FALSE(valid_utf8("\xed\xa0\x80"));
        CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));
        CHECK_FALSE(valid_utf8("\x80"));
        CHECK(valid_utf8("\xf4\x8f\xbf\xbf"));
        CHECK(reference("a\r\r\nb\r") == "a\r\nb\r");
    }

    TEST_CASE("CRLF becomes LF") {
        CHECK(run_whole("a\r\nb\r\n") == "a\nb\n");
        CHECK(run_whole("\r\n\r\n") == "\n\n");
        CHECK(run_whole("plain\n") == "plain\n");
    }

    TEST_CASE("CR at the end of one push, LF at the start of the next") {
        Recorder r;
        Chunker c(r);
        c.push("a\r", 0);
        c.push("\nb\r", 10);
        c.push("\n", 20);
        c.finish();
        CHECK(r.joined() == "a\nb\n");
        check_chunks(r);
    }

    TEST_CASE("a held CR survives a flush and still joins the next LF") {
        Recorder r;
        Chunker c(r);
        c.push("line\r", 0);
        c.tick(100);
        REQUIRE(r.size() == 1);
        CHECK(r.chunks[0] == "line");  // the CR is held, not emitted alone
        c.push("\nnext", 500);
        c.finish();
        CHECK(r.joined() == "line\nnext");
    }

    TEST_CASE("a lone CR is kept (progress bars), CR CR LF keeps one CR") {
        CHECK(run_whole("10%\r20%\r30%\n") == "10%\r20%\r30%\n");
        CHECK(run_whole("x\r\r\n") == "x\r\n");
        CHECK(run_whole("x\r\r\r\n") == "x\r\r\n");
        CHECK(run_whole("\ra\rb") == "\ra\rb");
        CHECK(run_whole("\n\r") == "\n\r");
        CHECK(run_whole("end\r") == "end\r");  // trailing CR kept by finish()

        // CR CR | LF across pushes.
        Recorder r;
        Chunker c(r);
        c.push("x\r\r", 0);
        c.push("\n", 1);
        c.finish();
        CHECK(r.joined() == "x\r\n");
    }

    TEST_CASE("a lone CR between pushes is emitted once the next byte arrives") {
        Recorder r;
        Chunker c(r);
        c.push("10%\r", 0);
        c.push("20%\r", 200);
        c.tick(300);
        CHECK(r.joined() == "10%\r20%");
        c.finish();
        CHECK(r.joined() == "10%\r20%\r");
    }

    TEST_CASE("multibyte sequences split at every boundary come out whole") {
        const std::string text = "a\xc3\xa9" "b特c🎉d\xf4\x8f\xbf\xbf" "e\r\nż\xe0\xa0\x80";
        for (size_t cut = 0; cut <= text.size(); cut++) {
            CAPTURE(cut);
            Recorder r;
            Chunker c(r);
            c.push(text.substr(0, cut), 0);
            c.tick(1000);  // a flush between the halves must not split a sequence
            c.push(text.substr(cut), 1000);
            c.finish();
            CHECK(r.joined() == reference(text));
            check_chunks(r);
        }
        // Every byte in its own push.
        Recorder r;
        Chunker c(r);
        long long t = 0;
        for (char ch : text) {
            c.push(std::string(1, ch), t);
            t += 60;
            c.tick(t);
        }
        c.finish();
        CHECK(r.joined() == reference(text));
        check_chunks(r);
    }

    TEST_CASE("every pair of split points of a 4-byte sequence") {
        const std::string emoji = "🎉";  // F0 9F 8E 89
        for (size_t a = 0; a <= 4; a++)
            for (size_t b = a; b <= 4; b++) {
                CAPTURE(a);
                CAPTURE(b);
                Recorder r;
                Chunker c(r);
                c.push("x" + emoji.substr(0, a), 0);
                c.tick(100);
                c.push(emoji.substr(a, b - a), 100);
                c.tick(200);
                c.push(emoji.substr(b) + "y", 200);
                c.tick(300);
                CHECK(r.joined() == "x" + emoji + "y");
                check_chunks(r);
            }
    }

    TEST_CASE("invalid bytes become U+FFFD, one per byte") {
        CHECK(run_whole("a\xff" "b") == "a" + kFFFD + "b");
        CHECK(run_whole("\xfe\xff") == kFFFD + kFFFD);
        CHECK(run_whole("\x80") == kFFFD);                      // lone continuation
        CHECK(run_whole("\xc0\x80") == kFFFD + kFFFD);          // overlong NUL
        CHECK(run_whole("\xc1\xbf") == kFFFD + kFFFD);          // overlong
        CHECK(run_whole("\xe0\x80\x80") == kFFFD + kFFFD + kFFFD);  // overlong 3-byte
        CHECK(run_whole("\xf0\x80\x80\x80") == kFFFD + kFFFD + kFFFD + kFFFD);
        CHECK(run_whole("\xed\xa0\x80") == kFFFD + kFFFD + kFFFD);  // surrogate
        CHECK(run_whole("\xF4\xBF\xBF\xBF") == kFFFD + kFFFD + kFFFD + kFFFD);  // > U+10FFFF
        CHECK(run_whole("\xF5\x80\x80\x80") == kFFFD + kFFFD + kFFFD + kFFFD);
        CHECK(run_whole("\xe7\x89" "A") == kFFFD + kFFFD + "A");  // truncated mid-stream
        CHECK(run_whole("\xe7\r\n") == kFFFD + "\n");
        // Edge values that are valid.
        CHECK(run_whole("\xed\x9f\xbf") == "\xed\x9f\xbf");       // U+D7FF
        CHECK(run_whole("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");  // U+10FFFF
        CHECK(run_whole(std::string("\0", 1)) == std::string("\0", 1));
    }

    TEST_CASE("a dangling lead byte at finish() becomes U+FFFD") {
        CHECK(run_whole("ok\xe7") == "ok" + kFFFD);
        CHECK(run_whole("ok\xe7\x89") == "ok" + kFFFD + kFFFD);
        CHECK(run_whole("ok\xf0\x9f\x8e") == "ok" + kFFFD + kFFFD + kFFFD);

        // Held across a tick: not emitted, not replaced, until finish().
        Recorder r;
        Chunker c(r);
        c.push("ok\xf0\x9f", 0);
        c.tick(100);
        CHECK(r.joined() == "ok");
        c.tick(1000);
        CHECK(r.joined() == "ok");
        c.finish();
        CHECK(r.joined() == "ok" + kFFFD + kFFFD);
        check_chunks(r);
    }

    TEST_CASE("random invalid input always yields valid UTF-8") {
        std::mt19937 rng(7);
        for (int iter = 0; iter < 500; iter++) {
            std::string in;
            size_t n = rng() % 64;
            for (size_t i = 0; i < n; i++) in += static_cast<char>(rng() & 0xFF);
            Recorder r;
            Chunker c(r);
            size_t pos = 0;
            while (pos < in.size()) {
                size_t k = 1 + rng() % 5;
                c.push(in.substr(pos, k), 0);
                pos += k;
            }
            c.finish();
            CHECK(valid_utf8(r.joined()));
            CHECK(r.joined() == reference(in));
            check_chunks(r);
        }
    }

    TEST_CASE("chunks are at most 4 KiB and never end inside a sequence") {
        for (const std::string unit : {"特", "🎉", "\xc3\xa9", "a特", "ab🎉"}) {
            CAPTURE(unit);
            std::string big;
            while (big.size() < 9000) big += unit;
            Recorder r;
            Chunker c(r);
            c.push(big, 0);
            CHECK(r.size() == 2);  // two full chunks at once, the rest waits
            for (const auto& ch : r.chunks) CHECK(ch.size() >= Chunker::kMaxChunk - 3);
            c.finish();
            CHECK(r.size() == 3);
            CHECK(r.joined() == big);
            check_chunks(r);
        }
    }

    TEST_CASE("a sequence straddling the 4096 boundary moves to the next chunk") {
        for (size_t pad = 4090; pad <= 4096; pad++) {
            CAPTURE(pad);
            std::string in(pad, 'a');
            in += "🎉";
            in += std::string(5000, 'b');
            Recorder r;
            Chunker c(r);
            c.push(in, 0);
            REQUIRE(r.size() >= 1);
            size_t expect = pad + 4 <= 4096 ? 4096 : pad;
            CHECK(r.chunks[0].size() == expect);
            c.finish();
            CHECK(r.joined() == in);
            check_chunks(r);
        }
    }

    TEST_CASE("exactly 4096 bytes go out at once; 4095 wait") {
        Recorder r;
        Chunker c(r);
        c.push(std::string(4095, 'x'), 0);
        CHECK(r.size() == 0);
        CHECK(c.due_in(0) == 100);
        c.push("y", 10);
        REQUIRE(r.size() == 1);
        CHECK(r.chunks[0].size() == 4096);
        CHECK(c.due_in(10) == -1);  // nothing pending any more
        c.tick(10000);
        c.finish();
        CHECK(r.size() == 1);
    }

    TEST_CASE("CRLF normalisation counts towards the 4096 limit after conversion") {
        std::string in;
        for (int i = 0; i < 3000; i++) in += "a\r\n";  // 9000 raw, 6000 normalised
        Recorder r;
        Chunker c(r);
        c.push(in, 0);
        REQUIRE(r.size() == 1);
        CHECK(r.chunks[0].size() == 4096);
        c.finish();
        CHECK(r.joined() == reference(in));
        check_chunks(r);
    }

    TEST_CASE("10000 bytes at once: two full chunks now, the rest on tick") {
        Recorder r;
        Chunker c(r);
        c.push(std::string(10000, 'x'), 0);
        REQUIRE(r.size() == 2);
        CHECK(r.chunks[0].size() == 4096);
        CHECK(r.chunks[1].size() == 4096);
        CHECK(c.due_in(0) == 100);
        c.tick(50);
        c.tick(99);
        CHECK(r.size() == 2);
        c.tick(100);
        REQUIRE(r.size() == 3);
        CHECK(r.chunks[2].size() == 10000 - 8192);
        CHECK(c.due_in(100) == -1);
        c.finish();
        CHECK(r.size() == 3);
    }

    TEST_CASE("10000 bytes at once: the rest on finish()") {
        Recorder r;
        Chunker c(r);
        c.push(std::string(10000, 'x'), 0);
        REQUIRE(r.size() == 2);
        c.finish();
        REQUIRE(r.size() == 3);
        CHECK(r.chunks[2] == std::string(10000 - 8192, 'x'));
    }

    TEST_CASE("flush timing: 100 ms after the first unflushed byte") {
        Recorder r;
        Chunker c(r);
        c.push("data", 0);
        c.tick(50);
        CHECK(r.size() == 0);
        c.tick(99);
        CHECK(r.size() == 0);
        c.tick(100);
        REQUIRE(r.size() == 1);
        CHECK(r.chunks[0] == "data");
        c.tick(500);
        CHECK(r.size() == 1);  // nothing new, nothing emitted, no empty chunk
    }

    TEST_CASE("due_in values") {
        Recorder r;
        Chunker c(r);
        CHECK(c.due_in(0) == -1);
        c.push("hello", 1000);
        CHECK(c.due_in(1000) == 100);
        CHECK(c.due_in(1060) == 40);
        CHECK(c.due_in(1100) == 0);
        CHECK(c.due_in(5000) == 0);  // overdue: never negative
        c.push(" world", 1050);  // later bytes do not push the deadline back
        CHECK(c.due_in(1050) == 50);
        c.tick(1050);
        CHECK(r.size() == 0);
        c.tick(1100);
        REQUIRE(r.size() == 1);
        CHECK(r.chunks[0] == "hello world");
        CHECK(c.due_in(1100) == -1);
        // The next byte starts a new 100 ms window.
        c.push("!", 2000);
        CHECK(c.due_in(2000) == 100);
        c.tick(2099);
        CHECK(r.size() == 1);
        c.tick(2100);
        CHECK(r.size() == 2);
        c.finish();
        CHECK(c.due_in(3000) == -1);
    }

    TEST_CASE("after a full chunk the remainder gets its own 100 ms") {
        Recorder r;
        Chunker c(r);
        c.push("a", 0);
        c.push(std::string(5000, 'b'), 90);  // "a" leaves in the full chunk
        REQUIRE(r.size() == 1);
        CHECK(r.chunks[0] == "a" + std::string(4095, 'b'));
        CHECK(c.due_in(90) == 100);
        c.tick(150);
        CHECK(r.size() == 1);
        c.tick(190);
        REQUIRE(r.size() == 2);
        CHECK(r.chunks[1] == std::string(5000 - 4095, 'b'));
    }

    TEST_CASE("a held tail alone does not make a flush due") {
        for (const std::string held : {"\r", "\xe7", "\xe7\x89", "\xf0\x9f\x8e"}) {
            Recorder r;
            Chunker c(r);
            c.push(held, 0);
            CHECK(c.due_in(0) == -1);
            c.tick(10000);
            CHECK(r.size() == 0);
        }
        Recorder r;
        Chunker c(r);
        c.push("\r", 0);
        c.push("\n", 500);
        c.tick(10000);
        CHECK(r.joined() == "\n");
    }

    TEST_CASE("empty pushes and finish on nothing emit nothing") {
        Recorder r;
        Chunker c(r);
        c.push("", 0);
        CHECK(c.due_in(0) == -1);
        c.tick(1000);
        c.finish();
        c.finish();
        CHECK(r.size() == 0);
    }

    TEST_CASE("finish() emits everything and the chunker is reusable") {
        Recorder r;
        Chunker c(r);
        c.push("abc\r", 0);
        c.push("def\xe7\x89", 1);
        c.finish();
        CHECK(r.joined() == "abc\rdef" + kFFFD + kFFFD);
        r.chunks.clear();
        c.push("next\r\n", 5);
        c.finish();
        CHECK(r.joined() == "next\n");
    }

    TEST_CASE("utf8_cut") {
        CHECK(utf8_cut("abc", 10) == 3);
        CHECK(utf8_cut("abc", 3) == 3);
        CHECK(utf8_cut("abcd", 3) == 3);
        CHECK(utf8_cut("a特", 1) == 1);
        CHECK(utf8_cut("a特", 2) == 1);
        CHECK(utf8_cut("a特", 3) == 1);
        CHECK(utf8_cut("a特", 4) == 4);
        CHECK(utf8_cut("a🎉b", 4) == 1);
        CHECK(utf8_cut("a🎉b", 5) == 5);
    }

    TEST_CASE("random input split at random points matches the reference normaliser") {
        std::mt19937 rng(12345);
        // Bytes weighted towards the interesting ones; random whole sequences too.
        const std::vector<std::string> pieces = {
            "a", "b", " ", "\r", "\n", "\r\n", "\r\r\n", "\xff", "\x80", "\xc0\x80",
            "\xed\xa0\x80", "\xF4\xBF\xBF\xBF", "\xe7", "\xe7\x89", "\xf0\x9f",
            "\xc3\xa9", "特", "🎉", "\xf4\x8f\xbf\xbf", "\x01", std::string(1, '\0')};
        for (int iter = 0; iter < 2000; iter++) {
            std::string in;
            size_t n = iter % 50 == 0 ? 3000 + rng() % 6000 : rng() % 400;
            while (in.size() < n) {
                if (rng() % 4 == 0) in += static_cast<char>(rng() & 0xFF);
                else if (rng() % 3 == 0) in += std::string(1 + rng() % 30, 'x');
                else in += pieces[rng() % pieces.size()];
            }
            const std::string expected = reference(in);
            REQUIRE(valid_utf8(expected));
            CHECK(run_whole(in) == expected);

            Recorder r;
            Chunker c(r);
            size_t pos = 0;
            long long t = 0;
            while (pos < in.size()) {
                size_t k = rng() % 5 == 0 ? 1 + rng() % 5000 : 1 + rng() % 8;
                c.push(in.substr(pos, k), t);
                pos += k;
                t += rng() % 150;
                if (rng() % 2) c.tick(t);
                long long d = c.due_in(t);
                CHECK(d >= -1);
                CHECK(d <= Chunker::kFlushMs);
            }
            c.finish();
            CHECK(r.joined() == expected);
            check_chunks(r);
            if (r.joined() != expected) break;  // one failing input is enough
        }
    }

    TEST_CASE("no data waits longer than 100 ms once tick() runs when due_in() says") {
        std::mt19937 rng(99);
        for (int iter = 0; iter < 200; iter++) {
            Recorder r;
            Chunker c(r);
            long long t = 0;
            std::string pushed;
            for (int k = 0; k < 50; k++) {
                std::string piece(1 + rng() % 300, 'z');
                if (rng() % 3 == 0) piece += "\r";
                if (rng() % 3 == 0) piece += "特";
                c.push(piece, t);
                pushed += piece;
                t += rng() % 80;
                long long d = c.due_in(t);
                if (d == 0) c.tick(t);
                CHECK(c.due_in(t) != 0);
            }
            c.finish();
            CHECK(r.joined() == reference(pushed));
        }
    }
}
