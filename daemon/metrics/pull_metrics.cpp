#include "daemon/metrics/pull_metrics.hpp"

#include "common/event.hpp"
#include "common/json.hpp"

namespace sa {

namespace {

// The original agent (as released) sent its three pull metrics only for
// this image, tagged with it; dashboards are built on exactly those.
constexpr std::string_view kLegacyImage = "semaphoreci/android";

StatsdMetric tagged(std::string name, long long value, StatsdKind kind, std::string tag) {
    return StatsdMetric{std::move(name), value, kind, true, {std::move(tag)}};
}

}  // namespace

PullMetrics::PullMetrics(const JobRequest& job)
    : image_(job.executor == "dockercompose" && !job.compose.containers.empty() ? job.compose.containers[0].image
                                                                                 : "") {}

bool PullMetrics::legacy_image(std::string_view image) { return image.find(kLegacyImage) != std::string_view::npos; }

std::vector<StatsdMetric> PullMetrics::on_event(std::string_view line, uint64_t now_ms) {
    std::vector<StatsdMetric> out;
    if (image_.empty() || state_ == State::Done) return out;
    std::string_view kind = event_kind(line);
    bool start = kind == "cmd_started" && state_ == State::Waiting;
    bool finish = kind == "cmd_finished" && state_ == State::Pulling;
    if (!start && !finish) return out;
    json_error_t e;
    JsonPtr j(json_loadb(line.data(), line.size(), 0, &e));
    const char* d = j ? json_string_value(json_object_get(j.get(), "directive")) : nullptr;
    if (!d || kComposePullStep != d) return out;
    bool legacy = legacy_image(image_);
    if (start) {
        state_ = State::Pulling;
        started_ms_ = now_ms;
        // The original sent this one as the pull began.
        if (legacy) out.push_back(tagged("compose.docker.pull.rate", 1, StatsdKind::Gauge, std::string(kLegacyImage)));
        return out;
    }
    state_ = State::Done;
    bool ok = json_integer_value(json_object_get(j.get(), "exit_code")) == 0;
    long long ms = now_ms >= started_ms_ ? static_cast<long long>(now_ms - started_ms_) : 0;
    out.push_back(tagged("compose_ci.docker_pull.duration", ms, StatsdKind::Timing, image_));
    out.push_back(tagged(ok ? "compose_ci.docker_pull.success.rate" : "compose_ci.docker_pull.failure.rate", 1,
                         StatsdKind::Gauge, image_));
    if (legacy) {
        if (!ok)
            out.push_back(tagged("compose.docker.error.rate", 1, StatsdKind::Gauge, std::string(kLegacyImage)));
        // Whole seconds from the event's own Unix timestamps, and a gauge,
        // as the original submitted it.
        long long secs = json_integer_value(json_object_get(j.get(), "finished_at")) -
                         json_integer_value(json_object_get(j.get(), "started_at"));
        out.push_back(tagged("compose.docker.pull.duration", secs, StatsdKind::Gauge, std::string(kLegacyImage)));
    }
    return out;
}

}  // namespace sa
