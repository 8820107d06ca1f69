#include <doctest/doctest.h>

#include "daemon/job/spool.hpp"
#include "daemon/job/spool_reader.hpp"
#include "daemon/job/log_upload.hpp"

#include "common/fs.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace sa;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/sa-spool-reader-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// Line i of a test spool: lengths vary so that offsets are not a multiple of anything.
std::string line_of(long long i) { return "line " + std::to_string(i) + " " + std::string(static_cast<size_t>(i % 37), 'x'); }

// A spool of n lines written through Spool (which keeps the index); the
// byte offset where each line starts, plus the end, in `starts`.
Spool write_spool(const std::string& path, long long n, std::vector<long long>& starts) {
    auto s = Spool::create(path);
    REQUIRE(s);
    starts.assign(1, 0);
    for (long long i = 0; i < n; i++) {
        std::string l = line_of(i);
        REQUIRE(s->append(l));
        starts.push_back(starts.back() + static_cast<long long>(l.size()) + 1);
    }
    REQUIRE(s->flush());
    return std::move(s.value());
}

}  // namespace

TEST_SUITE("spool") {
    TEST_CASE("the index is sparse: a checkpoint every kLines lines or kBytes bytes") {
        TempDir d;
        std::vector<long long> starts;
        Spool s = write_spool(d.path + "/events.jsonl", 100000, starts);
        CHECK(s.index().lines() == 100000);
        CHECK(s.index().bytes() == starts.back());
        // 100 line-driven checkpoints plus line 0: memory grows by 16 bytes per 1000 lines.
        CHECK(s.index().checkpoints() == 101);

        auto big = Spool::create(d.path + "/big.jsonl");
        REQUIRE(big);
        const std::string line(300 * 1024, 'b');
        for (int i = 0; i < 40; i++) REQUIRE(big->append(line));
        REQUIRE(big->flush());
        // 40 lines of 300 KiB: a checkpoint each time a MiB was passed (every 4th line).
        CHECK(big->index().checkpoints() == 1 + 10);
        CHECK(big->index().before(39).line == 36);
        CHECK(big->index().before(39).offset == 36LL * (300 * 1024 + 1));
    }

    TEST_CASE("offset_of_line: where line N starts, from the checkpoint before it") {
        TempDir d;
        std::string path = d.path + "/events.jsonl";
        std::vector<long long> starts;
        Spool s = write_spool(path, 5000, starts);
        auto r = SpoolReader::open(path);
        REQUIRE(r);
        const long long end = starts.back();
        for (long long n : {0LL, 1LL, 2LL, 999LL, 1000LL, 1001LL, 2500LL, 4999LL}) {
            auto off = r->offset_of_line(s.index(), n, end);
            REQUIRE(off);
            CHECK_MESSAGE(*off == starts[static_cast<size_t>(n)], "line " << n);
        }
        auto past = r->offset_of_line(s.index(), 6000, end);
        REQUIRE(past);
        CHECK(*past == end);
        // Not past `end`, even when the file holds more.
        auto cut = r->offset_of_line(s.index(), 4000, starts[3500]);
        REQUIRE(cut);
        CHECK(*cut == starts[3500]);
    }

    TEST_CASE("offset_of_line seeks: nothing before the checkpoint is read") {
        TempDir d;
        std::string path = d.path + "/events.jsonl";
        std::vector<long long> starts;
        Spool s = write_spool(path, 3000, starts);
        // Lines 0..1999 become one line without newlines: a reader that
        // scanned from the start would find line 2100 far too late.
        {
            int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
            REQUIRE(fd >= 0);
            std::string blank(static_cast<size_t>(starts[2000]), '-');
            REQUIRE(::pwrite(fd, blank.data(), blank.size(), 0) == static_cast<ssize_t>(blank.size()));
            ::close(fd);
        }
        auto r = SpoolReader::open(path);
        REQUIRE(r);
        auto off = r->offset_of_line(s.index(), 2100, starts.back());
        REQUIRE(off);
        CHECK(*off == starts[2100]);
    }

    TEST_CASE("read_batch: whole lines from a byte offset, within the limits") {
        TempDir d;
        std::string path = d.path + "/events.jsonl";
        std::vector<long long> starts;
        write_spool(path, 3000, starts);
        auto r = SpoolReader::open(path);
        REQUIRE(r);
        std::string out;

        auto n = r->read_batch(0, {2000, 1 << 20, 1 << 20}, out);
        REQUIRE(n);
        CHECK(*n == 2000);  // the line limit
        CHECK(static_cast<long long>(out.size()) == starts[2000]);
        CHECK(out.substr(0, 7) == "line 0 ");

        n = r->read_batch(starts[2000], {2000, 1000, 1 << 20}, out);
        REQUIRE(n);
        CHECK(*n > 0);
        CHECK(out.size() <= 1000);  // the byte limit, in whole lines
        CHECK(static_cast<long long>(out.size()) == starts[2000 + static_cast<size_t>(*n)] - starts[2000]);
        CHECK(out.back() == '\n');

        n = r->read_batch(starts.back(), {2000, 1 << 20, 1 << 20}, out);
        REQUIRE(n);
        CHECK(*n == 0);  // nothing new
        CHECK(out.empty());
    }

    TEST_CASE("read_batch: a line still being written is not handed out; a long line goes alone") {
        TempDir d;
        std::string path = d.path + "/events.jsonl";
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        std::string data = "a\n" + std::string(5000, 'L') + "\nb\nhalf";
        REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
        ::close(fd);
        auto r = SpoolReader::open(path);
        REQUIRE(r);
        std::string out;
        auto n = r->read_batch(0, {100, 1000, 8000}, out);
        REQUIRE(n);
        CHECK(*n == 1);
        CHECK(out == "a\n");
        n = r->read_batch(2, {100, 1000, 8000}, out);  // 5001 bytes: longer than a batch
        REQUIRE(n);
        CHECK(*n == 2);  // the long line, and what else fits the second read
        CHECK(out == std::string(5000, 'L') + "\nb\n");
        n = r->read_batch(2 + 5001 + 2, {100, 1000, 8000}, out);
        REQUIRE(n);
        CHECK(*n == 0);  // "half" has no newline yet
    }

    TEST_CASE("for_each_line: every whole line, across blocks") {
        TempDir d;
        std::string path = d.path + "/events.jsonl";
        std::vector<std::string> lines = {"", "short", std::string(100 * 1024, 'x'), "", std::string(200 * 1024, 'y'), "z"};
        {
            auto s = Spool::create(path);
            REQUIRE(s);
            for (const auto& l : lines) REQUIRE(s->append(l));
            REQUIRE(s->flush());
            int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
            REQUIRE(fd >= 0);
            REQUIRE(::write(fd, "partial", 7) == 7);
            ::close(fd);
        }
        auto r = SpoolReader::open(path);
        REQUIRE(r);
        std::vector<std::string> got;
        REQUIRE(r->for_each_line([&](std::string_view l) { got.emplace_back(l); }));
        CHECK(got == lines);
    }

    TEST_CASE("errors name the spool") {
        auto r = SpoolReader::open("/nonexistent/events.jsonl");
        REQUIRE_FALSE(r);
        CHECK(r.message().find("/nonexistent/events.jsonl") != std::string::npos);

        TempDir d;
        std::string path = d.path + "/events.jsonl";
        std::vector<long long> starts;
        write_spool(path, 10, starts);
        auto ok = SpoolReader::open(path);
        REQUIRE(ok);
        std::string out;
        auto st = ok->read_exact(starts.back() - 3, 10, out);
        REQUIRE_FALSE(st);
        CHECK(st.message().find("shorter than the events it recorded") != std::string::npos);
        REQUIRE(ok->read_exact(starts[1], static_cast<size_t>(starts[2] - starts[1]), out));
        CHECK(out == line_of(1) + "\n");
    }

    TEST_CASE("serve's prefix: errors say 'spool:' and never the job directory's path") {
        TempDir d;
        const std::string missing = d.path + "/job-dir/events.jsonl";
        auto r = SpoolReader::open(missing, "spool: ");
        REQUIRE_FALSE(r);
        CHECK(r.message() == "spool: No such file or directory");

        std::string path = d.path + "/events.jsonl";
        std::vector<long long> starts;
        write_spool(path, 10, starts);
        auto ok = SpoolReader::open(path, "spool: ");
        REQUIRE(ok);
        std::string out;
        auto st = ok->read_exact(starts.back() - 3, 10, out);
        REQUIRE_FALSE(st);
        CHECK(st.message() == "spool: shorter than the events it recorded");
    }

    TEST_CASE("for_each_line: a last line without its newline, dropped by default, delivered on request") {
        TempDir d;
        std::string path = d.path + "/events.jsonl";
        const std::string tail(100 * 1024, 't');  // longer than a block: carried across reads
        REQUIRE(write_file(path, "one\ntwo\n" + tail));
        auto r = SpoolReader::open(path);
        REQUIRE(r);
        std::vector<std::string> got;
        REQUIRE(r->for_each_line([&](std::string_view l) { got.emplace_back(l); }));
        CHECK(got == std::vector<std::string>{"one", "two"});
        got.clear();
        REQUIRE(r->for_each_line([&](std::string_view l) { got.emplace_back(l); }, SpoolReader::LastLine::Deliver));
        CHECK(got == std::vector<std::string>{"one", "two", tail});

        REQUIRE(write_file(path, "one\n"));
        got.clear();
        REQUIRE(r->for_each_line([&](std::string_view l) { got.emplace_back(l); }, SpoolReader::LastLine::Deliver));
        CHECK(got == std::vector<std::string>{"one"});
    }

    TEST_CASE("write_plain_log: a last event without its newline keeps its text; a missing spool is named once") {
        TempDir d;
        std::string spool = d.path + "/events.jsonl", out = d.path + "/job.log";
        REQUIRE(write_file(spool,
                           "{\"event\":\"cmd_started\",\"directive\":\"echo hi\"}\n"
                           "{\"event\":\"cmd_output\",\"output\":\"hi\\n\"}"));
        REQUIRE(write_plain_log(spool, out));
        auto text = read_file(out);
        REQUIRE(text);
        CHECK(*text == "echo hi\nhi\n");

        auto st = write_plain_log(d.path + "/gone.jsonl", out);
        REQUIRE_FALSE(st);
        CHECK(st.message() == "cannot read " + d.path + "/gone.jsonl: No such file or directory");
    }
}
