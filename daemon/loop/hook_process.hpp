// Runs a hook (e.g. the shutdown hook) as a child process on the loop, with
// extra environment variables, and copies each line it prints into the
// agent log.
#pragma once

#include "common/agent_log.hpp"
#include "common/result.hpp"
#include "daemon/loop/uv_handle.hpp"

#include <functional>
#include <string>
#include <vector>

namespace sa {

class HookProcess {
public:
    HookProcess(uv_loop_t* loop, AgentLog& log) : loop_(loop), log_(log) {}
    HookProcess(const HookProcess&) = delete;
    ~HookProcess();

    // argv[0] is looked up in PATH. done gets the exit status (128+signal
    // when killed) once the process exited and its output is drained.
    Status start(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                 std::function<void(int)> done);

private:
    void maybe_done();
    void take_output(const char* data, size_t n, bool eof);

    uv_loop_t* loop_;
    AgentLog& log_;
    UvHandle<uv_process_t> proc_;
    UvHandle<uv_pipe_t> out_;
    std::function<void(int)> done_;
    std::string partial_;
    char buf_[4096];
    bool exited_ = false, eof_ = false;
    int status_ = 0;
};

}  // namespace sa
