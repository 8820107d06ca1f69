// The self-hosted agent API (protocol.md section 2), one call per route.
// Retrying is the caller's business: each route has its own rule.
// ApiClient is what Listener talks to; HttpApiClient is the API over HTTP,
// and the Listener unit tests put a fake in its place.
#pragma once

#include "common/job_result.hpp"
#include "common/result.hpp"
#include "daemon/http/http_client.hpp"
#include "daemon/selfhosted/api_answers.hpp"
#include "daemon/selfhosted/sync_protocol.hpp"

#include <functional>
#include <optional>
#include <string>

namespace sa {

struct RegisterRequest {
    std::string name, version, os, arch, hostname, job_id;
    long long pid = 0, idle_timeout = 0, interruption_grace_period = 0;
    bool single_job = false;
};


struct SyncRequest {
    AgentState state = AgentState::WaitingForJobs;
    std::string job_id;
    std::optional<JobResult> job_result;  // sent as "" until the job has one
    long long interrupted_at = 0;
};

// Each call answers once, through its callback, from the event loop (never
// from inside the call).
class ApiClient {
public:
    virtual ~ApiClient() = default;

    virtual void register_agent(const RegisterRequest& r,
                                std::function<void(Result<RegisterResponse>)> cb) = 0;
    virtual void sync(const SyncRequest& r, std::function<void(Result<SyncResponse>)> cb) = 0;
    // The job request JSON as the API sent it.
    virtual void get_job(const std::string& id, std::function<void(Result<std::string>)> cb) = 0;
    // A new log token.
    virtual void refresh(std::function<void(Result<std::string>)> cb) = 0;
    virtual void disconnect(std::function<void(Status)> cb) = 0;
};

class HttpApiClient final : public ApiClient {
public:
    HttpApiClient(HttpClient& http, std::string base_url, std::string registration_token);

    void register_agent(const RegisterRequest& r,
                        std::function<void(Result<RegisterResponse>)> cb) override;
    void sync(const SyncRequest& r, std::function<void(Result<SyncResponse>)> cb) override;
    void get_job(const std::string& id, std::function<void(Result<std::string>)> cb) override;
    void refresh(std::function<void(Result<std::string>)> cb) override;
    void disconnect(std::function<void(Status)> cb) override;

private:
    HttpRequest post(const std::string& route, std::string body, const std::string& token) const;

    HttpClient& http_;
    std::string base_, registration_token_, access_token_;
};

}  // namespace sa
