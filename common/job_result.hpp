// How a job ended, as the worker reports it, the API hears it (sync's
// job_result), the job log's job_finished says it and the counters count it.
// One spelling of each for every process.
#pragma once

#include <optional>
#include <string_view>

namespace sa {

enum class JobResult { Passed, Failed, Stopped };

// The wire name. A C string so that it fits wherever a result is still
// kept as text (the worker frame's payload, a std::string field).
constexpr const char* job_result_name(JobResult r) {
    switch (r) {
        case JobResult::Passed: return "passed";
        case JobResult::Failed: return "failed";
        case JobResult::Stopped: return "stopped";
    }
    return "failed";
}

// The result a wire name stands for; nothing for any other text.
constexpr std::optional<JobResult> parse_job_result(std::string_view s) {
    if (s == "passed") return JobResult::Passed;
    if (s == "failed") return JobResult::Failed;
    if (s == "stopped") return JobResult::Stopped;
    return std::nullopt;
}

}  // namespace sa
