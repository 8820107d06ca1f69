#include "worker/command_runner.hpp"

#include "common/event.hpp"
#include "common/fs.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace sa {

CommandRunner::CommandRunner(PtyShell& shell, SupervisorLink& link, std::string cmd_file,
                             std::string nonce, int sigchld_fd, unsigned cmd_file_mode)
    : shell_(shell), link_(link), cmd_file_(std::move(cmd_file)), scanner_(std::move(nonce)),
      chunker_(*this), pump_(shell, link, sigchld_fd), cmd_file_mode_(cmd_file_mode) {}

void CommandRunner::chunk(std::string_view text) {
    long long ts = unix_now();
    link_.send_event_in_place([&](std::string& out) { append_event_cmd_output(out, ts, text); });
}

void CommandRunner::say(std::string_view text) {
    if (!text.empty()) chunk(text);
}

static bool write_all_pty(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = ::write(fd, s.data(), s.size());
        if (n > 0) {
            s.remove_prefix(static_cast<size_t>(n));
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, 100);
        } else {
            return false;
        }
    }
    return true;
}

void CommandRunner::bytes(std::string_view raw) {
    out_.clear();
    scanner_.feed(raw, out_);
    if (out_.empty()) return;
    if (mode_ == Mode::Capture) {
        // The agent's questions want a word, or the last lines of a failed
        // start-up: whatever the job prints, only the tail is kept, so a
        // captured value never grows the worker or an event unboundedly.
        captured_->append(out_);
        if (captured_->size() > kMaxCaptured) {
            size_t cut = captured_->size() - kMaxCaptured;
            while (cut < captured_->size() && (static_cast<unsigned char>((*captured_)[cut]) & 0xC0) == 0x80) cut++;
            captured_->erase(0, cut);  // not inside a UTF-8 sequence
        }
    } else {
        chunker_.push(out_, monotonic_ms());
    }
}

// True when the end marker was seen, false when the shell died or a stop
// was requested.
bool CommandRunner::pump(Mode mode, std::string* captured) {
    mode_ = mode;
    captured_ = captured;
    return pump_.run(*this, mode == Mode::Stream ? &chunker_ : nullptr) == PtyPump::End::Done;
}

int CommandRunner::execute(std::string_view text, Mode mode, std::string* captured) {
    if (!shell_.alive() || link_.stop_requested()) return kShellGone;
    // The last command's output and end, and this step's start, go out now,
    // not after the command file and the PTY write: the same one write(2),
    // earlier (issue 20: a job's first output waited for the next step).
    link_.flush();
    // The mode is meant exactly: the service's UMask=0027 would make a 0644
    // command file unreadable to a compose container running as another
    // user. A command's last line may lack a newline; `source` does not mind.
    if (!write_file(cmd_file_, text,
                    {.mode = static_cast<mode_t>(cmd_file_mode_), .mode_use = ModeUse::Exact, .no_follow = true})) {
        say("Failed to write the command file " + cmd_file_ + "\n");
        return kShellGone;
    }
    scanner_.begin();
    if (!write_all_pty(shell_.master(), scanner_.instruction(cmd_file_))) return kShellGone;
    bool done = pump(mode, captured);
    if (mode == Mode::Stream) chunker_.finish();
    return done ? scanner_.exit_code() : kShellGone;
}

int CommandRunner::run(std::string_view text) { return execute(text, Mode::Stream, nullptr); }

int CommandRunner::capture(std::string_view text, std::string& output) {
    return execute(text, Mode::Capture, &output);
}

bool CommandRunner::wait_ready(std::string_view before, std::string* startup_output) {
    // PS1/PS2 empty so prompts add nothing; then a bare end marker tells us
    // the profile scripts are done.
    std::string init = std::string(before) + "export PS1='' PS2='' PROMPT_COMMAND=''; cd ~; " +
                       scanner_.ready_instruction();
    scanner_.begin_without_start();
    if (!write_all_pty(shell_.master(), init)) return false;
    std::string ignored;
    return pump(Mode::Capture, startup_output ? startup_output : &ignored);
}

}  // namespace sa
