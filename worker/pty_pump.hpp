// The one loop that moves a PTY's output to the supervisor: reads the
// master, hands the bytes to a reader (the marker scanner of a command, or
// a step's plain output), delivers due chunks, notices a STOP from the
// supervisor and the shell's exit, and batches events while output streams.
#pragma once

#include "worker/chunker.hpp"
#include "worker/pty_shell.hpp"
#include "worker/supervisor_link.hpp"

#include <string_view>

namespace sa {

long long monotonic_ms();

// Where the pump's bytes go.
class PtyReader {
public:
    virtual void bytes(std::string_view raw) = 0;
    // True once the reader has what it waited for (the end marker).
    virtual bool done() const = 0;

protected:
    ~PtyReader() = default;
};

class PtyPump {
public:
    PtyPump(PtyShell& shell, SupervisorLink& link, int sigchld_fd)
        : shell_(shell), link_(link), sigchld_fd_(sigchld_fd) {}

    enum class End {
        Done,       // reader.done()
        ShellGone,  // the shell exited (its last output was read) or the PTY failed
        Stopped,    // the supervisor asked to stop, or went away
    };
    // When a program's output counts as read to its end.
    enum class Until {
        // The shell exited: one last non-blocking drain of the master (a
        // command's output ends at its marker; the shell's end ends it).
        ShellExit,
        // The program exited AND the terminal closed (EOF or EIO on the
        // master): what its children still write to the terminal is read,
        // as the compose image pull always did.
        ExitAndEof,
    };
    // Pumps until one of End. `chunker`, when given, is what the reader
    // pushes into: its due chunks go out on time.
    End run(PtyReader& reader, Chunker* chunker, Until until = Until::ShellExit);
    // Reaps exited children; notices the shell's own exit.
    void reap_children();

private:
    void drain(PtyReader& reader);
    End run_to_eof(PtyReader& reader, Chunker* chunker);

    // A read at least this long means the job prints faster than we drain
    // the PTY (whose line discipline holds 4 KiB): more is about to come.
    static constexpr size_t kBusyRead = 2048;
    // How long queued events may wait for the next busy read (see run()).
    static constexpr int kCoalesceMs = 1;

    PtyShell& shell_;
    SupervisorLink& link_;
    int sigchld_fd_;
};

}  // namespace sa
