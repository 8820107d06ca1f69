// The agent's Prometheus metrics: counters kept as things happen, rendered
// on demand in the text exposition format 0.0.4, or OpenMetrics 1.0.0 when
// the scraper asks for it (GET /metrics, `agentctl metrics`).
#pragma once

#include "common/job_result.hpp"
#include "common/job_usage.hpp"

#include <array>
#include <string>

namespace sa {

enum class MetricsFormat { Prometheus, OpenMetrics };

// Content-Type of a rendering.
const char* metrics_content_type(MetricsFormat f);
// OpenMetrics when the Accept header names application/openmetrics-text.
MetricsFormat metrics_format_for_accept(const std::string& accept);

// What the agent is doing right now; read at each scrape.
struct MetricsLive {
    std::string version, name, state;  // state: registering, waiting-for-jobs, ..., shutting-down
    bool draining = false;
    double uptime_seconds = 0;
    long long push_lag_events = 0, push_lag_bytes = 0, push_errors = 0;
};

class AgentMetrics {
public:
    // Upper bounds (seconds) of the job duration histogram.
    static constexpr std::array<double, 12> kDurationBuckets = {10,   30,   60,   120,  300,  600,
                                                                 900,  1800, 2700, 3600, 7200, 14400};
    // Sources of interruptions, each shown even at 0 (alerting rules need
    // the series to exist).
    static constexpr std::array<const char*, 3> kInterruptionSources = {"signal", "spot", "scale-in"};

    void job_finished(JobResult result, double seconds, const JobUsage& usage);
    void sync_done(bool ok, long long unix_now);
    void interruption(const std::string& source);

    std::string render(const MetricsLive& live, MetricsFormat f) const;

private:
    long long jobs_passed_ = 0, jobs_failed_ = 0, jobs_stopped_ = 0;
    std::array<long long, kDurationBuckets.size()> buckets_{};
    long long duration_count_ = 0;
    double duration_sum_ = 0;
    long long syncs_ok_ = 0, syncs_failed_ = 0;
    long long last_sync_ok_unix_ = 0;
    std::array<long long, kInterruptionSources.size()> interruptions_{};
    bool have_last_job_ = false;
    JobUsage last_job_;
    long long oom_kills_total_ = 0;
};

}  // namespace sa
