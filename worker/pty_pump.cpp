#include "worker/pty_pump.hpp"

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

void PtyPump::reap_children() {
    // Drain the signalfd so poll() does not spin, then collect every exited
    // child: the shell itself, and orphans of the job handed to us as subreaper.
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

// Reads whatever the master still holds (after the shell died, a last read
// may be pending).
void PtyPump::drain(PtyReader& reader) {
    char buf[65536];
    for (int i = 0; i < 64 && !reader.done(); i++) {
        ssize_t n = ::read(shell_.master(), buf, sizeof buf);
        if (n <= 0) break;
        reader.bytes(std::string_view(buf, static_cast<size_t>(n)));
    }
}

PtyPump::End PtyPump::run(PtyReader& reader, Chunker* chunker, Until until) {
    if (until == Until::ExitAndEof) return run_to_eof(reader, chunker);
    char buf[65536];
    bool busy = false;  // the last read found the PTY's buffer at least half full
    for (;;) {
        if (reader.done()) return End::Done;
        if (link_.stop_requested()) return End::Stopped;
        if (!shell_.alive()) {
            drain(reader);
            return reader.done() ? End::Done : End::ShellGone;
        }
        long long due = chunker ? chunker->due_in(monotonic_ms()) : -1;
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
                reader.bytes(std::string_view(buf, static_cast<size_t>(m)));
                busy = m >= static_cast<ssize_t>(kBusyRead);
                if (chunker) chunker->tick(monotonic_ms());
                continue;
            }
            // Nothing yet (EAGAIN), or the shell hung up: the poll tells.
        }
        int timeout = static_cast<int>(due);
        if (hold) timeout = due >= 0 && due < kCoalesceMs ? static_cast<int>(due) : kCoalesceMs;
        else link_.flush();
        int r = ::poll(fds, 3, timeout);
        if (r < 0 && errno != EINTR) return End::ShellGone;
        if (r == 0 && hold) {  // the stream paused: deliver, then wait for real
            busy = false;
            link_.flush();
        }
        if (fds[1].revents) link_.poll_stop();
        if (fds[2].revents) reap_children();
        ssize_t n = -1;
        if (fds[0].revents & POLLIN) {
            n = ::read(shell_.master(), buf, sizeof buf);
            if (n > 0) reader.bytes(std::string_view(buf, static_cast<size_t>(n)));
            busy = n >= static_cast<ssize_t>(kBusyRead);
        }
        if (n <= 0 && (fds[0].revents & (POLLHUP | POLLERR)) && !(n < 0 && errno == EAGAIN)) {
            // Every holder of the slave is gone: the shell exited. Wait for
            // its SIGCHLD rather than spin on the hung-up master.
            struct pollfd c{sigchld_fd_, POLLIN, 0};
            ::poll(&c, 1, 200);
            reap_children();
        }
        if (chunker) chunker->tick(monotonic_ms());
    }
}

// Until::ExitAndEof: reads the master until nobody holds the terminal, and
// waits for the program's exit too. Without the shell path's batching: a
// compose pull prints a few lines a second.
PtyPump::End PtyPump::run_to_eof(PtyReader& reader, Chunker* chunker) {
    char buf[65536];
    bool open = true;  // the master still gives bytes (no EOF or EIO yet)
    while (open || shell_.alive()) {
        if (reader.done()) return End::Done;
        if (link_.stop_requested()) return End::Stopped;
        struct pollfd fds[3] = {{open ? shell_.master() : -1, POLLIN, 0},
                                {link_.fd(), POLLIN, 0},
                                {sigchld_fd_, POLLIN, 0}};
        link_.flush();
        long long due = chunker ? chunker->due_in(monotonic_ms()) : -1;
        // Terminal closed, program not yet reaped: its SIGCHLD wakes us; the
        // 200 ms cap covers a wake-up lost to an earlier drain.
        if (::poll(fds, 3, open ? static_cast<int>(due) : 200) < 0 && errno != EINTR) return End::ShellGone;
        if (fds[1].revents && link_.poll_stop()) return End::Stopped;
        reap_children();
        if (open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = ::read(shell_.master(), buf, sizeof buf);
            if (n > 0) reader.bytes(std::string_view(buf, static_cast<size_t>(n)));
            else if (n == 0 || errno != EAGAIN) open = false;  // EIO: nobody holds the terminal
        }
        if (chunker) chunker->tick(monotonic_ms());
    }
    return reader.done() ? End::Done : End::ShellGone;
}

}  // namespace sa
