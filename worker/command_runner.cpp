#include "worker/command_runner.hpp"

#include "common/event.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace sa {

long long monotonic_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

CommandRunner::CommandRunner(PtyShell& shell, SupervisorLink& link, std::string cmd_file,
                             std::string nonce, int sigchld_fd, unsigned cmd_file_mode)
    : shell_(shell), link_(link), cmd_file_(std::move(cmd_file)), scanner_(std::move(nonce)),
      chunker_(*this), sigchld_fd_(sigchld_fd), cmd_file_mode_(cmd_file_mode) {}

void CommandRunner::chunk(std::string_view text) {
    long long ts = unix_now();
    link_.send_event_in_place([&](std::string& out) { append_event_cmd_output(out, ts, text); });
}

void CommandRunner::say(std::string_view text) {
    if (!text.empty()) chunk(text);
}

void CommandRunner::reap_children() {
    // Drain the signalfd so poll() does not spin, then collect every exited
    // child: bash itself, and orphans of the job handed to us as subreaper.
    struct signalfd_siginfo si;
    while (::read(sigchld_fd_, &si, sizeof si) == sizeof si) {
    }
    for (;;) {
        int status;
        pid_t p = ::waitpid(-1, &status, WNOHANG);
        if (p <= 0) break;
        if (p == shell_.pid()) shell_.mark_exited(status);
    }
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

static bool write_file(const std::string& path, std::string_view text, unsigned mode) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return false;
    // The mode is meant exactly: the service's UMask=0027 would make a 0644
    // command file unreadable to a compose container running as another user.
    bool ok = ::fchmod(fd, mode) == 0;
    while (!text.empty() && ok) {
        ssize_t n = ::write(fd, text.data(), text.size());
        if (n > 0) text.remove_prefix(static_cast<size_t>(n));
        else ok = n < 0 && errno == EINTR;
    }
    // A command's last line may lack a newline; `source` does not mind.
    return ::close(fd) == 0 && ok;
}

void CommandRunner::handle_bytes(const char* data, size_t n, Mode mode, std::string* captured) {
    out_.clear();
    scanner_.feed(std::string_view(data, n), out_);
    if (out_.empty()) return;
    if (mode == Mode::Capture) {
        // The agent's questions want a word, or the last lines of a failed
        // start-up: whatever the job prints, only the tail is kept, so a
        // captured value never grows the worker or an event unboundedly.
        captured->append(out_);
        if (captured->size() > kMaxCaptured) {
            size_t cut = captured->size() - kMaxCaptured;
            while (cut < captured->size() && (static_cast<unsigned char>((*captured)[cut]) & 0xC0) == 0x80) cut++;
            captured->erase(0, cut);  // not inside a UTF-8 sequence
        }
    } else {
        chunker_.push(out_, monotonic_ms());
    }
}

// Reads whatever the master still holds (after the shell died or the end
// marker was seen, a last read may be pending).
void CommandRunner::drain_master(Mode mode, std::string* captured) {
    char buf[65536];
    for (int i = 0; i < 64 && !scanner_.done(); i++) {
        ssize_t n = ::read(shell_.master(), buf, sizeof buf);
        if (n <= 0) break;
        handle_bytes(buf, static_cast<size_t>(n), mode, captured);
    }
}

// Returns true when the end marker was seen, false when the shell died or a
// stop was requested.
bool CommandRunner::pump(Mode mode, std::string* captured) {
    char buf[65536];
    bool busy = false;  // the last read found the PTY's buffer at least half full
    for (;;) {
        if (scanner_.done()) return true;
        if (link_.stop_requested()) return false;
        if (!shell_.alive()) {
            drain_master(mode, captured);
            return scanner_.done();
        }
        long long due = mode == Mode::Stream ? chunker_.due_in(monotonic_ms()) : -1;
        struct pollfd fds[3] = {{shell_.master(), POLLIN, 0},
                                {link_.fd(), POLLIN, 0},
                                {sigchld_fd_, POLLIN, 0}};
        // The PTY hands out at most 4 KiB a read. While the job prints faster
        // than that drains, the next read is a moment away: wait up to
        // kCoalesceMs for it before writing, so a stream costs the supervisor
        // one wake-up, one spool write and one stdout write per 64 KiB
        // instead of per read (issue 20). Events keep their bytes and
        // timestamps; only their delivery waits, by at most kCoalesceMs.
        // Otherwise, what the last read produced goes out before we wait.
        bool hold = busy && link_.queued() > 0;
        if (hold) {
            // Often the next 4 KiB are already there: take them without a poll.
            ssize_t m = ::read(shell_.master(), buf, sizeof buf);
            if (m > 0) {
                handle_bytes(buf, static_cast<size_t>(m), mode, captured);
                busy = m >= static_cast<ssize_t>(kBusyRead);
                if (mode == Mode::Stream) chunker_.tick(monotonic_ms());
                continue;
            }
            // Nothing yet (EAGAIN), or the shell hung up: the poll tells.
        }
        int timeout = static_cast<int>(due);
        if (hold) timeout = due >= 0 && due < kCoalesceMs ? static_cast<int>(due) : kCoalesceMs;
        else link_.flush();
        int r = ::poll(fds, 3, timeout);
        if (r < 0 && errno != EINTR) return false;
        if (r == 0 && hold) {  // the stream paused: deliver, then wait for real
            busy = false;
            link_.flush();
        }
        if (fds[1].revents) link_.poll_stop();
        if (fds[2].revents) reap_children();
        ssize_t n = -1;
        if (fds[0].revents & POLLIN) {
            n = ::read(shell_.master(), buf, sizeof buf);
            if (n > 0) handle_bytes(buf, static_cast<size_t>(n), mode, captured);
            busy = n >= static_cast<ssize_t>(kBusyRead);
        }
        if (n <= 0 && (fds[0].revents & (POLLHUP | POLLERR)) && !(n < 0 && errno == EAGAIN)) {
            // Every holder of the slave is gone: bash exited. Wait for its
            // SIGCHLD rather than spin on the hung-up master.
            struct pollfd c{sigchld_fd_, POLLIN, 0};
            ::poll(&c, 1, 200);
            reap_children();
        }
        if (mode == Mode::Stream) chunker_.tick(monotonic_ms());
    }
}

int CommandRunner::execute(std::string_view text, Mode mode, std::string* captured) {
    if (!shell_.alive() || link_.stop_requested()) return kShellGone;
    // The last command's output and end, and this step's start, go out now,
    // not after the command file and the PTY write: the same one write(2),
    // earlier (issue 20: a job's first output waited for the next step).
    link_.flush();
    if (!write_file(cmd_file_, text, cmd_file_mode_)) {
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
