#include <doctest/doctest.h>

#include "marker.hpp"

#include <string>

using namespace sa;

namespace {

const std::string kNonce = "0123abcd";
const std::string kStart = "\x01" + kNonce + ":S\r\n";
std::string end_marker(int code) { return "\x01" + kNonce + ":E:" + std::to_string(code) + "\r\n"; }

// Feeds the stream in pieces of `step` bytes; returns (done, output).
std::pair<bool, std::string> feed_all(MarkerScanner& m, const std::string& s, size_t step) {
    std::string out;
    bool done = false;
    for (size_t i = 0; i < s.size() && !done; i += step) done = m.feed(s.substr(i, step), out);
    return {done, out};
}

}  // namespace

TEST_SUITE("marker") {
    TEST_CASE("echoed input and prompt are dropped, output kept") {
        MarkerScanner m(kNonce);
        m.begin();
        std::string stream = "\\builtin printf '\\001" + kNonce + ":S\\n'; ...\r\n" + kStart +
                             "hello\r\n" + end_marker(0) + "$ prompt";
        auto [done, out] = feed_all(m, stream, stream.size());
        CHECK(done);
        CHECK(out == "hello\r\n");
        CHECK(m.exit_code() == 0);
    }

    TEST_CASE("exit codes") {
        for (int code : {0, 1, 127, 130, 255}) {
            MarkerScanner m(kNonce);
            m.begin();
            auto [done, out] = feed_all(m, kStart + "x" + end_marker(code), 1000);
            CHECK(done);
            CHECK(out == "x");
            CHECK(m.exit_code() == code);
        }
    }

    TEST_CASE("markers split at every byte give the same result") {
        std::string stream = "junk" + kStart + "a\x01" "b\x01" + kNonce + ":E:x\r\n" +
                             "\x01" "ffff:E:0\r\nno newline" + end_marker(42) + "after";
        for (size_t step = 1; step <= stream.size(); step++) {
            MarkerScanner m(kNonce);
            m.begin();
            auto [done, out] = feed_all(m, stream, step);
            CHECK(done);
            CHECK(out == "a\x01" "b\x01" + kNonce + ":E:x\r\n\x01" "ffff:E:0\r\nno newline");
            CHECK(m.exit_code() == 42);
        }
    }

    TEST_CASE("nothing is output before the start marker") {
        MarkerScanner m(kNonce);
        m.begin();
        std::string out;
        CHECK_FALSE(m.feed("prompt$ " + std::string(100, 'z'), out));
        CHECK(out.empty());
    }

    TEST_CASE("begin() resets for the next command; begin_without_start() needs no start") {
        MarkerScanner m(kNonce);
        m.begin();
        std::string out;
        CHECK(m.feed(kStart + "one" + end_marker(1), out));
        m.begin();
        out.clear();
        CHECK(m.feed(kStart + "two" + end_marker(2), out));
        CHECK(out == "two");
        CHECK(m.exit_code() == 2);
        m.begin_without_start();
        out.clear();
        CHECK(m.feed("profile noise" + end_marker(0), out));
        CHECK(out == "profile noise");
    }

    TEST_CASE("the instruction never carries the raw 0x01 byte") {
        MarkerScanner m(kNonce);
        std::string ins = m.instruction("/job/dir/command");
        CHECK(ins.find('\x01') == std::string::npos);
        CHECK(ins.find(kNonce) != std::string::npos);
        CHECK(ins.find("/job/dir/command") != std::string::npos);
        CHECK(ins.back() == '\n');
        CHECK(m.ready_instruction().find('\x01') == std::string::npos);
    }
}
