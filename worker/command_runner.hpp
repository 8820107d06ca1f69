// Runs one command at a time in the job's shell and streams its output:
// writes the command to a private file, asks bash to source it between two
// markers, and pumps PTY output through the marker scanner and the chunker
// into cmd_output events until the end marker, the shell's death or a stop.
#pragma once

#include "worker/chunker.hpp"
#include "worker/marker.hpp"
#include "worker/pty_pump.hpp"
#include "worker/pty_shell.hpp"
#include "worker/supervisor_link.hpp"

#include <string>
#include <string_view>

namespace sa {

class CommandRunner : private ChunkSink, private PtyReader {
public:
    // Exit code reported when the shell is gone (the original agent's choice).
    static constexpr int kShellGone = 1;

    // cmd_file_mode: 0600 for the shell executor; compose jobs need the file
    // readable by any user in the container (its directory keeps it private).
    CommandRunner(PtyShell& shell, SupervisorLink& link, std::string cmd_file, std::string nonce,
                  int sigchld_fd, unsigned cmd_file_mode = 0600);

    // Waits until bash has read its start-up files and runs our commands.
    // Output of the start-up files is dropped. False when bash died first.
    // `before` is written first (compose: turn the container's echo off);
    // what the shell printed meanwhile goes to startup_output if given.
    bool wait_ready(std::string_view before = {}, std::string* startup_output = nullptr);
    // Runs `text` in the shell, streaming its output as cmd_output events.
    int run(std::string_view text);
    // Most of a captured output kept (its tail); frame.hpp's kMaxAgentText
    // bounds what the worker's own messages may quote.
    static constexpr size_t kMaxCaptured = 64 * 1024;
    // Runs `text` and returns its output instead of streaming it (for the
    // agent's own questions to the shell, e.g. SEMAPHORE_JOB_RESULT).
    int capture(std::string_view text, std::string& output);
    // Emits text as cmd_output events directly (the agent's own messages).
    void say(std::string_view text);

    bool shell_alive() const { return shell_.alive(); }
    bool stopped() const { return link_.stop_requested(); }

private:
    enum class Mode { Stream, Capture };
    int execute(std::string_view text, Mode mode, std::string* captured);
    bool pump(Mode mode, std::string* captured);
    void chunk(std::string_view text) override;
    void bytes(std::string_view raw) override;
    bool done() const override { return scanner_.done(); }

    PtyShell& shell_;
    SupervisorLink& link_;
    std::string cmd_file_;
    MarkerScanner scanner_;
    Chunker chunker_;
    PtyPump pump_;
    unsigned cmd_file_mode_;
    std::string out_;  // scanner output of the current read
    // The current command's: where its output goes.
    Mode mode_ = Mode::Stream;
    std::string* captured_ = nullptr;
};

}  // namespace sa
