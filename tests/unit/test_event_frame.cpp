#include <doctest/doctest.h>

#include "common/event.hpp"
#include "common/frame.hpp"
#include "common/json.hpp"

#include <jansson.h>

#include <vector>

using namespace sa;

TEST_SUITE("event") {
    TEST_CASE("events have the original field order") {
        CHECK(event_job_started(5) == R"({"event":"job_started","timestamp":5})");
        CHECK(event_cmd_started(6, "echo \"hi\"") ==
              R"({"event":"cmd_started","timestamp":6,"directive":"echo \"hi\""})");
        CHECK(event_cmd_finished(7, "x", 1, 6, 7) ==
              R"({"event":"cmd_finished","timestamp":7,"directive":"x","exit_code":1,"started_at":6,"finished_at":7})");
        CHECK(event_job_finished(8, "passed") ==
              R"({"event":"job_finished","timestamp":8,"result":"passed"})");
    }
    TEST_CASE("output is escaped into valid JSON that round-trips") {
        std::string out = "tab\there\nnl \"q\" back\\slash \x01\x1f del\x7f \xe7\x89\xb9";
        std::string line = event_cmd_output(1, out);
        json_error_t e;
        json_t* j = json_loads(line.c_str(), 0, &e);
        REQUIRE(j != nullptr);
        CHECK(std::string(json_string_value(json_object_get(j, "output"))) == out);
        json_decref(j);
    }
    TEST_CASE("the word-at-a-time escaper matches a byte-by-byte one for every byte at every offset") {
        // The reference: the escaping JSON asks for, one byte at a time.
        auto reference = [](std::string_view s) {
            static const char hex[] = "0123456789abcdef";
            std::string r = "\"";
            for (unsigned char c : s) {
                if (c == '"') r += "\\\"";
                else if (c == '\\') r += "\\\\";
                else if (c == '\n') r += "\\n";
                else if (c == '\r') r += "\\r";
                else if (c == '\t') r += "\\t";
                else if (c == '\b') r += "\\b";
                else if (c == '\f') r += "\\f";
                else if (c < 0x20) r += std::string("\\u00") + hex[c >> 4] + hex[c & 15];
                else r += static_cast<char>(c);
            }
            return r + "\"";
        };
        // Each byte value at each position of a string longer than two words,
        // amid bytes that need no escape (and amid high bytes, which borrow
        // differently in the word test).
        for (char fill : {'x', '\xff', '\x7f', '!'}) {
            for (int c = 0; c < 256; c++) {
                for (size_t at = 0; at < 19; at++) {
                    std::string s(19, fill);
                    s[at] = static_cast<char>(c);
                    std::string got;
                    json_append_string(got, s);
                    REQUIRE(got == reference(s));
                }
            }
        }
        std::string mixed = "a\"b\\c\nd\x01e\x1f\x20\x21\x5b\x5c\x5d\x22\x80\xff";
        std::string got;
        json_append_string(got, mixed);
        CHECK(got == reference(mixed));
    }
    TEST_CASE("event kind from the prefix") {
        CHECK(event_kind(event_cmd_output(1, "x")) == "cmd_output");
        CHECK(event_kind(event_job_finished(1, "failed")) == "job_finished");
        CHECK(event_kind("garbage") == "");
    }
}

TEST_SUITE("frame") {
    TEST_CASE("frames round-trip when fed byte by byte") {
        std::string wire;
        frame_append(wire, FrameType::Event, "hello");
        frame_append(wire, FrameType::Stop, "");
        frame_append(wire, FrameType::Done, "passed");
        FrameDecoder d;
        std::vector<Frame> got;
        for (char c : wire) {
            d.feed(&c, 1);
            while (auto f = d.next()) got.push_back(*f);
        }
        REQUIRE(got.size() == 3);
        CHECK(got[0].type == FrameType::Event);
        CHECK(got[0].payload == "hello");
        CHECK(got[1].type == FrameType::Stop);
        CHECK(got[1].payload.empty());
        CHECK(got[2].payload == "passed");
        CHECK(d.pending() == 0);
        CHECK_FALSE(d.failed());
    }
    TEST_CASE("an event frame built in place is the bytes frame_append makes") {
        std::string text = "line one\r\n\"quoted\"\ttab \x01 " + std::string(5000, 'y');
        std::string a, b = "queued before";
        a = b;
        frame_append(a, FrameType::Event, event_cmd_output(42, text));
        size_t at = frame_begin(b);
        append_event_cmd_output(b, 42, text);
        frame_end(b, at, FrameType::Event);
        CHECK(a == b);
        FrameDecoder d;
        d.feed(b.data() + 13, b.size() - 13);  // after "queued before"
        auto v = d.next_view();
        REQUIRE(v);
        CHECK(v->type == FrameType::Event);
        CHECK(v->payload == event_cmd_output(42, text));
        CHECK(d.pending() == 0);
    }
    TEST_CASE("views and copies take the same frames in turn") {
        std::string wire;
        frame_append(wire, FrameType::Event, "one");
        frame_append(wire, FrameType::Event, "two");
        frame_append(wire, FrameType::Done, "passed");
        FrameDecoder d;
        d.feed(wire.data(), wire.size());
        auto v = d.next_view();
        REQUIRE(v);
        CHECK(v->payload == "one");
        auto f = d.next();
        REQUIRE(f);
        CHECK(f->payload == "two");
        v = d.next_view();
        REQUIRE(v);
        CHECK(v->type == FrameType::Done);
        CHECK(v->payload == "passed");
        CHECK_FALSE(d.next_view());
    }
    TEST_CASE("a partial frame waits for the rest") {
        std::string wire;
        frame_append(wire, FrameType::Event, std::string(1000, 'x'));
        FrameDecoder d;
        d.feed(wire.data(), 500);
        CHECK_FALSE(d.next());
        d.feed(wire.data() + 500, wire.size() - 500);
        auto f = d.next();
        REQUIRE(f);
        CHECK(f->payload.size() == 1000);
    }
    TEST_CASE("unknown type is a sticky error") {
        const char bad[] = {0, 0, 0, 1, 9, 'x'};
        FrameDecoder d;
        d.feed(bad, sizeof bad);
        CHECK_FALSE(d.next());
        CHECK(d.failed());
        CHECK(d.error().find("unknown frame type 9") != std::string::npos);
    }
    TEST_CASE("oversize frame is refused before its payload arrives") {
        const char big[] = {0x7f, 0, 0, 0, static_cast<char>(FrameType::Event)};
        FrameDecoder d;
        d.feed(big, sizeof big);
        CHECK_FALSE(d.next());
        CHECK(d.failed());
        CHECK(d.error().find("too large") != std::string::npos);
    }
    TEST_CASE("a big job frame is accepted") {
        std::string wire;
        frame_append(wire, FrameType::Job, std::string(1 << 20, 'j'));
        FrameDecoder d;
        d.feed(wire.data(), wire.size());
        auto f = d.next();
        REQUIRE(f);
        CHECK(f->payload.size() == (1u << 20));
    }
}

TEST_SUITE("frame") {
    TEST_CASE("the largest event a valid job makes fits the event frame") {
        // frame.hpp's bound assumes JSON escaping takes at most 6 bytes per
        // byte: the worst input (control bytes) in two maximal fields.
        std::string worst(4096, '\x01');
        std::string ev = event_cmd_output(0, worst);
        CHECK(ev.size() <= 6 * worst.size() + 64);
        CHECK(kMaxEventPayload >= 6 * (2 * kMaxJobTextField + kMaxAgentText));
        CHECK(frame_max_payload(FrameType::Event) == kMaxEventPayload);
        CHECK(frame_max_payload(FrameType::Job) >= kMaxJobRequestBytes + kMaxJobOptionsBytes);
    }
}
