// StatsD metrics of a docker compose job's pull step (issue 21), derived from
// the events the supervisor already receives: the step's cmd_started and
// cmd_finished, plus the main container's image from the job request. No
// new worker message: the step's directive is fixed (kComposePullStep) and
// the worker flushes each of the two events as it happens, so their arrival
// times bound the step to within the loop's latency.
#pragma once

#include "common/job_request.hpp"
#include "daemon/metrics/statsd_format.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sa {

class PullMetrics {
public:
    // `image`: the first (main) container's image; empty for a job that is
    // not a docker compose job, which then yields nothing.
    explicit PullMetrics(std::string image) : image_(std::move(image)) {}
    // The main container's image of a docker compose job, else "".
    explicit PullMetrics(const JobRequest& job);

    // Feed every event line of the job in order, with a monotonic clock in
    // ms; returns the metrics to send now. The pull step is the first
    // command with kComposePullStep as its directive: it runs before the
    // container starts, so no job command can come before it.
    std::vector<StatsdMetric> on_event(std::string_view line, uint64_t now_ms);

    // Whether the image takes the original agent's legacy metrics.
    static bool legacy_image(std::string_view image);

private:
    enum class State { Waiting, Pulling, Done };
    std::string image_;
    State state_ = State::Waiting;
    uint64_t started_ms_ = 0;
};

}  // namespace sa
