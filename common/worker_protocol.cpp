#include "common/worker_protocol.hpp"

#include "common/json.hpp"

#include <jansson.h>

namespace sa {

namespace {

// Reads the options object field by field; the first problem is kept, with
// the field's path. Every field is required: the encoder writes them all, so
// a missing one means a supervisor of another build.
class OptionsReader {
public:
    explicit OptionsReader(const json_t* o) : o_(o) {}

    void text(const char* key, std::string& out) {
        const json_t* v = field(key);
        if (!v) return;
        if (!json_is_string(v)) return fail(key, "expected a string");
        out.assign(json_string_value(v), json_string_length(v));
    }
    void flag(const char* key, bool& out) {
        const json_t* v = field(key);
        if (!v) return;
        if (!json_is_boolean(v)) return fail(key, "expected true or false");
        out = json_is_true(v);
    }
    void texts(const char* key, std::vector<std::string>& out) {
        const json_t* v = field(key);
        if (!v) return;
        if (!json_is_array(v)) return fail(key, "expected an array");
        out.reserve(json_array_size(v));
        size_t i;
        const json_t* e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e))
                return fail(std::string(key) + "[" + std::to_string(i) + "]", "expected a string");
            out.emplace_back(json_string_value(e), json_string_length(e));
        }
    }
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    void fail(const std::string& key, const std::string& what) {
        if (error_.empty()) error_ = "options." + key + ": " + what;
    }

private:
    const json_t* field(const char* key) {
        if (!ok()) return nullptr;
        const json_t* v = json_object_get(o_, key);
        if (!v) fail(key, "missing");
        return v;
    }

    const json_t* o_;
    std::string error_;
};

// JSON strings are UTF-8; a value that is not (a path or variable from the
// environment) goes as "" and a list entry is left out, as they always were.
void put_text(json_t* o, const char* key, const std::string& s) {
    json_t* v = json_stringn(s.data(), s.size());
    json_object_set_new(o, key, v ? v : json_string(""));
}

void put_texts(json_t* o, const char* key, const std::vector<std::string>& list) {
    json_t* a = json_array();
    for (const auto& s : list)
        if (json_t* v = json_stringn(s.data(), s.size())) json_array_append_new(a, v);
    json_object_set_new(o, key, a);
}

JsonPtr options_json(const RunOptions& r) {
    JsonPtr o(json_object());
    put_text(o.get(), "pre_job_hook_path", r.pre_job_hook_path);
    put_text(o.get(), "post_job_hook_path", r.post_job_hook_path);
    json_object_set_new(o.get(), "source_pre_job_hook", json_boolean(r.source_pre_job_hook));
    json_object_set_new(o.get(), "fail_on_pre_job_hook_error", json_boolean(r.fail_on_pre_job_hook_error));
    std::vector<std::string> env;
    env.reserve(r.agent_env_vars.size());
    for (const auto& [name, value] : r.agent_env_vars) env.push_back(name + "=" + value);
    put_texts(o.get(), "agent_env_vars", env);
    put_texts(o.get(), "files", r.host_files);
    json_object_set_new(o.get(), "fail_on_missing_files", json_boolean(r.fail_on_missing_files));
    json_object_set_new(o.get(), "hosted", json_boolean(r.hosted));
    json_object_set_new(o.get(), "expose_kvm", json_boolean(r.expose_kvm));
    put_text(o.get(), "job_dir", r.job_dir);
    put_text(o.get(), "marker", r.marker);
    put_texts(o.get(), "cgroup_procs", r.cgroup_procs);
    put_text(o.get(), "cgroup_dir", r.cgroup_dir);
    put_text(o.get(), "job_user", r.job_user);
    put_text(o.get(), "isolation", r.isolation);
    return o;
}

Result<RunOptions> read_options(const json_t* o) {
    if (!o) return err("options: missing");
    if (!json_is_object(o)) return err("options: expected an object");
    RunOptions r;
    OptionsReader in(o);
    in.text("pre_job_hook_path", r.pre_job_hook_path);
    in.text("post_job_hook_path", r.post_job_hook_path);
    in.flag("source_pre_job_hook", r.source_pre_job_hook);
    in.flag("fail_on_pre_job_hook_error", r.fail_on_pre_job_hook_error);
    std::vector<std::string> env;
    in.texts("agent_env_vars", env);
    for (size_t i = 0; in.ok() && i < env.size(); i++) {
        size_t eq = env[i].find('=');
        if (eq == std::string::npos || eq == 0)
            in.fail("agent_env_vars[" + std::to_string(i) + "]", "expected NAME=VALUE");
        else
            r.agent_env_vars.emplace_back(env[i].substr(0, eq), env[i].substr(eq + 1));
    }
    in.texts("files", r.host_files);
    in.flag("fail_on_missing_files", r.fail_on_missing_files);
    in.flag("hosted", r.hosted);
    in.flag("expose_kvm", r.expose_kvm);
    in.text("job_dir", r.job_dir);
    if (in.ok() && r.job_dir.empty()) in.fail("job_dir", "required");
    in.text("marker", r.marker);
    in.texts("cgroup_procs", r.cgroup_procs);
    in.text("cgroup_dir", r.cgroup_dir);
    in.text("job_user", r.job_user);
    in.text("isolation", r.isolation);
    if (in.ok() && r.isolation != "default" && r.isolation != "strict")
        in.fail("isolation", "'" + r.isolation + "' is not one of default, strict");
    if (!in.ok()) return err(in.error());
    return r;
}

}  // namespace

namespace worker_protocol {

std::string encode(const WorkerJob& job) {
    JsonPtr root(json_object());
    json_object_set_new(root.get(), "version", json_integer(kWorkerProtocolVersion));
    json_object_set_new(root.get(), "job", job_request_json(job.request).release());
    json_object_set_new(root.get(), "options", options_json(job.options).release());
    return json_dump(root.get());
}

Result<WorkerJob> decode(std::string_view payload) {
    json_error_t e;
    JsonPtr root(json_loadb(payload.data(), payload.size(), 0, &e));
    if (!root) return err(std::string("job frame: not JSON: ") + e.text);
    if (!json_is_object(root.get())) return err("job frame: expected an object");
    // The version first: a frame of another version may differ in anything else.
    const json_t* version = json_object_get(root.get(), "version");
    if (!version) return err("version: missing (a supervisor older than worker protocol " +
                             std::to_string(kWorkerProtocolVersion) + ")");
    if (!json_is_integer(version)) return err("version: expected an integer");
    if (json_integer_value(version) != kWorkerProtocolVersion)
        return err("version: the supervisor speaks worker protocol " +
                   std::to_string(json_integer_value(version)) + ", this worker " +
                   std::to_string(kWorkerProtocolVersion) +
                   " (the agent and its worker come from different builds)");
    const json_t* job = json_object_get(root.get(), "job");
    if (!job) return err("job: missing");
    auto request = parse_job_request(job);
    if (!request) return request.error();
    auto options = read_options(json_object_get(root.get(), "options"));
    if (!options) return options.error();
    return WorkerJob{std::move(request.value()), std::move(options.value())};
}

}  // namespace worker_protocol

}  // namespace sa
