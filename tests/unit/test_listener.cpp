// The self-hosted agent's state machine (protocol.md section 2), driven
// through a fake API and fake job runs on a private libuv loop: no network,
// no worker process. Retry intervals are shortened; attempt counts are the
// protocol's.
#include <doctest/doctest.h>

#include "common/agent_log.hpp"
#include "common/config.hpp"
#include "common/job_result.hpp"
#include "common/worker_protocol.hpp"
#include "daemon/loop/notifier.hpp"
#include "daemon/loop/timer.hpp"
#include "daemon/selfhosted/api_client.hpp"
#include "daemon/selfhosted/control_commands.hpp"
#include "daemon/selfhosted/job_run.hpp"
#include "daemon/selfhosted/listener.hpp"
#include "daemon/selfhosted/sync_protocol.hpp"

#include <uv.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace sa;

namespace {

using Phase = Listener::Phase;

SyncResponse answer(const char* action, std::string job_id = "", std::string reason = "") {
    SyncResponse s;
    s.action = parse_sync_action(action).value_or(SyncAction::Unknown);
    s.action_text = action;
    s.job_id = std::move(job_id);
    s.shutdown_reason = std::move(reason);
    s.next_sync_after = 5;  // ms: keeps the tests quick
    return s;
}

// Answers every call from the loop, a turn later, as HTTP would; what it
// answers is computed at that moment from the test's current rule.
class FakeApi final : public ApiClient {
public:
    explicit FakeApi(uv_loop_t* loop) : timer_(loop) {}

    std::function<Result<RegisterResponse>()> on_register = [] {
        return Result<RegisterResponse>(RegisterResponse{"api-name", "access"});
    };
    std::function<Result<SyncResponse>(const SyncRequest&)> on_sync = [](const SyncRequest&) {
        return Result<SyncResponse>(answer("continue"));
    };
    std::function<Result<std::string>(const std::string&)> on_get_job = [](const std::string& id) {
        return Result<std::string>(R"({"job_id": ")" + id + R"(", "commands": [{"directive": "true"}]})");
    };
    std::function<Status()> on_disconnect = [] { return Status(Ok{}); };
    // Holds get-job answers back while set (the job stays in starting-job).
    bool hold_get_job = false;

    std::vector<RegisterRequest> registers;
    std::vector<SyncRequest> syncs;
    std::vector<std::string> get_jobs;
    int disconnects = 0;

    void register_agent(const RegisterRequest& r, std::function<void(Result<RegisterResponse>)> cb) override {
        registers.push_back(r);
        later([this, cb = std::move(cb)] { cb(on_register()); });
    }
    void sync(const SyncRequest& r, std::function<void(Result<SyncResponse>)> cb) override {
        syncs.push_back(r);
        later([this, r, cb = std::move(cb)] { cb(on_sync(r)); });
    }
    void get_job(const std::string& id, std::function<void(Result<std::string>)> cb) override {
        get_jobs.push_back(id);
        held_.push_back([this, id, cb = std::move(cb)] { cb(on_get_job(id)); });
        if (!hold_get_job) release_get_jobs();
    }
    void refresh(std::function<void(Result<std::string>)> cb) override {
        later([cb = std::move(cb)] { cb(std::string("log-token")); });
    }
    void disconnect(std::function<void(Status)> cb) override {
        disconnects++;
        later([this, cb = std::move(cb)] { cb(on_disconnect()); });
    }

    void release_get_jobs() {
        while (!held_.empty()) {
            later(std::move(held_.front()));
            held_.pop_front();
        }
    }
    bool get_job_held() const { return !held_.empty(); }
    // The states of the syncs so far, in order.
    std::vector<AgentState> states() const {
        std::vector<AgentState> v;
        for (const auto& s : syncs) v.push_back(s.state);
        return v;
    }
    bool synced(AgentState st) const {
        for (const auto& s : syncs)
            if (s.state == st) return true;
        return false;
    }

private:
    void later(std::function<void()> fn) {
        pending_.push_back(std::move(fn));
        if (!timer_.active()) timer_.start(0, [this] { deliver(); });
    }
    void deliver() {
        auto batch = std::move(pending_);
        pending_.clear();
        for (auto& fn : batch) fn();
    }

    Timer timer_;
    std::vector<std::function<void()>> pending_;
    std::deque<std::function<void()>> held_;
};

// The runs the Listener starts. A run ends when the test says so, or a
// loop turn after it is asked to stop (as a worker would).
struct FakeRuns {
    struct Run final : public JobRun {
        Run(FakeRuns& o, uv_loop_t* loop) : owner(o), timer(loop) {}
        ~Run() override {
            if (owner.current == this) owner.current = nullptr;
        }
        Status start(WorkerRequest req, JobRunner::EventFn, JobRunner::FinishedFn fin) override {
            owner.started++;
            owner.last_job_json = worker_protocol::encode(req.job);
            done = std::move(fin);
            live = true;
            return Ok{};
        }
        void stop() override {
            stops++;
            if (live && owner.end_on_stop) timer.start(0, [this] { end(job_result_name(JobResult::Stopped)); });
        }
        bool running() const override { return live; }
        const Spool* spool() const override { return nullptr; }
        const std::string& cgroup_problem() const override { return none; }
        JobUsage usage() const override { return {}; }
        void end(const std::string& result) {
            if (!live) return;
            live = false;
            done(parse_job_result(result).value_or(JobResult::Failed));
        }

        FakeRuns& owner;
        Timer timer;
        JobRunner::FinishedFn done;
        bool live = false;
        int stops = 0;
        std::string none;
    };

    JobRunFactory factory(uv_loop_t* loop) {
        return [this, loop] {
            auto r = std::make_unique<Run>(*this, loop);
            current = r.get();
            return r;
        };
    }

    Run* current = nullptr;
    int started = 0;
    bool end_on_stop = true;
    std::string last_job_json;
};

// One Listener on its own loop, with its own TMPDIR for job directories.
struct Harness {
    uv_loop_t loop{};
    AgentLog log;
    Config cfg;
    FakeRuns runs;
    FakeApi* api = nullptr;
    std::unique_ptr<Notifier> notifier;
    std::unique_ptr<Listener> listener;
    std::string tmp;
    std::string old_tmpdir;

    Harness() {
        uv_loop_init(&loop);
        log.set_level(LogLevel::Fatal);  // the tests read state, not log lines
        cfg.endpoint = "127.0.0.1:1";
        cfg.token = "registration-token";
        cfg.name = "agent-under-test";
        cfg.ec2_lifecycle_watch = "false";
        char tmpl[] = "/tmp/sa-listener-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        tmp = tmpl;
        if (const char* t = std::getenv("TMPDIR")) old_tmpdir = t;
        setenv("TMPDIR", tmp.c_str(), 1);
        notifier = std::make_unique<Notifier>(&loop);
        auto fake = std::make_unique<FakeApi>(&loop);
        api = fake.get();
        parts.api = std::move(fake);
        parts.new_job_run = runs.factory(&loop);
        parts.timings.register_retry.interval_ms = 1;
        parts.timings.get_job_retry.interval_ms = 1;
        parts.timings.disconnect_retry.interval_ms = 1;
        parts.timings.sync_min_ms = 5;
        parts.timings.sync_max_ms = 10;
    }
    ~Harness() {
        listener.reset();
        notifier.reset();
        parts = {};
        uv_run(&loop, UV_RUN_DEFAULT);  // the handles' close callbacks
        // The Listener's uv_stop() at its exit, when it came from a call made
        // outside uv_run (drain() while registering), makes that first run
        // return at once, before any close callback: run once more.
        if (uv_loop_close(&loop) == UV_EBUSY) {
            uv_run(&loop, UV_RUN_DEFAULT);
            CHECK(uv_loop_close(&loop) == 0);
        }
        if (old_tmpdir.empty()) unsetenv("TMPDIR");
        else setenv("TMPDIR", old_tmpdir.c_str(), 1);
        std::error_code ec;
        std::filesystem::remove_all(tmp, ec);
    }

    // Builds and starts the Listener; settings go into cfg before.
    void start() {
        listener = std::make_unique<Listener>(&loop, log, cfg, "/nonexistent/worker", SandboxSettings{},
                                              *notifier, std::move(parts));
        listener->start();
    }

    // Runs the loop until `cond` holds or `ms` pass; false on the deadline.
    bool run_until(const std::function<bool()>& cond, uint64_t ms = 5000) {
        bool late = false;
        Timer deadline(&loop);
        deadline.start(ms, [&late] { late = true; });
        while (!cond() && !late) uv_run(&loop, UV_RUN_ONCE);
        deadline.stop();
        return cond();
    }
    bool run_until_exit(uint64_t ms = 5000) {
        return run_until([this] { return listener->finished(); }, ms);
    }
    // The agent has sent a sync in this state.
    bool run_until_synced(AgentState st, uint64_t ms = 5000) {
        return run_until([this, st] { return api->synced(st); }, ms);
    }
    // A job "j1" handed out at the first idle sync, and running.
    void run_a_job() {
        api->on_sync = [](const SyncRequest& r) {
            return Result<SyncResponse>(r.state == AgentState::WaitingForJobs ? answer("run-job", "j1")
                                                                                : answer("continue"));
        };
        start();
        REQUIRE(run_until_synced(AgentState::RunningJob));
        REQUIRE(runs.current != nullptr);
        api->on_sync = [](const SyncRequest&) { return Result<SyncResponse>(answer("continue")); };
    }
    const SyncRequest& last_sync() const { return api->syncs.back(); }

    ListenerParts parts;
};

// The first sync of each state that was sent, in order, without repeats.
std::vector<AgentState> distinct(const std::vector<AgentState>& v) {
    std::vector<AgentState> out;
    for (auto s : v)
        if (out.empty() || out.back() != s) out.push_back(s);
    return out;
}

void check_clean_exit(Harness& h, ShutdownReason why) {
    REQUIRE(h.run_until_exit());
    CHECK(h.listener->phase() == Phase::Exited);
    CHECK(h.listener->shutdown_reason() == why);
    CHECK(h.api->disconnects == 1);
    CHECK(h.listener->exit_code() == 0);
}

}  // namespace

TEST_SUITE("listener") {
    TEST_CASE("the wire names of the sync loop") {
        CHECK(std::string(agent_state_name(AgentState::WaitingForJobs)) == "waiting-for-jobs");
        CHECK(std::string(agent_state_name(AgentState::StartingJob)) == "starting-job");
        CHECK(std::string(agent_state_name(AgentState::RunningJob)) == "running-job");
        CHECK(std::string(agent_state_name(AgentState::StoppingJob)) == "stopping-job");
        CHECK(std::string(agent_state_name(AgentState::FinishedJob)) == "finished-job");
        CHECK(parse_sync_action("continue") == SyncAction::Continue);
        CHECK(parse_sync_action("run-job") == SyncAction::RunJob);
        CHECK(parse_sync_action("stop-job") == SyncAction::StopJob);
        CHECK(parse_sync_action("shutdown") == SyncAction::Shutdown);
        CHECK(parse_sync_action("wait-for-jobs") == SyncAction::WaitForJobs);
        CHECK_FALSE(parse_sync_action("Continue").has_value());
        CHECK_FALSE(parse_sync_action("").has_value());
        CHECK(parse_shutdown_reason("idle") == ShutdownReason::Idle);
        CHECK(parse_shutdown_reason("job-finished") == ShutdownReason::JobFinished);
        CHECK(parse_shutdown_reason("requested") == ShutdownReason::Requested);
        CHECK(parse_shutdown_reason("interrupted") == ShutdownReason::Interrupted);
        CHECK(parse_shutdown_reason("IDLE") == ShutdownReason::Unknown);
        CHECK(parse_shutdown_reason("") == ShutdownReason::Unknown);
        CHECK(std::string(shutdown_reason_name(ShutdownReason::UnableToSync)) == "UNABLE_TO_SYNC");
        CHECK(std::string(shutdown_reason_name(ShutdownReason::Unknown)) == "UNKNOWN");
        for (auto r : {JobResult::Passed, JobResult::Failed, JobResult::Stopped})
            CHECK(parse_job_result(job_result_name(r)) == r);
        CHECK_FALSE(parse_job_result("PASSED").has_value());
    }

    TEST_CASE("register: the agent's facts, retried until it works, then the API's name") {
        Harness h;
        h.cfg.disconnect_after_job = true;
        h.cfg.disconnect_after_idle_timeout = 30;
        int fails = 2;
        h.api->on_register = [&fails] {
            if (fails-- > 0) return Result<RegisterResponse>(err("HTTP 500"));
            return Result<RegisterResponse>(RegisterResponse{"api-name", "access"});
        };
        h.start();
        CHECK(h.listener->phase() == Phase::Registering);
        REQUIRE(h.run_until_synced(AgentState::WaitingForJobs));
        REQUIRE(h.api->registers.size() == 3);
        const RegisterRequest& r = h.api->registers[0];
        CHECK(r.name == "agent-under-test");
        CHECK(r.single_job);
        CHECK(r.idle_timeout == 30);
        CHECK(r.pid > 0);
        CHECK(h.listener->phase() == Phase::Syncing);
        JsonPtr st = h.listener->status_json();
        CHECK(std::string(json_string_value(json_object_get(st.get(), "name"))) == "api-name");
        CHECK(std::string(json_string_value(json_object_get(st.get(), "state"))) == "waiting-for-jobs");
    }

    TEST_CASE("register: 30 failed attempts, then exit 1 without a sync or a disconnect") {
        Harness h;
        h.api->on_register = [] { return Result<RegisterResponse>(err("connection refused")); };
        h.start();
        REQUIRE(h.run_until_exit());
        CHECK(h.api->registers.size() == 30);
        CHECK(h.api->syncs.empty());
        CHECK(h.api->disconnects == 0);
        CHECK(h.listener->exit_code() == 1);
    }

    TEST_CASE("idle: syncs waiting-for-jobs with no job and no result, again and again") {
        Harness h;
        h.start();
        REQUIRE(h.run_until([&] { return h.api->syncs.size() >= 3; }));
        for (const auto& s : h.api->syncs) {
            CHECK(s.state == AgentState::WaitingForJobs);
            CHECK(s.job_id.empty());
            CHECK_FALSE(s.job_result.has_value());
            CHECK(s.interrupted_at == 0);
        }
        CHECK(h.listener->phase() == Phase::Syncing);
        CHECK(h.runs.started == 0);
    }

    TEST_CASE("an unknown action is ignored, and syncing goes on") {
        Harness h;
        h.api->on_sync = [](const SyncRequest&) { return Result<SyncResponse>(answer("dance")); };
        h.start();
        REQUIRE(h.run_until([&] { return h.api->syncs.size() >= 3; }));
        CHECK(h.listener->phase() == Phase::Syncing);
    }

    TEST_CASE("run-job: fetched, started, reported through every state, then wait-for-jobs") {
        Harness h;
        h.run_a_job();
        CHECK(h.api->get_jobs == std::vector<std::string>{"j1"});
        CHECK(h.runs.started == 1);
        CHECK(h.runs.last_job_json.find("\"j1\"") != std::string::npos);
        CHECK(h.last_sync().job_id == "j1");
        JsonPtr st = h.listener->status_json();
        CHECK(std::string(json_string_value(json_object_get(st.get(), "job_id"))) == "j1");

        SUBCASE("passed") {
            h.runs.current->end("passed");
            REQUIRE(h.run_until_synced(AgentState::FinishedJob));
            CHECK(h.last_sync().job_result == JobResult::Passed);
            CHECK(h.last_sync().job_id == "j1");
        }
        SUBCASE("failed") {
            h.runs.current->end("failed");
            REQUIRE(h.run_until_synced(AgentState::FinishedJob));
            CHECK(h.last_sync().job_result == JobResult::Failed);
        }
        SUBCASE("a result no worker sends counts as failed") {
            h.runs.current->end("exploded");
            REQUIRE(h.run_until_synced(AgentState::FinishedJob));
            CHECK(h.last_sync().job_result == JobResult::Failed);
        }
        // The API has heard it: back to waiting, the job forgotten.
        size_t before = h.api->syncs.size();
        h.api->on_sync = [](const SyncRequest& r) {
            return Result<SyncResponse>(r.state == AgentState::FinishedJob ? answer("wait-for-jobs")
                                                                            : answer("continue"));
        };
        REQUIRE(h.run_until([&] {
            return h.api->syncs.size() > before && h.last_sync().state == AgentState::WaitingForJobs;
        }));
        CHECK(h.last_sync().job_id.empty());
        CHECK_FALSE(h.last_sync().job_result.has_value());
        CHECK(distinct(h.api->states()) ==
              std::vector<AgentState>{AgentState::WaitingForJobs, AgentState::StartingJob, AgentState::RunningJob,
                                      AgentState::FinishedJob, AgentState::WaitingForJobs});
        CHECK(h.listener->phase() == Phase::Syncing);
    }

    TEST_CASE("run-job is refused while a job is under way") {
        Harness h;
        h.run_a_job();
        h.api->on_sync = [](const SyncRequest&) { return Result<SyncResponse>(answer("run-job", "j2")); };
        size_t before = h.api->syncs.size();
        REQUIRE(h.run_until([&] { return h.api->syncs.size() >= before + 3; }));
        CHECK(h.runs.started == 1);
        CHECK(h.api->get_jobs.size() == 1);
        CHECK(h.last_sync().job_id == "j1");
    }

    TEST_CASE("get-job: 10 failed attempts, then the job is reported failed without running") {
        Harness h;
        h.api->on_get_job = [](const std::string&) { return Result<std::string>(err("HTTP 502")); };
        h.api->on_sync = [](const SyncRequest& r) {
            return Result<SyncResponse>(r.state == AgentState::WaitingForJobs ? answer("run-job", "j1")
                                                                                : answer("continue"));
        };
        h.start();
        REQUIRE(h.run_until_synced(AgentState::FinishedJob));
        CHECK(h.api->get_jobs.size() == 10);
        CHECK(h.runs.started == 0);
        CHECK(h.last_sync().job_result == JobResult::Failed);
    }

    TEST_CASE("get-job: an answer that is not JSON is fetched again") {
        Harness h;
        int broken = 2;
        h.api->on_get_job = [&broken](const std::string&) {
            if (broken-- > 0) return Result<std::string>(std::string("<html>"));
            return Result<std::string>(std::string(R"({"job_id": "j1", "commands": []})"));
        };
        h.run_a_job();
        CHECK(h.api->get_jobs.size() == 3);
        CHECK(h.runs.started == 1);
    }

    TEST_CASE("stop-job") {
        Harness h;
        SUBCASE("while running: the run is stopped, stopping-job, then finished-job stopped") {
            h.run_a_job();
            h.api->on_sync = [](const SyncRequest& r) {
                return Result<SyncResponse>(r.state == AgentState::RunningJob ? answer("stop-job", "j1")
                                                                               : answer("continue"));
            };
            REQUIRE(h.run_until_synced(AgentState::FinishedJob));
            CHECK(h.runs.started == 1);
            CHECK(h.last_sync().job_result == JobResult::Stopped);
            CHECK(h.api->synced(AgentState::StoppingJob));
        }
        SUBCASE("while the job is fetched: it never runs, finished-job stopped") {
            h.api->hold_get_job = true;
            h.api->on_sync = [](const SyncRequest& r) {
                if (r.state == AgentState::WaitingForJobs) return Result<SyncResponse>(answer("run-job", "j1"));
                if (r.state == AgentState::StartingJob) return Result<SyncResponse>(answer("stop-job", "j1"));
                return Result<SyncResponse>(answer("continue"));
            };
            h.start();
            REQUIRE(h.run_until_synced(AgentState::FinishedJob));
            CHECK(h.last_sync().job_result == JobResult::Stopped);
            h.api->release_get_jobs();  // the late answer is dropped
            size_t before = h.api->syncs.size();
            REQUIRE(h.run_until([&] { return h.api->syncs.size() >= before + 2; }));
            CHECK(h.runs.started == 0);
            CHECK(h.last_sync().state == AgentState::FinishedJob);
        }
        SUBCASE("for a job already finished: ignored") {
            h.run_a_job();
            h.runs.current->end("passed");
            REQUIRE(h.run_until_synced(AgentState::FinishedJob));
            h.api->on_sync = [](const SyncRequest&) { return Result<SyncResponse>(answer("stop-job", "j1")); };
            size_t before = h.api->syncs.size();
            REQUIRE(h.run_until([&] { return h.api->syncs.size() >= before + 2; }));
            CHECK(h.last_sync().state == AgentState::FinishedJob);
            CHECK(h.last_sync().job_result == JobResult::Passed);
        }
        SUBCASE("while waiting for jobs: ignored") {
            h.api->on_sync = [](const SyncRequest&) { return Result<SyncResponse>(answer("stop-job", "j9")); };
            h.start();
            REQUIRE(h.run_until([&] { return h.api->syncs.size() >= 3; }));
            CHECK(h.last_sync().state == AgentState::WaitingForJobs);
        }
    }

    TEST_CASE("the shutdown action: its reason, one disconnect, exit 0") {
        struct Case {
            const char* api;
            ShutdownReason want;
        };
        for (Case c : {Case{"idle", ShutdownReason::Idle}, Case{"job-finished", ShutdownReason::JobFinished},
                       Case{"requested", ShutdownReason::Requested},
                       Case{"interrupted", ShutdownReason::Interrupted},
                       Case{"gone-fishing", ShutdownReason::Unknown}}) {
            CAPTURE(c.api);
            Harness h;
            h.api->on_sync = [&c](const SyncRequest&) {
                return Result<SyncResponse>(answer("shutdown", "", c.api));
            };
            h.start();
            check_clean_exit(h, c.want);
            CHECK(h.api->syncs.size() == 1);
        }
    }

    TEST_CASE("shutdown while a job runs: the job is stopped and reported before the disconnect") {
        Harness h;
        h.run_a_job();
        h.api->on_sync = [](const SyncRequest& r) {
            return Result<SyncResponse>(r.state == AgentState::RunningJob ? answer("shutdown", "", "requested")
                                                                           : answer("continue"));
        };
        check_clean_exit(h, ShutdownReason::Requested);
        CHECK(h.runs.started == 1);
        CHECK(h.last_sync().state == AgentState::FinishedJob);
        CHECK(h.last_sync().job_result == JobResult::Stopped);
    }

    TEST_CASE("disconnect: retried until it works; given up after 100 attempts") {
        SUBCASE("third time lucky") {
            Harness h;
            int fails = 2;
            h.api->on_disconnect = [&fails] { return fails-- > 0 ? Status(err("HTTP 503")) : Status(Ok{}); };
            h.api->on_sync = [](const SyncRequest&) { return Result<SyncResponse>(answer("shutdown", "", "idle")); };
            h.start();
            REQUIRE(h.run_until_exit());
            CHECK(h.api->disconnects == 3);
            CHECK(h.listener->shutdown_reason() == ShutdownReason::Idle);
        }
        SUBCASE("never") {
            Harness h;
            h.api->on_disconnect = [] { return Status(err("HTTP 503")); };
            h.api->on_sync = [](const SyncRequest&) { return Result<SyncResponse>(answer("shutdown", "", "idle")); };
            h.start();
            REQUIRE(h.run_until_exit());
            CHECK(h.api->disconnects == 100);
            CHECK(h.listener->exit_code() == 0);
        }
    }

    TEST_CASE("disconnect-after-job: the agent goes once the API has heard the job finished") {
        Harness h;
        h.cfg.disconnect_after_job = true;
        h.run_a_job();
        h.runs.current->end("passed");  // the API keeps answering continue
        check_clean_exit(h, ShutdownReason::JobFinished);
        CHECK(h.last_sync().state == AgentState::FinishedJob);
        CHECK(h.last_sync().job_result == JobResult::Passed);
        CHECK(h.runs.started == 1);  // no second job
    }

    TEST_CASE("disconnect-after-job with wait-for-jobs as the answer") {
        Harness h;
        h.cfg.disconnect_after_job = true;
        h.run_a_job();
        h.api->on_sync = [](const SyncRequest& r) {
            return Result<SyncResponse>(r.state == AgentState::FinishedJob ? answer("wait-for-jobs")
                                                                            : answer("continue"));
        };
        h.runs.current->end("failed");
        check_clean_exit(h, ShutdownReason::JobFinished);
        CHECK(h.runs.started == 1);
    }

    TEST_CASE("disconnect-after-idle-timeout: IDLE after the timeout with no job") {
        Harness h;
        h.cfg.disconnect_after_idle_timeout = 1;
        h.start();
        check_clean_exit(h, ShutdownReason::Idle);
        CHECK(h.runs.started == 0);
    }

    TEST_CASE("disconnect-after-idle-timeout does not cut a running job") {
        Harness h;
        h.cfg.disconnect_after_idle_timeout = 1;
        h.run_a_job();
        // Longer than the idle timeout: the job is still the agent's.
        CHECK_FALSE(h.run_until([&] { return h.listener->finished(); }, 1500));
        CHECK(h.listener->phase() == Phase::Syncing);
        h.runs.current->end("passed");
        h.api->on_sync = [](const SyncRequest& r) {
            return Result<SyncResponse>(r.state == AgentState::FinishedJob ? answer("wait-for-jobs")
                                                                            : answer("continue"));
        };
        // Idle again: the timeout starts over, then IDLE.
        check_clean_exit(h, ShutdownReason::Idle);
    }

    TEST_CASE("no successful sync for unable-to-sync-seconds: UNABLE_TO_SYNC, exit 1") {
        Harness h;
        h.cfg.unable_to_sync_seconds = 1;
        h.api->on_sync = [](const SyncRequest&) { return Result<SyncResponse>(err("HTTP 500")); };
        h.start();
        REQUIRE(h.run_until_exit());
        CHECK(h.listener->shutdown_reason() == ShutdownReason::UnableToSync);
        CHECK(h.listener->exit_code() == 1);
        CHECK(h.api->disconnects == 1);
    }

    TEST_CASE("interrupt while registering") {
        Harness h;
        SUBCASE("a failing register is not retried: exit 1") {
            h.api->on_register = [] { return Result<RegisterResponse>(err("connection refused")); };
            h.start();
            h.listener->interrupt();
            REQUIRE(h.run_until_exit());
            CHECK(h.api->registers.size() == 1);
            CHECK(h.listener->exit_code() == 1);
            CHECK(h.api->syncs.empty());
        }
        SUBCASE("a register that works reports the interruption, and the agent goes") {
            h.start();
            h.listener->interrupt();
            check_clean_exit(h, ShutdownReason::Interrupted);
            REQUIRE(h.api->syncs.size() == 1);
            CHECK(h.api->syncs[0].interrupted_at > 0);
        }
    }

    TEST_CASE("interrupt while idle: reported at once; the API's word decides") {
        Harness h;
        h.start();
        REQUIRE(h.run_until_synced(AgentState::WaitingForJobs));
        SUBCASE("the API says continue: nothing to finish, INTERRUPTED") {}
        SUBCASE("the API says shutdown interrupted") {
            h.api->on_sync = [](const SyncRequest& r) {
                return Result<SyncResponse>(r.interrupted_at ? answer("shutdown", "", "interrupted")
                                                             : answer("continue"));
            };
        }
        h.listener->interrupt();
        check_clean_exit(h, ShutdownReason::Interrupted);
        CHECK(h.last_sync().interrupted_at > 0);
    }

    TEST_CASE("interrupt while the job is fetched: it never runs; reported stopped") {
        Harness h;
        h.api->hold_get_job = true;
        h.api->on_sync = [](const SyncRequest& r) {
            if (r.interrupted_at) return Result<SyncResponse>(answer("shutdown", "", "interrupted"));
            if (r.state == AgentState::WaitingForJobs) return Result<SyncResponse>(answer("run-job", "j1"));
            return Result<SyncResponse>(answer("continue"));
        };
        h.start();
        REQUIRE(h.run_until([&] { return h.api->get_job_held(); }));
        h.listener->interrupt();
        check_clean_exit(h, ShutdownReason::Interrupted);
        CHECK(h.runs.started == 0);
        CHECK(h.last_sync().state == AgentState::FinishedJob);
        CHECK(h.last_sync().job_result == JobResult::Stopped);
    }

    TEST_CASE("interrupt while a job runs") {
        Harness h;
        h.run_a_job();
        SUBCASE("the API stops the job, then shuts the agent down") {
            h.api->on_sync = [](const SyncRequest& r) {
                if (!r.interrupted_at) return Result<SyncResponse>(answer("continue"));
                if (r.state == AgentState::RunningJob) return Result<SyncResponse>(answer("stop-job", "j1"));
                if (r.state == AgentState::FinishedJob)
                    return Result<SyncResponse>(answer("shutdown", "", "interrupted"));
                return Result<SyncResponse>(answer("continue"));
            };
            h.listener->interrupt();
            check_clean_exit(h, ShutdownReason::Interrupted);
            CHECK(h.api->synced(AgentState::StoppingJob));
            CHECK(h.last_sync().job_result == JobResult::Stopped);
        }
        SUBCASE("the API lets the job finish; with no job left the agent goes") {
            h.listener->interrupt();
            REQUIRE(h.run_until([&] { return h.last_sync().interrupted_at > 0; }));
            CHECK(h.listener->phase() == Phase::Syncing);  // the job may run on
            h.runs.current->end("passed");
            check_clean_exit(h, ShutdownReason::Interrupted);
            CHECK(h.last_sync().state == AgentState::FinishedJob);
            CHECK(h.last_sync().job_result == JobResult::Passed);
        }
        SUBCASE("a second interrupt stops the job at once") {
            h.listener->interrupt();
            REQUIRE(h.run_until([&] { return h.last_sync().interrupted_at > 0; }));
            h.listener->interrupt();
            check_clean_exit(h, ShutdownReason::Interrupted);
            CHECK(h.last_sync().state == AgentState::FinishedJob);
            CHECK(h.last_sync().job_result == JobResult::Stopped);
        }
    }

    TEST_CASE("interrupt while shutting down: the job is stopped again, the reason stays") {
        Harness h;
        h.runs.end_on_stop = false;  // a worker slow to stop
        h.run_a_job();
        h.api->on_sync = [](const SyncRequest&) { return Result<SyncResponse>(answer("shutdown", "", "idle")); };
        REQUIRE(h.run_until([&] { return h.listener->phase() == Phase::ShuttingDown; }));
        FakeRuns::Run* run = h.runs.current;
        REQUIRE(run != nullptr);
        CHECK(run->stops == 1);
        h.listener->interrupt();
        h.listener->interrupt();
        CHECK(run->stops >= 2);
        CHECK(h.listener->phase() == Phase::ShuttingDown);
        JsonPtr st = h.listener->status_json();
        CHECK(std::string(json_string_value(json_object_get(st.get(), "state"))) == "shutting-down");
        run->end("stopped");
        check_clean_exit(h, ShutdownReason::Idle);
        CHECK(h.last_sync().job_result == JobResult::Stopped);
    }

    TEST_CASE("drain (agentctl): REQUESTED once no job is left") {
        SUBCASE("while registering: no disconnect, the hook's reason is REQUESTED") {
            Harness h;
            h.start();
            h.listener->drain();
            REQUIRE(h.run_until_exit());
            CHECK(h.listener->shutdown_reason() == ShutdownReason::Requested);
            CHECK(h.api->disconnects == 0);
            CHECK(h.listener->exit_code() == 0);
        }
        SUBCASE("while idle: at once") {
            Harness h;
            h.start();
            REQUIRE(h.run_until_synced(AgentState::WaitingForJobs));
            h.listener->drain();
            check_clean_exit(h, ShutdownReason::Requested);
        }
        SUBCASE("while a job runs: the job finishes and is reported; no new job") {
            Harness h;
            h.run_a_job();
            h.listener->drain();
            JsonPtr st = h.listener->status_json();
            CHECK(json_is_true(json_object_get(st.get(), "draining")));
            h.api->on_sync = [](const SyncRequest&) { return Result<SyncResponse>(answer("run-job", "j2")); };
            size_t before = h.api->syncs.size();
            REQUIRE(h.run_until([&] { return h.api->syncs.size() >= before + 2; }));
            CHECK(h.listener->phase() == Phase::Syncing);
            h.runs.current->end("passed");
            check_clean_exit(h, ShutdownReason::Requested);
            CHECK(h.runs.started == 1);
            CHECK(h.last_sync().state == AgentState::FinishedJob);
            CHECK(h.last_sync().job_result == JobResult::Passed);
        }
    }

    TEST_CASE("control commands: each answered from the Listener; a missing or unknown one refused") {
        Harness h;
        h.start();
        REQUIRE(h.run_until_synced(AgentState::WaitingForJobs));
        auto ask = [&h](const char* request) {
            json_error_t e;
            JsonPtr req(json_loads(request, 0, &e));
            REQUIRE(req);
            return answer_control_command(*h.listener, req.get());
        };
        auto text = [](const JsonPtr& a, const char* key) {
            const char* v = json_string_value(json_object_get(a.get(), key));
            return std::string(v ? v : "");
        };
        JsonPtr st = ask(R"({"command": "status"})");
        CHECK(json_is_true(json_object_get(st.get(), "ok")));
        CHECK(text(st, "state") == "waiting-for-jobs");
        JsonPtr health = ask(R"({"command": "health"})");
        CHECK(json_is_true(json_object_get(health.get(), "ok")));
        CHECK(json_object_get(health.get(), "healthy") != nullptr);
        JsonPtr metrics = ask(R"({"command": "metrics"})");
        CHECK(text(metrics, "metrics").find("# TYPE") != std::string::npos);
        JsonPtr missing = ask("{}");
        CHECK(json_is_false(json_object_get(missing.get(), "ok")));
        CHECK(text(missing, "error") == "command: missing");
        JsonPtr unknown = ask(R"({"command": "reboot"})");
        CHECK(text(unknown, "error") == "command: unknown 'reboot'");
        JsonPtr drain = ask(R"({"command": "drain"})");
        CHECK(text(drain, "message") == "draining: the agent finishes its job, then disconnects");
        JsonPtr after = ask(R"({"command": "status"})");
        CHECK(json_is_true(json_object_get(after.get(), "draining")));
    }
}
