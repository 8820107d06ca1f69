#include <doctest/doctest.h>

#include "common/event.hpp"
#include "daemon/metrics/pull_metrics.hpp"
#include "daemon/metrics/statsd_format.hpp"

#include <string>
#include <vector>

using namespace sa;

namespace {

std::vector<std::string> wire(const std::vector<StatsdMetric>& ms, const std::string& ns = "agent.test") {
    std::vector<std::string> out;
    for (const auto& m : ms) out.push_back(statsd_datagram(ns, m));
    return out;
}

StatsdMetric tagged(std::string name, long long v, StatsdKind k, std::vector<std::string> tags) {
    return StatsdMetric{std::move(name), v, k, true, std::move(tags)};
}

}  // namespace

TEST_SUITE("statsd") {
    TEST_CASE("tag cleaning: every run of characters outside [a-zA-Z0-9-_] becomes one _") {
        CHECK(statsd_clean_tag("registry.io/org/img:1.2") == "registry_io_org_img_1_2");
        CHECK(statsd_clean_tag("semaphoreci/android") == "semaphoreci_android");
        CHECK(statsd_clean_tag("Aa-Zz_09") == "Aa-Zz_09");
        CHECK(statsd_clean_tag("a://b") == "a_b");  // the original's `+`: one _ per run
        CHECK(statsd_clean_tag("/x/") == "_x_");
        CHECK(statsd_clean_tag("img@sha256:ab") == "img_sha256_ab");
        CHECK(statsd_clean_tag("caf\xc3\xa9") == "caf_");  // UTF-8 bytes are one run
        CHECK(statsd_clean_tag("") == "");
    }

    TEST_CASE("tagged names: always three tags, no_tag for missing and empty ones") {
        CHECK(statsd_metric_name("ns", tagged("m.x", 1, StatsdKind::Gauge, {})) == "tagged.ns.no_tag.no_tag.no_tag.m.x");
        CHECK(statsd_metric_name("ns", tagged("m", 1, StatsdKind::Gauge, {"a.b"})) == "tagged.ns.a_b.no_tag.no_tag.m");
        CHECK(statsd_metric_name("ns", tagged("m", 1, StatsdKind::Gauge, {"a", "", "c"})) == "tagged.ns.a.no_tag.c.m");
        CHECK(statsd_metric_name("ns", tagged("m", 1, StatsdKind::Gauge, {"a", "b", "c", "d"})) == "tagged.ns.a.b.c.m");
        CHECK(statsd_metric_name("agent.prod", tagged("m", 1, StatsdKind::Gauge, {"x"})) ==
              "tagged.agent.prod.x.no_tag.no_tag.m");
    }

    TEST_CASE("an empty namespace drops its segment") {
        CHECK(statsd_metric_name("", tagged("m", 1, StatsdKind::Gauge, {"x"})) == "tagged.x.no_tag.no_tag.m");
        CHECK(statsd_metric_name("", StatsdMetric{"jobs.started", 1, StatsdKind::Counter, false, {}}) == "jobs.started");
        CHECK(statsd_metric_name("ns", StatsdMetric{"jobs.started", 1, StatsdKind::Counter, false, {}}) == "ns.jobs.started");
    }

    TEST_CASE("datagrams: |c for counters, |g for gauges, |ms for timings") {
        CHECK(statsd_datagram("ns", StatsdMetric{"jobs.started", 1, StatsdKind::Counter, false, {}}) == "ns.jobs.started:1|c");
        CHECK(statsd_datagram("ns", StatsdMetric{"jobs.duration", 1234, StatsdKind::Timing, false, {}}) ==
              "ns.jobs.duration:1234|ms");
        CHECK(statsd_datagram("ns", tagged("g", 0, StatsdKind::Gauge, {"t"})) == "tagged.ns.t.no_tag.no_tag.g:0|g");
    }
}

TEST_SUITE("statsd") {
    const std::string kImg = "registry.io/org/img:1.2";
    const std::string kPull(kComposePullStep);

    TEST_CASE("pull metrics: a passing pull, an ordinary image") {
        PullMetrics p(kImg);
        CHECK(p.on_event(event_job_started(100), 1000).empty());
        CHECK(p.on_event(event_cmd_started(100, kPull), 1000).empty());
        CHECK(p.on_event(event_cmd_output(101, "pulling\n"), 1500).empty());
        CHECK(wire(p.on_event(event_cmd_finished(103, kPull, 0, 100, 103), 3250)) ==
              std::vector<std::string>{
                  "tagged.agent.test.registry_io_org_img_1_2.no_tag.no_tag.compose_ci.docker_pull.duration:2250|ms",
                  "tagged.agent.test.registry_io_org_img_1_2.no_tag.no_tag.compose_ci.docker_pull.success.rate:1|g"});
        // Nothing more: a later command of the same name is not the pull.
        CHECK(p.on_event(event_cmd_started(104, kPull), 4000).empty());
        CHECK(p.on_event(event_cmd_finished(105, kPull, 1, 104, 105), 5000).empty());
    }

    TEST_CASE("pull metrics: a failing pull of the legacy image adds the original's three") {
        PullMetrics p(std::string("registry.io/semaphoreci/android:30.1"));
        CHECK(wire(p.on_event(event_cmd_started(200, kPull), 10)) ==
              std::vector<std::string>{"tagged.agent.test.semaphoreci_android.no_tag.no_tag.compose.docker.pull.rate:1|g"});
        const std::string t = "tagged.agent.test.registry_io_semaphoreci_android_30_1.no_tag.no_tag.";
        CHECK(wire(p.on_event(event_cmd_finished(207, kPull, 1, 200, 207), 7010)) ==
              std::vector<std::string>{
                  t + "compose_ci.docker_pull.duration:7000|ms",
                  t + "compose_ci.docker_pull.failure.rate:1|g",
                  "tagged.agent.test.semaphoreci_android.no_tag.no_tag.compose.docker.error.rate:1|g",
                  "tagged.agent.test.semaphoreci_android.no_tag.no_tag.compose.docker.pull.duration:7|g"});
    }

    TEST_CASE("pull metrics: a passing pull of the legacy image sends no error.rate") {
        PullMetrics p(std::string("semaphoreci/android:29"));
        CHECK(wire(p.on_event(event_cmd_started(200, kPull), 10), "").size() == 1);
        CHECK(wire(p.on_event(event_cmd_finished(202, kPull, 0, 200, 202), 2010), "") ==
              std::vector<std::string>{
                  "tagged.semaphoreci_android_29.no_tag.no_tag.compose_ci.docker_pull.duration:2000|ms",
                  "tagged.semaphoreci_android_29.no_tag.no_tag.compose_ci.docker_pull.success.rate:1|g",
                  "tagged.semaphoreci_android.no_tag.no_tag.compose.docker.pull.duration:2|g"});
    }

    TEST_CASE("pull metrics: other steps, shell jobs and a job without a pull yield nothing") {
        PullMetrics p(kImg);
        CHECK(p.on_event(event_cmd_started(1, "Setting up image pull credentials"), 0).empty());
        CHECK(p.on_event(event_cmd_finished(2, "Setting up image pull credentials", 0, 1, 2), 0).empty());
        CHECK(p.on_event(event_cmd_finished(2, kPull, 0, 1, 2), 0).empty());  // not started: ignored
        CHECK(p.on_event("{not json", 0).empty());
        JobRequest shell;
        shell.executor = "shell";
        PullMetrics s(shell);
        CHECK(s.on_event(event_cmd_started(1, kPull), 0).empty());
        CHECK(s.on_event(event_cmd_finished(2, kPull, 0, 1, 2), 0).empty());
        JobRequest compose;
        compose.executor = "dockercompose";
        compose.compose.containers.push_back(Container{"main", "a/b:c", "", "", "", {}});
        compose.compose.containers.push_back(Container{"db", "semaphoreci/android", "", "", "", {}});
        PullMetrics c(compose);
        CHECK(c.on_event(event_cmd_started(1, kPull), 0).empty());  // only the main image counts
        CHECK(wire(c.on_event(event_cmd_finished(2, kPull, 0, 1, 2), 5), "ns").at(0) ==
              "tagged.ns.a_b_c.no_tag.no_tag.compose_ci.docker_pull.duration:5|ms");
    }
}
