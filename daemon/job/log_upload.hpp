// `upload-job-logs`: at the end of a job, the event log is turned into plain
// text (each step's directive on a line, then its output) and pushed as a
// job artifact with Semaphore's `artifact` CLI (protocol.md section 6).
#pragma once

#include "common/agent_log.hpp"
#include "daemon/loop/hook_process.hpp"
#include "common/job_request.hpp"
#include "common/result.hpp"

#include <functional>
#include <memory>
#include <string>

namespace sa {

// Streams the spool into a plain-text log; never holds more than one line.
Status write_plain_log(const std::string& spool_path, const std::string& out_path);

// The original agent's job log size limit when a job sets none
// (logger.max_size_in_bytes 0). In serve mode a longer log counts as trimmed
// for `when-trimmed`, as the original's trimmed hosted log would be.
inline constexpr long long kDefaultMaxLogBytes = 16LL << 20;

// Whether the configured policy asks for an upload of this job's log.
bool should_upload_logs(const std::string& policy, bool trimmed, long long spool_bytes,
                        long long max_size_in_bytes);

class LogUpload {
public:
    LogUpload(uv_loop_t* loop, AgentLog& log) : loop_(loop), log_(log) {}
    // Converts, gzips above compression_size, runs `artifact push job`. A
    // missing token or CLI is logged, never fatal; done runs in every case.
    void start(const std::string& spool_path, const std::string& job_dir, const JobRequest& job,
               long long compression_size, std::function<void()> done);

private:
    uv_loop_t* loop_;
    AgentLog& log_;
    std::unique_ptr<HookProcess> proc_;
};

}  // namespace sa
