#include "daemon/metrics/metrics.hpp"

#include "common/job_result.hpp"
#include "daemon/selfhosted/sync_protocol.hpp"

#include <cstdio>
#include <cstring>
#include <utility>

namespace sa {

namespace {

std::string label_value(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string num(double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

// Writes families; handles the naming differences between the formats: an
// OpenMetrics counter family is named without `_total` and an info family
// without `_info`, their samples with.
class Writer {
public:
    explicit Writer(MetricsFormat f) : f_(f) {}

    void family(const std::string& name, const char* type, const char* help) {
        std::string fam = name;
        auto ends = [&](const char* suffix) {
            size_t n = std::strlen(suffix);
            return fam.size() > n && fam.compare(fam.size() - n, n, suffix) == 0;
        };
        if (f_ == MetricsFormat::OpenMetrics && std::strcmp(type, "counter") == 0 && ends("_total")) {
            fam.resize(fam.size() - 6);
        } else if (f_ == MetricsFormat::OpenMetrics && ends("_info")) {
            // OpenMetrics has an info type; its sample carries the suffix.
            fam.resize(fam.size() - 5);
            type = "info";
        }
        out_ += "# HELP " + fam + " " + help + "\n";
        out_ += "# TYPE " + fam + " " + type + "\n";
    }
    void sample(const std::string& name, const std::string& labels, double v) {
        out_ += name;
        if (!labels.empty()) out_ += "{" + labels + "}";
        out_ += " " + num(v) + "\n";
    }
    std::string finish() {
        if (f_ == MetricsFormat::OpenMetrics) out_ += "# EOF\n";
        return std::move(out_);
    }

private:
    MetricsFormat f_;
    std::string out_;
};

}  // namespace

const char* metrics_content_type(MetricsFormat f) {
    return f == MetricsFormat::OpenMetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                           : "text/plain; version=0.0.4; charset=utf-8";
}

MetricsFormat metrics_format_for_accept(const std::string& accept) {
    return accept.find("application/openmetrics-text") != std::string::npos ? MetricsFormat::OpenMetrics
                                                                            : MetricsFormat::Prometheus;
}

void AgentMetrics::job_finished(JobResult result, double seconds, const JobUsage& usage) {
    switch (result) {
        case JobResult::Passed: jobs_passed_++; break;
        case JobResult::Failed: jobs_failed_++; break;
        case JobResult::Stopped: jobs_stopped_++; break;
    }
    for (size_t i = 0; i < kDurationBuckets.size(); i++)
        if (seconds <= kDurationBuckets[i]) buckets_[i]++;
    duration_count_++;
    duration_sum_ += seconds;
    have_last_job_ = true;
    last_job_ = usage;
    if (usage.oom_kills > 0) oom_kills_total_ += usage.oom_kills;
}

void AgentMetrics::sync_done(bool ok, long long unix_now) {
    if (ok) {
        syncs_ok_++;
        last_sync_ok_unix_ = unix_now;
    } else {
        syncs_failed_++;
    }
}

void AgentMetrics::interruption(const std::string& source) {
    for (size_t i = 0; i < kInterruptionSources.size(); i++)
        if (source == kInterruptionSources[i]) interruptions_[i]++;
}

std::string AgentMetrics::render(const MetricsLive& live, MetricsFormat f) const {
    Writer w(f);
    w.family("semaphore_agent_info", "gauge", "The agent's version and name; always 1.");
    w.sample("semaphore_agent_info",
             "version=\"" + label_value(live.version) + "\",name=\"" + label_value(live.name) + "\"", 1);
    w.family("semaphore_agent_state", "gauge", "1 for the state the agent is in, 0 for the others.");
    for (const char* s : kStatusStates)
        w.sample("semaphore_agent_state", std::string("state=\"") + s + "\"", live.state == s ? 1 : 0);
    w.family("semaphore_agent_draining", "gauge", "1 while the agent drains (takes no new job).");
    w.sample("semaphore_agent_draining", "", live.draining ? 1 : 0);
    w.family("semaphore_agent_uptime_seconds", "gauge", "Seconds since the agent started.");
    w.sample("semaphore_agent_uptime_seconds", "", live.uptime_seconds);

    w.family("semaphore_agent_jobs_total", "counter", "Jobs run, by result.");
    for (auto [result, count] : {std::pair{JobResult::Passed, jobs_passed_},
                                 std::pair{JobResult::Failed, jobs_failed_},
                                 std::pair{JobResult::Stopped, jobs_stopped_}})
        w.sample("semaphore_agent_jobs_total", std::string("result=\"") + job_result_name(result) + "\"",
                 static_cast<double>(count));
    w.family("semaphore_agent_job_duration_seconds", "histogram", "How long jobs took, from receipt to result.");
    for (size_t i = 0; i < kDurationBuckets.size(); i++)
        w.sample("semaphore_agent_job_duration_seconds_bucket", "le=\"" + num(kDurationBuckets[i]) + "\"",
                 static_cast<double>(buckets_[i]));
    w.sample("semaphore_agent_job_duration_seconds_bucket", "le=\"+Inf\"", static_cast<double>(duration_count_));
    w.sample("semaphore_agent_job_duration_seconds_sum", "", duration_sum_);
    w.sample("semaphore_agent_job_duration_seconds_count", "", static_cast<double>(duration_count_));

    w.family("semaphore_agent_sync_requests_total", "counter", "Sync requests to the API, by outcome.");
    w.sample("semaphore_agent_sync_requests_total", "outcome=\"ok\"", static_cast<double>(syncs_ok_));
    w.sample("semaphore_agent_sync_requests_total", "outcome=\"error\"", static_cast<double>(syncs_failed_));
    w.family("semaphore_agent_last_sync_success_timestamp_seconds", "gauge",
             "Unix time of the last successful sync; 0 before the first.");
    w.sample("semaphore_agent_last_sync_success_timestamp_seconds", "", static_cast<double>(last_sync_ok_unix_));

    w.family("semaphore_agent_log_push_lag_events", "gauge", "Job log events not yet accepted by the API.");
    w.sample("semaphore_agent_log_push_lag_events", "", static_cast<double>(live.push_lag_events));
    w.family("semaphore_agent_log_push_lag_bytes", "gauge", "Job log bytes not yet accepted by the API.");
    w.sample("semaphore_agent_log_push_lag_bytes", "", static_cast<double>(live.push_lag_bytes));
    w.family("semaphore_agent_log_push_errors_total", "counter", "Job log pushes that failed.");
    w.sample("semaphore_agent_log_push_errors_total", "", static_cast<double>(live.push_errors));

    w.family("semaphore_agent_interruptions_total", "counter",
             "Interruptions, by source: signal (SIGTERM/SIGINT), spot, scale-in.");
    for (size_t i = 0; i < kInterruptionSources.size(); i++)
        w.sample("semaphore_agent_interruptions_total", std::string("source=\"") + kInterruptionSources[i] + "\"",
                 static_cast<double>(interruptions_[i]));

    // The last job's figures; absent until a job has run (or unknown here).
    const JobUsage& u = last_job_;
    if (have_last_job_ && u.cpu_user_seconds >= 0) {
        w.family("semaphore_agent_last_job_cpu_seconds", "gauge", "CPU time of the last job, by mode.");
        w.sample("semaphore_agent_last_job_cpu_seconds", "mode=\"user\"", u.cpu_user_seconds);
        w.sample("semaphore_agent_last_job_cpu_seconds", "mode=\"system\"", u.cpu_system_seconds);
    }
    if (have_last_job_ && u.memory_peak_bytes >= 0) {
        w.family("semaphore_agent_last_job_memory_peak_bytes", "gauge", "Peak memory of the last job.");
        w.sample("semaphore_agent_last_job_memory_peak_bytes", "", static_cast<double>(u.memory_peak_bytes));
    }
    if (have_last_job_ && u.oom_kills >= 0) {
        w.family("semaphore_agent_last_job_oom_kills", "gauge", "Processes of the last job the OOM killer killed.");
        w.sample("semaphore_agent_last_job_oom_kills", "", static_cast<double>(u.oom_kills));
    }
    if (have_last_job_ && u.tasks_peak >= 0) {
        w.family("semaphore_agent_last_job_tasks_peak", "gauge", "Most tasks the last job had at once.");
        w.sample("semaphore_agent_last_job_tasks_peak", "", static_cast<double>(u.tasks_peak));
    }
    w.family("semaphore_agent_job_oom_kills_total", "counter", "Job processes the OOM killer killed, all told.");
    w.sample("semaphore_agent_job_oom_kills_total", "", static_cast<double>(oom_kills_total_));
    return w.finish();
}

}  // namespace sa
