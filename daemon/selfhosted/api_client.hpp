// The self-hosted agent API (protocol.md section 2), one call per route.
// Retrying is the caller's business: each route has its own rule.
#pragma once

#include "daemon/selfhosted/api_answers.hpp"
#include "daemon/http/http_client.hpp"
#include "common/result.hpp"

#include <functional>
#include <string>

namespace sa {

struct RegisterRequest {
    std::string name, version, os, arch, hostname, job_id;
    long long pid = 0, idle_timeout = 0, interruption_grace_period = 0;
    bool single_job = false;
};


struct SyncRequest {
    std::string state, job_id, job_result;
    long long interrupted_at = 0;
};


class ApiClient {
public:
    ApiClient(HttpClient& http, std::string base_url, std::string registration_token);

    void register_agent(const RegisterRequest& r, std::function<void(Result<RegisterResponse>)> cb);
    void sync(const SyncRequest& r, std::function<void(Result<SyncResponse>)> cb);
    // The job request JSON as the API sent it.
    void get_job(const std::string& id, std::function<void(Result<std::string>)> cb);
    // A new log token.
    void refresh(std::function<void(Result<std::string>)> cb);
    void disconnect(std::function<void(Status)> cb);

private:
    HttpRequest post(const std::string& route, std::string body, const std::string& token) const;

    HttpClient& http_;
    std::string base_, registration_token_, access_token_;
};

}  // namespace sa
