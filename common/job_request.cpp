#include "job_request.hpp"

#include "base64.hpp"
#include "json.hpp"
#include "yaml_json.hpp"

#include <cstdio>

namespace sa {

namespace {

// Walks a JSON value collecting the first error with its field path.
class Reader {
public:
    explicit Reader(std::string path) : path_(std::move(path)) {}

    // A string field. YAML may turn `42` or `true` into non-strings: their
    // text is what the user meant, so numbers and booleans are accepted.
    bool str(const json_t* obj, const char* key, std::string& out, bool required) {
        const json_t* v = json_object_get(obj, key);
        if (!v || json_is_null(v)) {
            if (required) return fail(field(key), "required");
            return true;
        }
        return text(v, field(key), out);
    }

    bool text(const json_t* v, const std::string& where, std::string& out) {
        if (json_is_string(v)) {
            out.assign(json_string_value(v), json_string_length(v));
        } else if (json_is_integer(v)) {
            out = std::to_string(json_integer_value(v));
        } else if (json_is_real(v)) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%g", json_real_value(v));
            out = buf;
        } else if (json_is_boolean(v)) {
            out = json_is_true(v) ? "true" : "false";
        } else {
            return fail(where, "expected a string");
        }
        return true;
    }

    // A list field: absent or null is empty.
    const json_t* list(const json_t* obj, const char* key) {
        const json_t* v = json_object_get(obj, key);
        if (!v || json_is_null(v)) return nullptr;
        if (!json_is_array(v)) {
            fail(field(key), "expected a list");
            return nullptr;
        }
        return v;
    }

    const json_t* object(const json_t* obj, const char* key) {
        const json_t* v = json_object_get(obj, key);
        if (!v || json_is_null(v)) return nullptr;
        if (!json_is_object(v)) {
            fail(field(key), "expected an object");
            return nullptr;
        }
        return v;
    }

    bool fail(const std::string& where, const std::string& what) {
        if (error_.empty()) error_ = where + ": " + what;
        return false;
    }
    bool failed() const { return !error_.empty(); }
    const std::string& error() const { return error_; }
    std::string field(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
    const std::string& path() const { return path_; }
    Reader at(const char* key, size_t i) const {
        return Reader(field(key) + "[" + std::to_string(i) + "]");
    }
    void absorb(const Reader& r) {
        if (error_.empty()) error_ = r.error_;
    }

private:
    std::string path_;
    std::string error_;
};

bool is_shell_name(const std::string& s) {
    if (s.empty()) return false;
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

void read_commands(Reader& r, const json_t* obj, const char* key, std::vector<Command>& out) {
    const json_t* arr = r.list(obj, key);
    size_t i;
    const json_t* v;
    json_array_foreach(arr, i, v) {
        Reader e = r.at(key, i);
        Command c;
        if (!json_is_object(v)) {
            e.fail(e.path(), "expected an object with a directive");
        } else {
            e.str(v, "directive", c.directive, true);
            e.str(v, "alias", c.alias, false);
        }
        r.absorb(e);
        if (r.failed()) return;
        out.push_back(std::move(c));
    }
}

void read_env_vars(Reader& r, const json_t* obj, const char* key, std::vector<EnvVar>& out) {
    const json_t* arr = r.list(obj, key);
    size_t i;
    const json_t* v;
    json_array_foreach(arr, i, v) {
        Reader e = r.at(key, i);
        EnvVar ev;
        std::string encoded;
        if (!json_is_object(v)) {
            r.fail(e.path(), "expected an object with name and value");
            return;
        }
        if (e.str(v, "name", ev.name, true) && !is_shell_name(ev.name))
            e.fail(e.field("name"), "'" + ev.name + "' is not a valid variable name");
        if (!e.failed() && e.str(v, "value", encoded, false)) {
            auto d = base64_decode(encoded);
            if (!d) e.fail(e.field("value"), "not valid base64");
            else ev.value = std::move(*d);
        }
        r.absorb(e);
        if (r.failed()) return;
        out.push_back(std::move(ev));
    }
}

void read_files(Reader& r, const json_t* obj, const char* key, std::vector<JobFile>& out) {
    const json_t* arr = r.list(obj, key);
    size_t i;
    const json_t* v;
    json_array_foreach(arr, i, v) {
        Reader e = r.at(key, i);
        JobFile f;
        if (!json_is_object(v)) {
            r.fail(e.path(), "expected an object with path, content and mode");
            return;
        }
        if (e.str(v, "path", f.path, true) && f.path.empty()) e.fail(e.field("path"), "must not be empty");
        if (!e.failed()) e.str(v, "content", f.raw_content, false);
        if (!e.failed()) e.str(v, "mode", f.mode, true);
        if (!e.failed()) {
            auto d = base64_decode(f.raw_content);
            // Bad content fails the Injecting Files step, as the original
            // does, not the whole request.
            f.content_ok = d.has_value();
            if (d) f.content = std::move(*d);
        }
        r.absorb(e);
        if (r.failed()) return;
        out.push_back(std::move(f));
    }
}

void read_compose(Reader& r, const json_t* obj, Compose& c) {
    const json_t* comp = r.object(obj, "compose");
    if (!comp) return;
    Reader cr("compose");
    const json_t* arr = cr.list(comp, "containers");
    size_t i;
    const json_t* v;
    json_array_foreach(arr, i, v) {
        Reader e = cr.at("containers", i);
        Container k;
        if (!json_is_object(v)) {
            cr.fail(e.path(), "expected an object");
            break;
        }
        e.str(v, "name", k.name, true);
        e.str(v, "image", k.image, true);
        e.str(v, "command", k.command, false);
        e.str(v, "entrypoint", k.entrypoint, false);
        e.str(v, "user", k.user, false);
        read_env_vars(e, v, "env_vars", k.env_vars);
        cr.absorb(e);
        if (cr.failed()) break;
        c.containers.push_back(std::move(k));
    }
    arr = cr.failed() ? nullptr : cr.list(comp, "image_pull_credentials");
    json_array_foreach(arr, i, v) {
        Reader e = cr.at("image_pull_credentials", i);
        ImagePullCredentials p;
        if (!json_is_object(v)) {
            cr.fail(e.path(), "expected an object");
            break;
        }
        read_env_vars(e, v, "env_vars", p.env_vars);
        read_files(e, v, "files", p.files);
        cr.absorb(e);
        if (cr.failed()) break;
        c.image_pull_credentials.push_back(std::move(p));
    }
    if (!cr.failed()) read_commands(cr, comp, "host_setup_commands", c.host_setup_commands);
    r.absorb(cr);
}

void encode_env(json_t* parent, const char* key, const std::vector<EnvVar>& vars) {
    json_t* arr = json_array();
    for (const auto& e : vars) {
        json_t* o = json_object();
        json_object_set_new(o, "name", json_stringn(e.name.data(), e.name.size()));
        std::string b = base64_encode(e.value);
        json_object_set_new(o, "value", json_string(b.c_str()));
        json_array_append_new(arr, o);
    }
    json_object_set_new(parent, key, arr);
}

void encode_files(json_t* parent, const char* key, const std::vector<JobFile>& files) {
    json_t* arr = json_array();
    for (const auto& f : files) {
        json_t* o = json_object();
        json_object_set_new(o, "path", json_stringn(f.path.data(), f.path.size()));
        std::string content = f.content_ok ? base64_encode(f.content) : f.raw_content;
        json_object_set_new(o, "content", json_stringn(content.data(), content.size()));
        json_object_set_new(o, "mode", json_stringn(f.mode.data(), f.mode.size()));
        json_array_append_new(arr, o);
    }
    json_object_set_new(parent, key, arr);
}

void encode_commands(json_t* parent, const char* key, const std::vector<Command>& cmds) {
    json_t* arr = json_array();
    for (const auto& c : cmds) {
        json_t* o = json_object();
        json_object_set_new(o, "directive", json_stringn(c.directive.data(), c.directive.size()));
        if (!c.alias.empty())
            json_object_set_new(o, "alias", json_stringn(c.alias.data(), c.alias.size()));
        json_array_append_new(arr, o);
    }
    json_object_set_new(parent, key, arr);
}

void set_str(json_t* o, const char* key, const std::string& v) {
    json_object_set_new(o, key, json_stringn(v.data(), v.size()));
}

}  // namespace

Result<JobRequest> parse_job_request(const json_t* root) {
    if (!json_is_object(root)) return err("job request: expected a JSON object");
    JobRequest j;
    Reader r("");
    r.str(root, "job_id", j.job_id, false);
    r.str(root, "executor", j.executor, false);
    if (j.executor.empty()) j.executor = "shell";
    if (!r.failed() && j.executor != "shell" && j.executor != "dockercompose")
        r.fail("executor", "'" + j.executor + "' is not one of shell, dockercompose");
    if (!r.failed()) read_compose(r, root, j.compose);
    if (!r.failed()) read_commands(r, root, "commands", j.commands);
    if (!r.failed()) read_commands(r, root, "epilogue_always_commands", j.epilogue_always_commands);
    if (!r.failed()) read_commands(r, root, "epilogue_on_pass_commands", j.epilogue_on_pass_commands);
    if (!r.failed()) read_commands(r, root, "epilogue_on_fail_commands", j.epilogue_on_fail_commands);
    if (!r.failed()) read_env_vars(r, root, "env_vars", j.env_vars);
    if (!r.failed()) read_files(r, root, "files", j.files);
    if (!r.failed()) {
        if (const json_t* cb = r.object(root, "callbacks")) {
            Reader c("callbacks");
            c.str(cb, "finished", j.callbacks.finished, false);
            c.str(cb, "teardown_finished", j.callbacks.teardown_finished, false);
            c.str(cb, "token", j.callbacks.token, false);
            r.absorb(c);
        }
    }
    if (!r.failed()) {
        if (const json_t* lg = r.object(root, "logger")) {
            Reader l("logger");
            l.str(lg, "method", j.logger.method, false);
            if (j.logger.method.empty()) j.logger.method = "pull";
            if (!l.failed() && j.logger.method != "pull" && j.logger.method != "push")
                l.fail("logger.method", "'" + j.logger.method + "' is not one of pull, push");
            l.str(lg, "url", j.logger.url, false);
            l.str(lg, "token", j.logger.token, false);
            const json_t* m = json_object_get(lg, "max_size_in_bytes");
            if (m && !json_is_null(m)) {
                if (!json_is_integer(m) || json_integer_value(m) < 0)
                    l.fail("logger.max_size_in_bytes", "expected a non-negative integer");
                else
                    j.logger.max_size_in_bytes = json_integer_value(m);
            }
            r.absorb(l);
        }
    }
    if (!r.failed()) {
        const json_t* keys = r.list(root, "ssh_public_keys");
        size_t i;
        const json_t* v;
        json_array_foreach(keys, i, v) {
            std::string where = "ssh_public_keys[" + std::to_string(i) + "]";
            std::string encoded;
            if (!r.text(v, where, encoded)) break;
            auto d = base64_decode(encoded);
            if (!d) {
                r.fail(where, "not valid base64");
                break;
            }
            j.ssh_public_keys.push_back(std::move(*d));
        }
    }
    if (r.failed()) return err(r.error());
    return j;
}

Result<JobRequest> parse_job_request_json(std::string_view text) {
    json_error_t e;
    JsonPtr root(json_loadb(text.data(), text.size(), 0, &e));
    if (!root)
        return err("invalid JSON at line " + std::to_string(e.line) + ", column " +
                   std::to_string(e.column) + ": " + e.text);
    return parse_job_request(root.get());
}

Result<JobRequest> parse_job_request_yaml(std::string_view text) {
    auto root = yaml_to_json(text);
    if (!root) return root.error();
    return parse_job_request(root->get());
}

Result<JobRequest> parse_job_request_any(std::string_view text) {
    size_t i = text.find_first_not_of(" \t\r\n");
    if (i != std::string_view::npos && text[i] == '{') return parse_job_request_json(text);
    return parse_job_request_yaml(text);
}

std::string job_request_to_json(const JobRequest& j) {
    JsonPtr o(json_object());
    set_str(o.get(), "job_id", j.job_id);
    set_str(o.get(), "executor", j.executor);
    json_t* comp = json_object();
    json_t* containers = json_array();
    for (const auto& c : j.compose.containers) {
        json_t* k = json_object();
        set_str(k, "name", c.name);
        set_str(k, "image", c.image);
        set_str(k, "command", c.command);
        set_str(k, "entrypoint", c.entrypoint);
        set_str(k, "user", c.user);
        encode_env(k, "env_vars", c.env_vars);
        json_array_append_new(containers, k);
    }
    json_object_set_new(comp, "containers", containers);
    json_t* creds = json_array();
    for (const auto& p : j.compose.image_pull_credentials) {
        json_t* k = json_object();
        encode_env(k, "env_vars", p.env_vars);
        encode_files(k, "files", p.files);
        json_array_append_new(creds, k);
    }
    json_object_set_new(comp, "image_pull_credentials", creds);
    encode_commands(comp, "host_setup_commands", j.compose.host_setup_commands);
    json_object_set_new(o.get(), "compose", comp);
    encode_commands(o.get(), "commands", j.commands);
    encode_commands(o.get(), "epilogue_always_commands", j.epilogue_always_commands);
    encode_commands(o.get(), "epilogue_on_pass_commands", j.epilogue_on_pass_commands);
    encode_commands(o.get(), "epilogue_on_fail_commands", j.epilogue_on_fail_commands);
    encode_env(o.get(), "env_vars", j.env_vars);
    encode_files(o.get(), "files", j.files);
    json_t* cb = json_object();
    set_str(cb, "finished", j.callbacks.finished);
    set_str(cb, "teardown_finished", j.callbacks.teardown_finished);
    set_str(cb, "token", j.callbacks.token);
    json_object_set_new(o.get(), "callbacks", cb);
    json_t* lg = json_object();
    set_str(lg, "method", j.logger.method);
    set_str(lg, "url", j.logger.url);
    set_str(lg, "token", j.logger.token);
    json_object_set_new(lg, "max_size_in_bytes", json_integer(j.logger.max_size_in_bytes));
    json_object_set_new(o.get(), "logger", lg);
    json_t* keys = json_array();
    for (const auto& k : j.ssh_public_keys) {
        std::string b = base64_encode(k);
        json_array_append_new(keys, json_string(b.c_str()));
    }
    json_object_set_new(o.get(), "ssh_public_keys", keys);
    return json_dump(o.get());
}

}  // namespace sa
