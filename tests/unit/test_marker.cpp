#include <doctest/doctest.h>

#include "worker/marker.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace sa;

namespace {

const std::string kNonce = "0123abcd";
const std::string kStart = "\x01" + kNonce + ":S\r\n";
std::string end_marker(int code) {
    return "\x01" + kNonce + ":E:" + std::to_string(code) + "\r\n";
}

// What a tty shows: output processing turns `\n` into `\r\n`.
std::string onlcr(std::string_view s) {
    std::string o;
    for (char c : s) {
        if (c == '\n') o += '\r';
        o += c;
    }
    return o;
}

// The PTY stream of one command: the echoed instruction line, the start
// marker, the output, the end marker and a prompt.
std::string pty_stream(const MarkerScanner& m, std::string_view output, int code) {
    return onlcr(m.instruction("/tmp/job/cmd")) + kStart + std::string(output) + end_marker(code) +
           "user@host:~$ ";
}

// Feeds the stream in pieces of `step` bytes; returns (done, output).
std::pair<bool, std::string> feed_all(MarkerScanner& m, const std::string& s, size_t step) {
    std::string out;
    bool done = false;
    for (size_t i = 0; i < s.size(); i += step) done = m.feed(s.substr(i, step), out);
    return {done, out};
}

// Feeds s split at the two positions a <= b.
std::pair<bool, std::string> feed_split(MarkerScanner& m, const std::string& s, size_t a, size_t b) {
    std::string out;
    bool done = false;
    done = m.feed(s.substr(0, a), out) || done;
    done = m.feed(s.substr(a, b - a), out) || done;
    done = m.feed(s.substr(b), out) || done;
    return {done, out};
}

}  // namespace

TEST_SUITE("marker") {
    TEST_CASE("echoed instruction line and prompt are dropped, output kept") {
        MarkerScanner m(kNonce);
        m.begin();
        std::string stream = pty_stream(m, "hello\r\n", 0);
        auto [done, out] = feed_all(m, stream, stream.size());
        CHECK(done);
        CHECK(m.done());
        CHECK(out == "hello\r\n");
        CHECK(m.exit_code() == 0);
    }

    TEST_CASE("nothing is output before the start marker") {
        MarkerScanner m(kNonce);
        m.begin();
        std::string out;
        CHECK_FALSE(m.feed("prompt$ " + std::string(100, 'z'), out));
        CHECK_FALSE(m.feed(onlcr(m.instruction("/x")), out));
        // Looks like a start marker but with another nonce, or without 0x01.
        CHECK_FALSE(m.feed("\x01" "ffffffff:S\r\n" + kNonce + ":S\r\n", out));
        CHECK_FALSE(m.feed("\x01" + kNonce + ":E:0\r\n", out));  // an end before the start
        CHECK(out.empty());
        CHECK_FALSE(m.done());
        CHECK(m.feed(kStart + "x" + end_marker(3), out));
        CHECK(out == "x");
        CHECK(m.exit_code() == 3);
    }

    TEST_CASE("start marker without its newline yet is held") {
        MarkerScanner m(kNonce);
        m.begin();
        std::string out;
        CHECK_FALSE(m.feed("\x01" + kNonce + ":S", out));
        CHECK_FALSE(m.feed("\r", out));
        CHECK_FALSE(m.feed("\nout", out));
        CHECK(out == "out");
    }

    TEST_CASE("output between markers passes through exactly") {
        const std::vector<std::string> outputs = {
            "",
            "plain\r\n",
            "\x01",
            "\x01\x01\x01",
            "a\x01" "b",
            "\x01" "abc:E:0\r\n",                          // looks like a marker, wrong nonce
            "\x01" "ffffffff:E:0\r\n",                     // wrong nonce of the right length
            "\x01" + kNonce + ":E:x\r\n",                  // right nonce, non-digit after :E:
            "\x01" + kNonce + ":E:\r\n",                   // right nonce, no digits
            "\x01" + kNonce + ":E:12a\r\n",                // digits then a non-digit
            "\x01" + kNonce + ":E:12345\r\n",              // too many digits
            "\x01" + kNonce + ":S\r\n",                    // a second start marker is output
            "\x01" + kNonce.substr(0, 4) + "\r\n",         // a prefix of the marker
            "\x01" + kNonce + ":E",                        // a prefix, then the real end
            std::string("nul\0byte", 8),
            "\xff\xfe binary \x1b[31mred\x1b[0m\r",
            "progress 10%\rprogress 20%\r",
            "no newline at the end",
        };
        for (const auto& o : outputs) {
            CAPTURE(o);
            for (size_t step : {size_t(1), size_t(2), size_t(3), size_t(7), size_t(100000)}) {
                MarkerScanner m(kNonce);
                m.begin();
                auto [done, out] = feed_all(m, pty_stream(m, o, 5), step);
                CHECK(done);
                CHECK(out == o);
                CHECK(m.exit_code() == 5);
            }
        }
    }

    TEST_CASE("exit codes") {
        for (int code : {0, 1, 2, 127, 130, 255}) {
            CAPTURE(code);
            MarkerScanner m(kNonce);
            m.begin();
            auto [done, out] = feed_all(m, pty_stream(m, "x\r\n", code), 1000);
            CHECK(done);
            CHECK(out == "x\r\n");
            CHECK(m.exit_code() == code);
        }
    }

    TEST_CASE("end marker followed by a bare LF (no tty) also counts") {
        MarkerScanner m(kNonce);
        m.begin();
        std::string out;
        CHECK(m.feed("\x01" + kNonce + ":S\nabc\n\x01" + kNonce + ":E:130\n", out));
        CHECK(out == "abc\n");
        CHECK(m.exit_code() == 130);
    }

    TEST_CASE("markers split at every byte position give the same result") {
        MarkerScanner proto(kNonce);
        const std::string output =
            "a\x01" "b\x01" + kNonce + ":E:x\r\n\x01" "ffff:E:0\r\nno newline";
        const std::string stream = pty_stream(proto, output, 42);
        // Every single split point and every step size.
        for (size_t step = 1; step <= stream.size(); step++) {
            CAPTURE(step);
            MarkerScanner m(kNonce);
            m.begin();
            auto [done, out] = feed_all(m, stream, step);
            CHECK(done);
            CHECK(out == output);
            CHECK(m.exit_code() == 42);
        }
        // Every pair of split points in the region of the markers.
        const size_t s0 = stream.find(kStart) - 2, s1 = stream.find(kStart) + kStart.size() + 2;
        const size_t e0 = stream.rfind('\x01') - 2, e1 = stream.size();
        for (size_t a = 0; a <= stream.size(); a++)
            for (size_t b = a; b <= stream.size(); b++) {
                bool near = (a >= s0 && a <= s1) || (a >= e0 && a <= e1);
                if (!near && a != 0) continue;
                MarkerScanner m(kNonce);
                m.begin();
                auto [done, out] = feed_split(m, stream, a, b);
                CHECK(done);
                CHECK(out == output);
                CHECK(m.exit_code() == 42);
            }
    }

    TEST_CASE("output without trailing newline directly followed by the end marker") {
        for (size_t split = 0; split <= 40; split++) {
            MarkerScanner m(kNonce);
            m.begin();
            std::string s = kStart + "partial" + end_marker(1) + "$ ";
            auto [done, out] = feed_split(m, s, std::min(split, s.size()), s.size());
            CHECK(done);
            CHECK(out == "partial");
            CHECK(m.exit_code() == 1);
        }
    }

    TEST_CASE("feed() returns false until the end marker line is complete") {
        MarkerScanner m(kNonce);
        m.begin();
        std::string out;
        CHECK_FALSE(m.feed(kStart + "out", out));
        CHECK_FALSE(m.feed("\x01" + kNonce + ":E:12", out));
        CHECK_FALSE(m.done());
        CHECK(m.feed("7\r\n", out));
        CHECK(m.done());
        CHECK(out == "out");
        CHECK(m.exit_code() == 127);
    }

    TEST_CASE("bytes after the end marker (a prompt) are dropped") {
        MarkerScanner m(kNonce);
        m.begin();
        std::string out;
        CHECK(m.feed(kStart + "out" + end_marker(0) + "user@host$ ", out));
        CHECK(out == "out");
        // Once done, further feeds keep returning true and add nothing.
        CHECK(m.feed("more prompt\r\n", out));
        CHECK(m.feed(end_marker(9), out));
        CHECK(out == "out");
        CHECK(m.exit_code() == 0);
    }

    TEST_CASE("begin() resets for the next command") {
        MarkerScanner m(kNonce);
        m.begin();
        std::string out;
        CHECK(m.feed(kStart + "one" + end_marker(1), out));
        CHECK(out == "one");
        CHECK(m.exit_code() == 1);

        m.begin();
        CHECK_FALSE(m.done());
        out.clear();
        CHECK_FALSE(m.feed("$ ", out));  // the rest of the prompt: not output
        CHECK(m.feed(pty_stream(m, "two\r\n", 2), out));
        CHECK(out == "two\r\n");
        CHECK(m.exit_code() == 2);

        // begin() in the middle of a command drops any held partial marker.
        m.begin();
        out.clear();
        CHECK_FALSE(m.feed(kStart + "three\x01" + kNonce.substr(0, 3), out));
        CHECK(out == "three");
        m.begin();
        out.clear();
        CHECK(m.feed(kStart + "four" + end_marker(4), out));
        CHECK(out == "four");
        CHECK(m.exit_code() == 4);
    }

    TEST_CASE("begin_without_start() counts output from the first byte") {
        MarkerScanner m(kNonce);
        m.begin_without_start();
        std::string out;
        // Ready handshake: whatever the shell prints before it is ready, then the marker.
        std::string stream = "bash: some profile noise\r\n" +
                             onlcr(m.ready_instruction()) + end_marker(0) + "$ ";
        CHECK(m.feed(stream, out));
        CHECK(m.exit_code() == 0);
        CHECK(out == "bash: some profile noise\r\n" + onlcr(m.ready_instruction()));
        CHECK(out.find('\x01') == std::string::npos);

        // A start marker is plain output in this mode.
        m.begin_without_start();
        out.clear();
        CHECK(m.feed(kStart + "x" + end_marker(0), out));
        CHECK(out == kStart + "x");

        // And begin() afterwards goes back to waiting for the start marker.
        m.begin();
        out.clear();
        CHECK_FALSE(m.feed("dropped", out));
        CHECK(out.empty());
    }

    TEST_CASE("instruction() and ready_instruction() text") {
        MarkerScanner m(kNonce);
        std::string ins = m.instruction("/job/dir/command");
        CHECK(ins.find('\x01') == std::string::npos);
        CHECK(ins.find(kNonce) != std::string::npos);
        CHECK(ins.find(kNonce + ":S") != std::string::npos);
        CHECK(ins.find(kNonce + ":E:") != std::string::npos);
        CHECK(ins.find("/job/dir/command") != std::string::npos);
        CHECK(ins.back() == '\n');
        CHECK(ins.find('\n') == ins.size() - 1);  // exactly one line
        // The echo of the instruction must not contain a marker.
        CHECK(ins.find(kStart.substr(0, kStart.size() - 2)) == std::string::npos);

        std::string ready = m.ready_instruction();
        CHECK(ready.find('\x01') == std::string::npos);
        CHECK(ready.find(kNonce) != std::string::npos);
        CHECK(ready.back() == '\n');
        CHECK(ready.find('\n') == ready.size() - 1);
    }
}

// ---------------------------------------------------------------------------
// End to end: a real bash (no PTY) reading instruction() lines on a pipe.

namespace {

struct Bash {
    pid_t pid = -1;
    int in = -1;   // we write the shell's input here
    int out = -1;  // stdout and stderr of the shell

    Bash() {
        int pin[2], pout[2];
        REQUIRE(pipe(pin) == 0);
        REQUIRE(pipe(pout) == 0);
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            dup2(pin[0], 0);
            dup2(pout[1], 1);
            dup2(pout[1], 2);
            close(pin[0]);
            close(pin[1]);
            close(pout[0]);
            close(pout[1]);
            execlp("bash", "bash", "--noprofile", "--norc", static_cast<char*>(nullptr));
            _exit(127);
        }
        close(pin[0]);
        close(pout[1]);
        in = pin[1];
        out = pout[0];
        signal(SIGPIPE, SIG_IGN);
    }
    ~Bash() {
        if (in >= 0) close(in);
        if (out >= 0) close(out);
        if (pid > 0) {
            kill(pid, SIGKILL);
            int st;
            waitpid(pid, &st, 0);
        }
    }
    void write_all(const std::string& s) {
        size_t off = 0;
        while (off < s.size()) {
            ssize_t w = ::write(in, s.data() + off, s.size() - off);
            REQUIRE(w > 0);
            off += static_cast<size_t>(w);
        }
    }
    // Feeds the shell's output to m, a few bytes at a time, until the end
    // marker; returns false on timeout or EOF.
    bool run(MarkerScanner& m, std::string& output, size_t max_read = 3) {
        for (;;) {
            pollfd p{out, POLLIN, 0};
            int r = poll(&p, 1, 10000);
            if (r <= 0) return false;
            char buf[4096];
            ssize_t n = ::read(out, buf, std::min(max_read, sizeof buf));
            if (n <= 0) return false;
            if (m.feed(std::string_view(buf, static_cast<size_t>(n)), output)) return true;
        }
    }
};

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "sa-marker-XXXXXX").string();
        REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text) {
        auto p = path / name;
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }
};

}  // namespace

TEST_SUITE("marker") {
    TEST_CASE("end to end with bash --noprofile --norc") {
        if (system("command -v bash >/dev/null 2>&1") != 0) {
            MESSAGE("bash not found; skipped");
            return;
        }
        const std::string nonce = "a1b2c3d4e5f60718";
        TempDir dir;
        Bash bash;
        MarkerScanner m(nonce);

        // Ready handshake.
        m.begin_without_start();
        bash.write_all(m.ready_instruction());
        std::string out;
        REQUIRE(bash.run(m, out));
        CHECK(out.empty());
        CHECK(m.exit_code() == 0);

        struct Case {
            std::string name, script, output;
            int code;
        };
        const std::vector<Case> cases = {
            {"echo", "echo hi\n", "hi\n", 0},
            {"false", "false\n", "", 1},
            {"return", "echo before\nreturn 130\necho after\n", "before\n", 130},
            {"exit255", "(exit 255)\n", "", 255},
            {"notfound", "sa_no_such_command_xyz 2>/dev/null\n", "", 127},
            {"nonl", "printf 'no newline'\n", "no newline", 0},
            {"ctrl-a",
             "printf '\\001abc:E:0\\n\\001" + nonce + ":E:x\\n\\001" + nonce +
                 ":S\\n\\001\\001 end'\n",
             "\x01" "abc:E:0\n\x01" + nonce + ":E:x\n\x01" + nonce + ":S\n\x01\x01 end", 0},
            {"stderr", "echo out; echo err >&2; exit_code=3; (exit $exit_code)\n",
             "out\nerr\n", 3},
            {"state", "X=kept\n", "", 0},
            {"state2", "echo \"$X\"\n", "kept\n", 0},
            {"big", "head -c 100000 /dev/zero | tr '\\0' 'y'; echo\n",
             std::string(100000, 'y') + "\n", 0},
            {"printf alias", "alias printf='echo broken'\nprintf() { echo broken; }\nsource() { :; }\n",
             "", 0},
            {"after alias", "echo still works\n", "still works\n", 0},
        };
        for (const auto& c : cases) {
            CAPTURE(c.name);
            std::string file = dir.write(c.name, c.script);
            m.begin();
            bash.write_all(m.instruction(file));
            out.clear();
            REQUIRE(bash.run(m, out, c.name == "big" ? 4096 : 3));
            CHECK(out == c.output);
            CHECK(m.exit_code() == c.code);
        }
    }
}
