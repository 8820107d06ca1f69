#include "daemon/selfhosted/api_client.hpp"

#include "daemon/selfhosted/api_answers.hpp"
#include "common/json.hpp"

namespace sa {

HttpApiClient::HttpApiClient(HttpClient& http, std::string base_url, std::string registration_token)
    : http_(http), base_(std::move(base_url)), registration_token_(std::move(registration_token)) {}

HttpRequest HttpApiClient::post(const std::string& route, std::string body,
                                const std::string& token) const {
    HttpRequest r;
    r.method = "POST";
    r.url = base_ + route;
    r.headers = {"Content-Type: application/json", "Authorization: Token " + token};
    r.body = std::move(body);
    return r;
}

void HttpApiClient::register_agent(const RegisterRequest& rr,
                               std::function<void(Result<RegisterResponse>)> cb) {
    JsonPtr b(json_object());
    json_object_set_new(b.get(), "name", json_string(rr.name.c_str()));
    json_object_set_new(b.get(), "version", json_string(rr.version.c_str()));
    json_object_set_new(b.get(), "pid", json_integer(rr.pid));
    json_object_set_new(b.get(), "os", json_string(rr.os.c_str()));
    json_object_set_new(b.get(), "arch", json_string(rr.arch.c_str()));
    json_object_set_new(b.get(), "hostname", json_string(rr.hostname.c_str()));
    json_object_set_new(b.get(), "single_job", json_boolean(rr.single_job));
    json_object_set_new(b.get(), "idle_timeout", json_integer(rr.idle_timeout));
    json_object_set_new(b.get(), "interruption_grace_period",
                        json_integer(rr.interruption_grace_period));
    json_object_set_new(b.get(), "job_id", json_string(rr.job_id.c_str()));
    http_.send(post("/register", json_dump(b.get()), registration_token_),
               [this, cb = std::move(cb)](HttpResponse r) {
                   if (!r.ok()) return cb(err("register: " + r.describe()));
                   auto parsed = parse_register_response(r.body);
                   if (parsed) access_token_ = parsed->token;
                   cb(std::move(parsed));
               });
}

void HttpApiClient::sync(const SyncRequest& s, std::function<void(Result<SyncResponse>)> cb) {
    JsonPtr b(json_object());
    json_object_set_new(b.get(), "state", json_string(agent_state_name(s.state)));
    json_object_set_new(b.get(), "job_id", json_string(s.job_id.c_str()));
    json_object_set_new(b.get(), "job_result",
                        json_string(s.job_result ? job_result_name(*s.job_result) : ""));
    json_object_set_new(b.get(), "interrupted_at", json_integer(s.interrupted_at));
    http_.send(post("/sync", json_dump(b.get()), access_token_),
               [cb = std::move(cb)](HttpResponse r) {
                   if (!r.ok()) return cb(err("sync: " + r.describe()));
                   cb(parse_sync_response(r.body));
               });
}

void HttpApiClient::get_job(const std::string& id, std::function<void(Result<std::string>)> cb) {
    HttpRequest r;
    r.url = base_ + "/jobs/" + id;
    r.headers = {"Authorization: Token " + access_token_};
    r.max_response_bytes = 80u << 20;  // jobs carry injected files
    http_.send(std::move(r), [cb = std::move(cb)](HttpResponse resp) {
        if (!resp.ok()) return cb(err("get job: " + resp.describe()));
        cb(std::move(resp.body));
    });
}

void HttpApiClient::refresh(std::function<void(Result<std::string>)> cb) {
    http_.send(post("/refresh", "{}", access_token_), [cb = std::move(cb)](HttpResponse r) {
        if (!r.ok()) return cb(err("refresh: " + r.describe()));
        cb(parse_refresh_response(r.body));
    });
}

void HttpApiClient::disconnect(std::function<void(Status)> cb) {
    http_.send(post("/disconnect", "{}", access_token_), [cb = std::move(cb)](HttpResponse r) {
        if (!r.ok()) return cb(err("disconnect: " + r.describe()));
        cb(Ok{});
    });
}

}  // namespace sa
