// Finds where one command's output starts and ends in the PTY stream.
//
// Around each command the shell prints `\x01<nonce>:S` and `\x01<nonce>:E:<code>`
// lines. The nonce is random per job and never written to the terminal as
// such (the printf format holds `\001`, not the byte), so neither the echo of
// the instruction line nor output that merely looks like a marker can match.
#pragma once

#include <string>
#include <string_view>

namespace sa {

class MarkerScanner {
public:
    explicit MarkerScanner(std::string nonce);

    // The shell input line that runs `cmd_file` between the two markers.
    std::string instruction(std::string_view cmd_file) const;
    // The shell input line that just prints an end marker with code 0
    // (used once at start-up to know bash is ready).
    std::string ready_instruction() const;

    // Forget any state: the next bytes belong before a start marker.
    void begin();
    // As begin(), but output counts from the first byte (no start marker
    // expected): used for the ready handshake.
    void begin_without_start();

    // Feeds raw PTY bytes. Command output is appended to `out`. Returns true
    // once the end marker has been seen; exit_code() is then valid and any
    // bytes after the marker line are dropped.
    bool feed(std::string_view raw, std::string& out);
    int exit_code() const { return exit_code_; }
    bool done() const { return state_ == State::Done; }

private:
    enum class State { WaitStart, Output, Done };
    bool scan_wait_start(std::string& out);
    bool scan_output(std::string& out);

    std::string start_;  // "\x01<nonce>:S"
    std::string end_;    // "\x01<nonce>:E:"
    std::string nonce_;
    std::string buf_;    // bytes held because they may be part of a marker
    State state_ = State::WaitStart;
    int exit_code_ = 1;
};

}  // namespace sa
