#include <doctest/doctest.h>

#include "daemon/metrics/health.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/metrics/metrics_listener.hpp"
#include "common/unique_fd.hpp"
#include "daemon/loop/timer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>

using namespace sa;

TEST_SUITE("metrics") {
    TEST_CASE("health: the order of reasons, and the sync allowance") {
        HealthInput in;
        in.registered = true;
        in.now_ms = 1000000;
        in.last_sync_ok_ms = in.now_ms - 59000;
        in.sync_interval_ms = 5000;
        CHECK(evaluate_health(in).ok);
        CHECK(evaluate_health(in).reason == "ok");
        in.last_sync_ok_ms = in.now_ms - 61000;  // more than 60 s, more than 3 intervals
        in.sync_failing_since = 1767323045;
        Health h = evaluate_health(in);
        CHECK(!h.ok);
        CHECK(h.reason == "sync failing since 2026-01-02T03:04:05Z (no successful sync for 61 s)");
        in.sync_interval_ms = 30000;  // 3 intervals = 90 s
        CHECK(evaluate_health(in).ok);
        in.give_up_ms = 20000;  // the agent gives up after 20 s: unhealthy after 10
        CHECK(!evaluate_health(in).ok);
        in.last_sync_ok_ms = in.now_ms - 9000;
        CHECK(evaluate_health(in).ok);
        in.draining = true;
        CHECK(evaluate_health(in).reason == "draining");
        in.shutting_down = true;
        CHECK(evaluate_health(in).reason == "shutting down");
        HealthInput fresh;
        CHECK(evaluate_health(fresh).reason == "not registered");
    }

    TEST_CASE("Accept picks the format") {
        CHECK(metrics_format_for_accept("") == MetricsFormat::Prometheus);
        CHECK(metrics_format_for_accept("text/plain;version=0.0.4;q=0.5,*/*;q=0.1") == MetricsFormat::Prometheus);
        CHECK(metrics_format_for_accept("application/openmetrics-text;version=1.0.0;q=0.9,text/plain;q=0.1") ==
              MetricsFormat::OpenMetrics);
    }

    TEST_CASE("rendering: counters, histogram, escaping, both formats") {
        AgentMetrics m;
        JobUsage u;
        u.cpu_user_seconds = 1.5;
        u.cpu_system_seconds = 0.25;
        u.memory_peak_bytes = 1 << 20;
        u.oom_kills = 2;
        u.tasks_peak = 3;
        m.job_finished(JobResult::Passed, 5, {});
        m.job_finished(JobResult::Failed, 100, u);
        m.sync_done(true, 1700000000);
        m.sync_done(false, 1700000001);
        m.interruption("spot");
        MetricsLive live{"1.2.3", "agent \"x\"\\y", "running-job", false, 12.5, 7, 700, 1};
        std::string t = m.render(live, MetricsFormat::Prometheus);
        CHECK(t.find("semaphore_agent_info{version=\"1.2.3\",name=\"agent \\\"x\\\"\\\\y\"} 1\n") != std::string::npos);
        CHECK(t.find("# TYPE semaphore_agent_jobs_total counter\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_jobs_total{result=\"failed\"} 1\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_job_duration_seconds_bucket{le=\"10\"} 1\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_job_duration_seconds_bucket{le=\"120\"} 2\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_job_duration_seconds_bucket{le=\"+Inf\"} 2\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_job_duration_seconds_sum 105\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_state{state=\"running-job\"} 1\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_state{state=\"waiting-for-jobs\"} 0\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_sync_requests_total{outcome=\"error\"} 1\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_last_sync_success_timestamp_seconds 1700000000\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_interruptions_total{source=\"spot\"} 1\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_interruptions_total{source=\"scale-in\"} 0\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_last_job_cpu_seconds{mode=\"user\"} 1.5\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_last_job_oom_kills 2\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_log_push_lag_bytes 700\n") != std::string::npos);
        CHECK(t.find("# EOF") == std::string::npos);
        std::string om = m.render(live, MetricsFormat::OpenMetrics);
        CHECK(om.find("# TYPE semaphore_agent_jobs counter\n") != std::string::npos);
        CHECK(om.find("# TYPE semaphore_agent info\n") != std::string::npos);
        CHECK(om.find("\nsemaphore_agent_info{version=") != std::string::npos);
        CHECK(t.find("# TYPE semaphore_agent_info gauge\n") != std::string::npos);
        CHECK(om.find("semaphore_agent_jobs_total{result=\"passed\"} 1\n") != std::string::npos);
        CHECK(om.size() > 6);
        CHECK(om.compare(om.size() - 6, 6, "# EOF\n") == 0);
    }
}

#include "common/config.hpp"

namespace {
EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars](const std::string& k) -> std::optional<std::string> {
        auto it = vars.find(k);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}
}  // namespace

TEST_SUITE("metrics") {
    TEST_CASE("each job result is counted under its wire name") {
        AgentMetrics m;
        m.job_finished(JobResult::Stopped, 1, {});
        m.job_finished(JobResult::Stopped, 1, {});
        m.job_finished(JobResult::Passed, 1, {});
        MetricsLive live{"1", "a", "waiting-for-jobs", false, 0, 0, 0, 0};
        std::string t = m.render(live, MetricsFormat::Prometheus);
        CHECK(t.find("semaphore_agent_jobs_total{result=\"passed\"} 1\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_jobs_total{result=\"failed\"} 0\n") != std::string::npos);
        CHECK(t.find("semaphore_agent_jobs_total{result=\"stopped\"} 2\n") != std::string::npos);
    }

    TEST_CASE("metrics listener: a connection is freed by its handle's close callback, all in one turn") {
        uv_loop_t loop;
        uv_loop_init(&loop);
        AgentLog log;
        log.set_level(LogLevel::Error);
        // A free loopback port: taken by the kernel, then handed over.
        int port = 0;
        {
            UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            REQUIRE(::bind(probe.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
            socklen_t n = sizeof a;
            REQUIRE(::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&a), &n) == 0);
            port = ntohs(a.sin_port);
        }
        auto connect_client = [port] {
            UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(static_cast<uint16_t>(port));
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
            return c;
        };
        auto run_until = [&loop](const std::function<bool()>& cond) {
            bool late = false;
            Timer deadline(&loop);
            deadline.start(5000, [&late] { late = true; });
            while (!cond() && !late) uv_run(&loop, UV_RUN_ONCE);
            deadline.stop();
            return cond();
        };
        {
            MetricsListenerLimits limits;
            limits.max_connections = 2;
            auto l = std::make_unique<MetricsListener>(
                &loop, log, [](const ServerRequest&) { return MetricsReply{200, "text/plain", "ok\n"}; }, limits);
            REQUIRE(l->listen("127.0.0.1:" + std::to_string(port)));
            UniqueFd a = connect_client(), b = connect_client();
            REQUIRE(run_until([&] { return l->connections() == 2; }));
            // At the limit the longest idle one makes room: still two.
            UniqueFd c = connect_client();
            std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
            REQUIRE(::write(c.get(), req.data(), req.size()) == static_cast<ssize_t>(req.size()));
            char buf[256];
            ssize_t got = 0;
            REQUIRE(run_until([&] {
                ssize_t n = ::recv(c.get(), buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0) got = n;
                return got > 0;
            }));
            CHECK(std::string(buf, static_cast<size_t>(got)).rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
            CHECK(l->connections() == 2);
            // A client that goes is closed and taken out at once.
            c.reset();
            REQUIRE(run_until([&] { return l->connections() == 1; }));
            l.reset();  // one connection still open: closed with the listener
        }
        // Every handle (listener, connections, their timers) is freed by the
        // close callbacks of a single turn, as start and serve end their loop.
        uv_run(&loop, UV_RUN_NOWAIT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("settings: metrics-listen and log-format, by flag and variable, refused when wrong") {
        auto c = load_config({"--metrics-listen", "127.0.0.1:9464", "--log-format", "json"}, env_of({}));
        REQUIRE(c);
        CHECK(c->metrics_listen == "127.0.0.1:9464");
        CHECK(c->log_format == "json");
        c = load_config({}, env_of({{"SEMAPHORE_AGENT_METRICS_LISTEN", "[::1]:9000"},
                                    {"SEMAPHORE_AGENT_LOG_FORMAT", "json"}}));
        REQUIRE(c);
        CHECK(c->metrics_listen == "[::1]:9000");
        CHECK(c->log_format == "json");
        c = load_config({}, env_of({}));
        REQUIRE(c);
        CHECK(c->metrics_listen.empty());
        CHECK(c->log_format == "text");
        for (const char* bad : {"9464", "localhost:9464", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:"}) {
            auto r = load_config({"--metrics-listen", bad}, env_of({}));
            CHECK_MESSAGE(!r, bad);
            if (!r) CHECK(r.message().find("metrics-listen: '") == 0);
        }
        auto r = load_config({"--log-format", "xml"}, env_of({}));
        REQUIRE(!r);
        CHECK(r.message().find("log-format: 'xml' is not one of text, json") == 0);
    }
}
