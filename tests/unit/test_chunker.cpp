#include <doctest/doctest.h>

#include "chunker.hpp"

#include <random>
#include <string>
#include <vector>

using namespace sa;

namespace {

struct Recorder : ChunkSink {
    std::vector<std::string> chunks;
    void chunk(std::string_view t) override { chunks.emplace_back(t); }
    std::string joined() const {
        std::string s;
        for (const auto& c : chunks) s += c;
        return s;
    }
};

bool valid_utf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (int k = 1; k < len; k++)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

// Reference: what the chunker must produce overall for input fed as a whole.
std::string reference(const std::string& in) {
    Recorder r;
    Chunker c(r);
    c.push(in, 0);
    c.finish();
    return r.joined();
}

}  // namespace

TEST_SUITE("chunker") {
    TEST_CASE("CRLF becomes LF, also across pushes") {
        Recorder r;
        Chunker c(r);
        c.push("a\r", 0);
        c.push("\nb\r\n", 0);
        c.finish();
        CHECK(r.joined() == "a\nb\n");
    }

    TEST_CASE("a lone CR is kept, CR CR LF keeps one CR") {
        CHECK(reference("10%\r20%\r30%\n") == "10%\r20%\r30%\n");
        CHECK(reference("x\r\r\n") == "x\r\n");
        CHECK(reference("end\r") == "end\r");
    }

    TEST_CASE("multibyte sequences split at every boundary come out whole") {
        const std::string text = "a特b🎉cżd\xc3\xa9";
        for (size_t cut = 0; cut <= text.size(); cut++) {
            Recorder r;
            Chunker c(r);
            c.push(text.substr(0, cut), 0);
            c.tick(1000);  // a flush between the halves must not split a sequence
            c.push(text.substr(cut), 1000);
            c.finish();
            CHECK(r.joined() == text);
            for (const auto& ch : r.chunks) CHECK(valid_utf8(ch));
        }
    }

    TEST_CASE("invalid bytes become U+FFFD") {
        CHECK(reference("a\xff" "b") == "a\xEF\xBF\xBD" "b");
        CHECK(reference("\xc0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD");          // overlong
        CHECK(reference("\xed\xa0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
        CHECK(reference("\xF4\xBF\xBF\xBF") ==
              "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // beyond U+10FFFF
        CHECK(reference("ok\xe7\x89") == "ok\xEF\xBF\xBD\xEF\xBF\xBD");  // dangling at finish
    }

    TEST_CASE("chunks are at most 4 KiB and never end inside a sequence") {
        std::string big;
        for (int i = 0; i < 3000; i++) big += "特";  // 9000 bytes, 3-byte sequences
        Recorder r;
        Chunker c(r);
        c.push(big, 0);
        CHECK(r.chunks.size() == 2);  // two full chunks at once, the rest waits
        c.finish();
        CHECK(r.joined() == big);
        for (const auto& ch : r.chunks) {
            CHECK(ch.size() <= Chunker::kMaxChunk);
            CHECK(valid_utf8(ch));
        }
    }

    TEST_CASE("10000 ASCII bytes: two full chunks now, the rest on tick") {
        Recorder r;
        Chunker c(r);
        c.push(std::string(10000, 'x'), 0);
        REQUIRE(r.chunks.size() == 2);
        CHECK(r.chunks[0].size() == 4096);
        CHECK(r.chunks[1].size() == 4096);
        c.tick(99);
        CHECK(r.chunks.size() == 2);
        c.tick(100);
        REQUIRE(r.chunks.size() == 3);
        CHECK(r.chunks[2].size() == 10000 - 8192);
    }

    TEST_CASE("flush timing: 100 ms after the first unflushed byte") {
        Recorder r;
        Chunker c(r);
        CHECK(c.due_in(0) == -1);
        c.push("hello", 1000);
        CHECK(c.due_in(1000) == 100);
        CHECK(c.due_in(1060) == 40);
        c.push(" world", 1050);  // later bytes do not push the deadline back
        c.tick(1050);
        CHECK(r.chunks.empty());
        c.tick(1100);
        REQUIRE(r.chunks.size() == 1);
        CHECK(r.chunks[0] == "hello world");
        CHECK(c.due_in(1100) == -1);
    }

    TEST_CASE("a held CR does not make a flush due") {
        Recorder r;
        Chunker c(r);
        c.push("\r", 0);
        CHECK(c.due_in(0) == -1);
        c.push("\n", 500);
        c.tick(10000);
        CHECK(r.joined() == "\n");
    }

    TEST_CASE("random input split at random points rejoins to the reference") {
        std::mt19937 rng(12345);
        const char alphabet[] = {'a', '\r', '\n', '\xe7', '\x89', '\xb9', '\xff', '\xf0',
                                 '\x9f', '\x8e', '\x89', '\xc3', '\xa9', ' '};
        for (int iter = 0; iter < 300; iter++) {
            std::string in;
            size_t n = rng() % 600;
            for (size_t i = 0; i < n; i++) in += alphabet[rng() % sizeof alphabet];
            std::string expected = reference(in);
            CHECK(valid_utf8(expected));
            Recorder r;
            Chunker c(r);
            size_t pos = 0;
            long long t = 0;
            while (pos < in.size()) {
                size_t k = 1 + rng() % 40;
                c.push(in.substr(pos, k), t);
                pos += k;
                t += rng() % 150;
                c.tick(t);
            }
            c.finish();
            CHECK(r.joined() == expected);
            for (const auto& ch : r.chunks) CHECK(valid_utf8(ch));
        }
    }
}
