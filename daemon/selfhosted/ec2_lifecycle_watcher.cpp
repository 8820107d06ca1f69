#include "daemon/selfhosted/ec2_lifecycle_watcher.hpp"

#include <algorithm>
#include <ctime>

namespace sa {

namespace {

constexpr uint64_t kPollIntervalMs = 5000;
// One request never takes longer than this, so the three requests of a
// poll end well before the next; polls are chained, never overlapped.
constexpr long kRequestTimeoutMs = 2000;
// `auto` is on only when IMDS answers this fast at start-up.
constexpr long kProbeTimeoutMs = 1000;
constexpr long long kTokenTtlSeconds = 21600;
// A token is replaced once 80 % of its life is over, before IMDS refuses it.
constexpr uint64_t kTokenRefreshMs = kTokenTtlSeconds * 1000 * 8 / 10;

const char* kSpotPath = "/latest/meta-data/spot/instance-action";
const char* kLifecyclePath = "/latest/meta-data/autoscaling/target-lifecycle-state";

std::string utc_text(long long t) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm {};
    gmtime_r(&tt, &tm);
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

Ec2LifecycleWatcher::Ec2LifecycleWatcher(uv_loop_t* loop, AgentLog& log, HttpClient& http,
                                         Ec2WatchPlan plan, NoticeFn on_notice)
    : loop_(loop), log_(log), http_(http), plan_(std::move(plan)),
      on_notice_(std::move(on_notice)), poll_timer_(loop) {}

Ec2LifecycleWatcher::~Ec2LifecycleWatcher() { stop(); }

const char* Ec2LifecycleWatcher::state_name() const {
    switch (state_) {
    case State::Off: return "off";
    case State::Starting: return "starting";
    case State::On: return "on";
    case State::Stopped: return "stopped";
    case State::Noticed: return "noticed";
    }
    return "off";
}

void Ec2LifecycleWatcher::start() {
    if (plan_.start == Ec2WatchStart::Off) {
        log_.info("EC2 lifecycle watch: off (" + plan_.why + ")");
        return;
    }
    if (plan_.start == Ec2WatchStart::On) {
        state_ = State::On;
        log_.info("EC2 lifecycle watch: on (" + plan_.why + "), IMDS at " + plan_.base_url +
                  ", polling every 5 s");
        return poll();
    }
    // auto: on only when IMDS hands out a token within 1 s.
    state_ = State::Starting;
    fetch_token(kProbeTimeoutMs, [this](HttpResponse r) {
        if (!r.ok()) {
            state_ = State::Off;
            log_.info("EC2 lifecycle watch: off (" + plan_.why + ", but IMDS at " + plan_.base_url +
                      " did not answer within 1 s: " + r.describe() + ")");
            return;
        }
        state_ = State::On;
        log_.info("EC2 lifecycle watch: on (" + plan_.why + " and IMDS at " + plan_.base_url +
                  " answered), polling every 5 s");
        poll();
    });
}

void Ec2LifecycleWatcher::stop() {
    if (in_flight_) http_.cancel(in_flight_);
    in_flight_ = 0;
    poll_timer_.stop();
    if (state_ == State::On || state_ == State::Starting) state_ = State::Stopped;
}

bool Ec2LifecycleWatcher::token_fresh() const {
    return !token_.empty() && uv_now(loop_) - token_at_ms_ < kTokenRefreshMs;
}

void Ec2LifecycleWatcher::send(HttpRequest req, std::function<void(HttpResponse)> done) {
    req.url = plan_.base_url + req.url;
    req.max_response_bytes = 64 * 1024;
    req.direct = true;  // IMDS is link-local: never through HTTP(S)_PROXY
    in_flight_ = http_.send(std::move(req), [this, done = std::move(done)](HttpResponse r) {
        in_flight_ = 0;
        done(std::move(r));
    });
}

void Ec2LifecycleWatcher::fetch_token(long timeout_ms, std::function<void(HttpResponse)> done) {
    HttpRequest req;
    req.method = "PUT";
    req.url = "/latest/api/token";
    req.timeout_ms = timeout_ms;
    req.headers = {"X-aws-ec2-metadata-token-ttl-seconds: " + std::to_string(kTokenTtlSeconds),
                   "Content-Length: 0"};
    send(std::move(req), [this, done = std::move(done)](HttpResponse r) {
        // The token goes into a header line: nothing but visible ASCII.
        bool usable = !r.body.empty() && std::all_of(r.body.begin(), r.body.end(), [](char c) {
            return c > ' ' && c < 0x7f;
        });
        if (r.ok() && usable) {
            token_ = r.body;
            token_at_ms_ = uv_now(loop_);
        } else if (r.ok()) {
            r.error = "IMDS answered the token request with an empty or unusable token";
        }
        done(std::move(r));
    });
}

void Ec2LifecycleWatcher::get(const std::string& path, bool retried,
                              std::function<void(HttpResponse)> done) {
    if (!token_fresh()) {
        return fetch_token(kRequestTimeoutMs, [this, path, retried, done](HttpResponse r) {
            if (!r.ok()) {
                r.error = "token request: " + r.describe();
                return done(std::move(r));
            }
            get(path, retried, done);
        });
    }
    HttpRequest req;
    req.url = path;
    req.timeout_ms = kRequestTimeoutMs;
    req.headers = {"X-aws-ec2-metadata-token: " + token_};
    send(std::move(req), [this, path, retried, done](HttpResponse r) {
        if (r.error.empty() && r.status == 401 && !retried) {
            // The token expired (or IMDS restarted): a new one, then once more.
            log_.debug("EC2 lifecycle watch: IMDS refused the session token; fetching a new one");
            token_.clear();
            return get(path, true, done);
        }
        done(std::move(r));
    });
}

void Ec2LifecycleWatcher::poll() {
    if (state_ != State::On) return;
    get(kSpotPath, false, [this](HttpResponse r) {
        if (r.error.empty() && r.status == 404) return poll_lifecycle();
        if (!r.ok()) return poll_failed(std::string(kSpotPath) + ": " + r.describe());
        auto n = parse_spot_instance_action(r.body, time(nullptr));
        if (!n) return poll_failed(n.message());
        notice(*n);
    });
}

void Ec2LifecycleWatcher::poll_lifecycle() {
    get(kLifecyclePath, false, [this](HttpResponse r) {
        if (r.error.empty() && r.status == 404) return poll_ok();  // not in an Auto Scaling group
        if (!r.ok()) return poll_failed(std::string(kLifecyclePath) + ": " + r.describe());
        std::string state = r.body.substr(0, 64);
        while (!state.empty() && (state.back() == '\n' || state.back() == '\r')) state.pop_back();
        switch (classify_lifecycle_state(state, was_in_service_)) {
        case LifecycleMeaning::LeavingService: {
            Ec2Notice n;
            n.source = InterruptionSource::ScaleIn;
            n.action = state;
            return notice(n);
        }
        case LifecycleMeaning::NotInService:
            if (not_in_service_said_ != state) {
                not_in_service_said_ = state;
                log_.info("EC2 lifecycle watch: the target lifecycle state is " + state +
                          ": not in service, but not leaving it either (no notice)");
            }
            return poll_ok();
        case LifecycleMeaning::Unknown:
            if (!unknown_state_said_) {
                unknown_state_said_ = true;
                log_.warn("EC2 lifecycle watch: unknown target lifecycle state '" + state +
                          "': taken as still in service");
            }
            return poll_ok();
        case LifecycleMeaning::InService:
            was_in_service_ = was_in_service_ || state == "InService";
            not_in_service_said_.clear();
            return poll_ok();
        }
    });
}

void Ec2LifecycleWatcher::poll_ok() {
    if (down_) {
        down_ = false;
        log_.info("EC2 lifecycle watch: IMDS at " + plan_.base_url + " answers again");
    }
    schedule_next();
}

void Ec2LifecycleWatcher::poll_failed(const std::string& what) {
    if (!down_) {
        down_ = true;
        log_.warn("EC2 lifecycle watch: IMDS at " + plan_.base_url + " is not answering (" + what +
                  "); jobs carry on as usual and the agent keeps asking every 5 s "
                  "(said once, until it answers again)");
    } else {
        log_.debug("EC2 lifecycle watch: IMDS still not answering (" + what + ")");
    }
    schedule_next();
}

void Ec2LifecycleWatcher::schedule_next() {
    if (state_ != State::On) return;
    poll_timer_.start(kPollIntervalMs, [this] { poll(); });
}

void Ec2LifecycleWatcher::notice(const Ec2Notice& n) {
    state_ = State::Noticed;  // one notice: the agent is on its way out
    poll_timer_.stop();
    if (n.source == InterruptionSource::Spot) {
        long long left = n.deadline - static_cast<long long>(time(nullptr));
        log_.warn("EC2 spot interruption notice: the instance will " + n.action + " at " +
                  utc_text(n.deadline) + " (in " + std::to_string(left) + " s)" +
                  (n.time_text.empty() || n.time_text == utc_text(n.deadline)
                       ? ""
                       : " (IMDS said time '" + n.time_text + "')"));
    } else {
        log_.warn("EC2 Auto Scaling scale-in notice: the instance's target lifecycle state is " +
                  n.action);
    }
    if (on_notice_) on_notice_(n);
}

}  // namespace sa
