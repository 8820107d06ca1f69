// Polls the EC2 instance metadata service (IMDSv2) for a spot interruption
// notice and an Auto Scaling scale-in, and reports the first one through a
// callback. That is its one job: what the agent does about a notice is the
// Listener's business. Every request is asynchronous on the loop, with a
// short timeout, so a slow or absent IMDS never holds anything up.
#pragma once

#include "common/agent_log.hpp"
#include "daemon/selfhosted/ec2_metadata.hpp"
#include "daemon/http/http_client.hpp"
#include "daemon/loop/timer.hpp"

#include <functional>
#include <string>

namespace sa {

class Ec2LifecycleWatcher {
public:
    using NoticeFn = std::function<void(const Ec2Notice&)>;

    Ec2LifecycleWatcher(uv_loop_t* loop, AgentLog& log, HttpClient& http, Ec2WatchPlan plan,
                        NoticeFn on_notice);
    Ec2LifecycleWatcher(const Ec2LifecycleWatcher&) = delete;
    Ec2LifecycleWatcher& operator=(const Ec2LifecycleWatcher&) = delete;
    ~Ec2LifecycleWatcher();

    // Logs whether the watch is on, and starts polling when it is.
    void start();
    // No more requests and no callback (the agent is shutting down).
    void stop();
    // "off", "starting", "on", "stopped" or "noticed", for status lines.
    const char* state_name() const;

private:
    enum class State { Off, Starting, On, Stopped, Noticed };

    void poll();
    void poll_lifecycle();
    void poll_ok();
    void poll_failed(const std::string& what);
    void schedule_next();
    void notice(const Ec2Notice& n);
    // GET with the session token: fetches one first when there is none (or
    // it is near its end), and fetches a new one at once on a 401.
    void get(const std::string& path, bool retried, std::function<void(HttpResponse)> done);
    void fetch_token(long timeout_ms, std::function<void(HttpResponse)> done);
    void send(HttpRequest req, std::function<void(HttpResponse)> done);
    bool token_fresh() const;

    uv_loop_t* loop_;
    AgentLog& log_;
    HttpClient& http_;
    Ec2WatchPlan plan_;
    NoticeFn on_notice_;
    Timer poll_timer_;
    State state_ = State::Off;
    uint64_t in_flight_ = 0;  // the HttpClient id of the one request on the wire
    std::string token_;
    uint64_t token_at_ms_ = 0;
    bool down_ = false;        // the warning has been given for this outage
    bool unknown_state_said_ = false;
    bool was_in_service_ = false;       // target lifecycle state InService seen
    std::string not_in_service_said_;   // the NotInService state last logged
};

}  // namespace sa
