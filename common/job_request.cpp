#include "common/job_request.hpp"

#include "common/base64.hpp"
#include "common/frame.hpp"
#include "common/json.hpp"

#include <cstdio>
#include <cstdlib>
#include <initializer_list>

namespace sa {

namespace {

// ---- Reading -------------------------------------------------------------

// "a.b[2].c": where a value sits in the request, for error messages.
using Path = std::string;

Path join(const Path& at, const char* key) { return at.empty() ? Path(key) : at + "." + key; }
Path index(const Path& at, size_t i) { return at + "[" + std::to_string(i) + "]"; }

// Absent and null are the same thing: the API sends null for empty lists.
const json_t* member(const json_t* obj, const char* key) {
    const json_t* v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : nullptr;
}

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

// The shortest %g form that reads back as the same double. (std::to_chars
// would do, but it drags libm into every worker for its rounding modes.)
std::string real_text(double d) {
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (std::strtod(buf, nullptr) == d) break;
    }
    return buf;
}

enum class Need { optional, required };

// Walks the request and keeps the first error: every step is a no-op once
// something failed, so the readers below are straight-line code.
class Walker {
public:
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }

    void fail(const Path& at, const std::string& problem) {
        if (ok()) error_ = at + ": " + problem;
    }

    bool expect_object(const json_t* v, const Path& at, const char* with) {
        if (ok() && !json_is_object(v)) fail(at, std::string("expected an object") + with);
        return ok();
    }

    // A string. YAML turns `42` or `true` into numbers and booleans; their
    // text is what the user meant, so those are taken as text too.
    void text(const json_t* v, const Path& at, std::string& out) {
        if (!ok()) return;
        if (json_is_string(v)) out.assign(json_string_value(v), json_string_length(v));
        else if (json_is_integer(v)) out = std::to_string(json_integer_value(v));
        else if (json_is_real(v)) out = real_text(json_real_value(v));
        else if (json_is_boolean(v)) out = json_is_true(v) ? "true" : "false";
        else fail(at, "expected a string");
    }

    void text(const json_t* obj, const Path& at, const char* key, std::string& out, Need need) {
        const json_t* v = member(obj, key);
        if (v) text(v, join(at, key), out);
        else if (need == Need::required) fail(join(at, key), "required");
    }

    // Base64 text at `at`, decoded into out.
    void base64(const json_t* v, const Path& at, std::string& out) {
        std::string encoded;
        text(v, at, encoded);
        if (!ok()) return;
        auto decoded = base64_decode(encoded);
        if (decoded) out = std::move(*decoded);
        else fail(at, "not valid base64");
    }

    void one_of(const Path& at, const std::string& value, std::initializer_list<const char*> allowed) {
        std::string names;
        for (const char* a : allowed) {
            if (value == a) return;
            names += names.empty() ? a : std::string(", ") + a;
        }
        fail(at, "'" + value + "' is not one of " + names);
    }

    // Text that reaches the job's events must fit in an event frame.
    void limit(const Path& at, const std::string& value) {
        if (ok() && value.size() > kMaxJobTextField)
            fail(at, std::to_string(value.size()) + " bytes, more than a job's text field may have (" +
                         std::to_string(kMaxJobTextField) + ")");
    }

    // An optional object member; nullptr when absent or after an error.
    const json_t* object(const json_t* obj, const Path& at, const char* key) {
        const json_t* v = ok() ? member(obj, key) : nullptr;
        if (v && !json_is_object(v)) fail(join(at, key), "expected an object");
        return ok() ? v : nullptr;
    }

    // An optional list whose items read_item(walker, value, path, item) fills in.
    template <class T, class ReadItem>
    void list(const json_t* obj, const Path& at, const char* key, std::vector<T>& out, ReadItem read_item) {
        const json_t* arr = ok() ? member(obj, key) : nullptr;
        if (!arr) return;
        Path path = join(at, key);
        if (!json_is_array(arr)) return fail(path, "expected a list");
        out.reserve(json_array_size(arr));
        for (size_t i = 0; i < json_array_size(arr) && ok(); i++) {
            T item{};
            read_item(*this, json_array_get(arr, i), index(path, i), item);
            out.push_back(std::move(item));
        }
    }

private:
    std::string error_;
};

void read_command(Walker& w, const json_t* v, const Path& at, Command& c) {
    if (!w.expect_object(v, at, " with a directive")) return;
    w.text(v, at, "directive", c.directive, Need::required);
    w.text(v, at, "alias", c.alias, Need::optional);
    w.limit(join(at, "directive"), c.directive);
    w.limit(join(at, "alias"), c.alias);
}

void read_env_var(Walker& w, const json_t* v, const Path& at, EnvVar& e) {
    if (!w.expect_object(v, at, " with name and value")) return;
    w.text(v, at, "name", e.name, Need::required);
    // Names are exported by the job's shell, so they must be shell names.
    if (w.ok() && e.name.empty()) w.fail(join(at, "name"), "must not be empty");
    w.limit(join(at, "name"), e.name);
    if (w.ok() && !is_shell_name(e.name))
        w.fail(join(at, "name"), "'" + e.name.substr(0, 64) + (e.name.size() > 64 ? "...": "") +
                                     "' is not a valid variable name");
    // An absent value is an empty one, as the original agent reads it.
    if (const json_t* value = member(v, "value")) w.base64(value, join(at, "value"), e.value);
}

void read_file(Walker& w, const json_t* v, const Path& at, JobFile& f) {
    if (!w.expect_object(v, at, " with path, content and mode")) return;
    w.text(v, at, "path", f.path, Need::required);
    if (w.ok() && f.path.empty()) w.fail(join(at, "path"), "must not be empty");
    w.text(v, at, "content", f.raw_content, Need::required);
    w.text(v, at, "mode", f.mode, Need::required);  // checked by the worker, which reports it
    w.limit(join(at, "path"), f.path);
    w.limit(join(at, "mode"), f.mode);
    if (!w.ok()) return;
    // Bad content fails the Injecting Files step (as in the original), not
    // the request; only then is the text kept, to be sent on as it came.
    auto decoded = base64_decode(f.raw_content);
    f.content_ok = decoded.has_value();
    if (decoded) {
        f.content = std::move(*decoded);
        f.raw_content.clear();
    }
}

void read_ssh_key(Walker& w, const json_t* v, const Path& at, std::string& key) {
    w.base64(v, at, key);
}

void read_container(Walker& w, const json_t* v, const Path& at, Container& c) {
    if (!w.expect_object(v, at, " with name and image")) return;
    w.text(v, at, "name", c.name, Need::required);
    w.text(v, at, "image", c.image, Need::required);
    w.text(v, at, "command", c.command, Need::optional);
    w.text(v, at, "entrypoint", c.entrypoint, Need::optional);
    w.text(v, at, "user", c.user, Need::optional);
    w.list(v, at, "env_vars", c.env_vars, read_env_var);
}

void read_credentials(Walker& w, const json_t* v, const Path& at, ImagePullCredentials& c) {
    if (!w.expect_object(v, at, " with env_vars and files")) return;
    w.list(v, at, "env_vars", c.env_vars, read_env_var);
    w.list(v, at, "files", c.files, read_file);
}

void read_compose(Walker& w, const json_t* root, Compose& c) {
    const json_t* v = w.object(root, "", "compose");
    if (!v) return;
    w.list(v, "compose", "containers", c.containers, read_container);
    w.list(v, "compose", "image_pull_credentials", c.image_pull_credentials, read_credentials);
    w.list(v, "compose", "host_setup_commands", c.host_setup_commands, read_command);
}

void read_executor(Walker& w, const json_t* root, std::string& executor) {
    w.text(root, "", "executor", executor, Need::optional);
    if (executor.empty()) executor = "shell";
    if (w.ok()) w.one_of("executor", executor, {"shell", "dockercompose"});
}

void read_callbacks(Walker& w, const json_t* root, Callbacks& c) {
    const json_t* v = w.object(root, "", "callbacks");
    if (!v) return;
    w.text(v, "callbacks", "finished", c.finished, Need::optional);
    w.text(v, "callbacks", "teardown_finished", c.teardown_finished, Need::optional);
    w.text(v, "callbacks", "token", c.token, Need::optional);
}

void read_max_size(Walker& w, const json_t* logger, long long& out) {
    const json_t* v = member(logger, "max_size_in_bytes");
    if (!v || !w.ok()) return;
    if (json_is_integer(v) && json_integer_value(v) >= 0) out = json_integer_value(v);
    else w.fail("logger.max_size_in_bytes", "expected a non-negative integer");
}

void read_logger(Walker& w, const json_t* root, Logger& l) {
    const json_t* v = w.object(root, "", "logger");
    if (!v) return;
    w.text(v, "logger", "method", l.method, Need::optional);
    if (l.method.empty()) l.method = "pull";
    if (w.ok()) w.one_of("logger.method", l.method, {"pull", "push"});
    w.text(v, "logger", "url", l.url, Need::optional);
    w.text(v, "logger", "token", l.token, Need::optional);
    read_max_size(w, v, l.max_size_in_bytes);
}

// ---- Size -----------------------------------------------------------------

// Upper bounds of what each part of the request takes in
// job_request_to_json's output, without building it.

size_t escaped_size(const std::string& s) {
    size_t n = 2;
    for (unsigned char c : s) {
        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') n += 2;
        else if (c < 0x20) n += 6;
        else n += 1;
    }
    return n;
}

size_t base64_size(size_t n) { return (n + 2) / 3 * 4 + 2; }

constexpr size_t kItemOverhead = 128;  // keys, braces and commas of one item, generously

size_t commands_size(const std::vector<Command>& cmds) {
    size_t n = 2;
    for (const auto& c : cmds) n += kItemOverhead + escaped_size(c.directive) + escaped_size(c.alias);
    return n;
}

size_t env_vars_size(const std::vector<EnvVar>& vars) {
    size_t n = 2;
    for (const auto& e : vars) n += kItemOverhead + escaped_size(e.name) + base64_size(e.value.size());
    return n;
}

size_t files_size(const std::vector<JobFile>& files) {
    size_t n = 2;
    for (const auto& f : files)
        n += kItemOverhead + escaped_size(f.path) + escaped_size(f.mode) +
             (f.content_ok ? base64_size(f.content.size()) : escaped_size(f.raw_content));
    return n;
}

size_t compose_size(const Compose& c) {
    size_t n = kItemOverhead + commands_size(c.host_setup_commands);
    for (const auto& k : c.containers)
        n += kItemOverhead + escaped_size(k.name) + escaped_size(k.image) + escaped_size(k.command) +
             escaped_size(k.entrypoint) + escaped_size(k.user) + env_vars_size(k.env_vars);
    for (const auto& p : c.image_pull_credentials)
        n += kItemOverhead + env_vars_size(p.env_vars) + files_size(p.files);
    return n;
}

// A request the worker could not be handed is refused here, naming its
// largest part, instead of failing the job later.
Status check_total_size(const JobRequest& j) {
    size_t keys = 2;
    for (const auto& k : j.ssh_public_keys) keys += base64_size(k.size()) + 1;
    std::pair<const char*, size_t> parts[] = {
        {"commands", commands_size(j.commands)},
        {"epilogue_always_commands", commands_size(j.epilogue_always_commands)},
        {"epilogue_on_pass_commands", commands_size(j.epilogue_on_pass_commands)},
        {"epilogue_on_fail_commands", commands_size(j.epilogue_on_fail_commands)},
        {"env_vars", env_vars_size(j.env_vars)},
        {"files", files_size(j.files)},
        {"compose", compose_size(j.compose)},
        {"ssh_public_keys", keys},
        {"callbacks", kItemOverhead + escaped_size(j.callbacks.finished) +
                          escaped_size(j.callbacks.teardown_finished) + escaped_size(j.callbacks.token)},
        {"logger", kItemOverhead + escaped_size(j.logger.url) + escaped_size(j.logger.token) +
                       escaped_size(j.logger.method)},
        {"job_id", escaped_size(j.job_id)},
    };
    size_t total = 1024;
    const std::pair<const char*, size_t>* largest = &parts[0];
    for (const auto& p : parts) {
        total += p.second;
        if (p.second > largest->second) largest = &p;
    }
    if (total <= kMaxJobRequestBytes) return Ok{};
    return err(std::string(largest->first) + ": the job request is about " + std::to_string(total) +
               " bytes, more than a job may have (" + std::to_string(kMaxJobRequestBytes) + "), and " +
               largest->first + " is the largest part of it (" + std::to_string(largest->second) + " bytes)");
}

// ---- Writing -------------------------------------------------------------

// Parsed strings are valid UTF-8 (jansson and the YAML mapping check). Should
// one not be, it is written unchecked so that the reader fails loudly rather
// than the field silently disappearing.
JsonPtr str(const std::string& s) {
    json_t* v = json_stringn(s.data(), s.size());
    return JsonPtr(v ? v : json_stringn_nocheck(s.data(), s.size()));
}

void put(json_t* obj, const char* key, JsonPtr v) { json_object_set_new(obj, key, v.release()); }
void put(json_t* obj, const char* key, const std::string& s) { put(obj, key, str(s)); }

template <class T, class ToJson>
JsonPtr array_of(const std::vector<T>& items, ToJson to_json) {
    JsonPtr arr(json_array());
    for (const T& item : items) json_array_append_new(arr.get(), to_json(item).release());
    return arr;
}

JsonPtr command_json(const Command& c) {
    JsonPtr o(json_object());
    put(o.get(), "directive", c.directive);
    if (!c.alias.empty()) put(o.get(), "alias", c.alias);
    return o;
}

JsonPtr env_var_json(const EnvVar& e) {
    JsonPtr o(json_object());
    put(o.get(), "name", e.name);
    put(o.get(), "value", base64_encode(e.value));
    return o;
}

JsonPtr file_json(const JobFile& f) {
    JsonPtr o(json_object());
    put(o.get(), "path", f.path);
    put(o.get(), "content", f.content_ok ? base64_encode(f.content) : f.raw_content);
    put(o.get(), "mode", f.mode);
    return o;
}

JsonPtr ssh_key_json(const std::string& key) { return str(base64_encode(key)); }

JsonPtr container_json(const Container& c) {
    JsonPtr o(json_object());
    put(o.get(), "name", c.name);
    put(o.get(), "image", c.image);
    put(o.get(), "command", c.command);
    put(o.get(), "entrypoint", c.entrypoint);
    put(o.get(), "user", c.user);
    put(o.get(), "env_vars", array_of(c.env_vars, env_var_json));
    return o;
}

JsonPtr credentials_json(const ImagePullCredentials& c) {
    JsonPtr o(json_object());
    put(o.get(), "env_vars", array_of(c.env_vars, env_var_json));
    put(o.get(), "files", array_of(c.files, file_json));
    return o;
}

JsonPtr compose_json(const Compose& c) {
    JsonPtr o(json_object());
    put(o.get(), "containers", array_of(c.containers, container_json));
    put(o.get(), "image_pull_credentials", array_of(c.image_pull_credentials, credentials_json));
    put(o.get(), "host_setup_commands", array_of(c.host_setup_commands, command_json));
    return o;
}

JsonPtr callbacks_json(const Callbacks& c) {
    JsonPtr o(json_object());
    put(o.get(), "finished", c.finished);
    put(o.get(), "teardown_finished", c.teardown_finished);
    put(o.get(), "token", c.token);
    return o;
}

JsonPtr logger_json(const Logger& l) {
    JsonPtr o(json_object());
    put(o.get(), "method", l.method);
    put(o.get(), "url", l.url);
    put(o.get(), "token", l.token);
    put(o.get(), "max_size_in_bytes", JsonPtr(json_integer(l.max_size_in_bytes)));
    return o;
}

}  // namespace

Result<JobRequest> parse_job_request(const json_t* root) {
    if (!json_is_object(root)) return err("job request: expected a JSON object");
    JobRequest j;
    Walker w;
    w.text(root, "", "job_id", j.job_id, Need::optional);
    read_executor(w, root, j.executor);
    read_compose(w, root, j.compose);
    w.list(root, "", "commands", j.commands, read_command);
    w.list(root, "", "epilogue_always_commands", j.epilogue_always_commands, read_command);
    w.list(root, "", "epilogue_on_pass_commands", j.epilogue_on_pass_commands, read_command);
    w.list(root, "", "epilogue_on_fail_commands", j.epilogue_on_fail_commands, read_command);
    w.list(root, "", "env_vars", j.env_vars, read_env_var);
    w.list(root, "", "files", j.files, read_file);
    read_callbacks(w, root, j.callbacks);
    read_logger(w, root, j.logger);
    w.list(root, "", "ssh_public_keys", j.ssh_public_keys, read_ssh_key);
    if (!w.ok()) return err(w.error());
    if (auto st = check_total_size(j); !st) return st.error();
    return j;
}

Result<JobRequest> parse_job_request_json(std::string_view text) {
    json_error_t e;
    // DECODE_ANY so that a scalar gets the same "expected a JSON object" as an
    // array; duplicate keys are allowed (the last wins), as in the original.
    JsonPtr root(json_loadb(text.data(), text.size(), JSON_DECODE_ANY, &e));
    if (!root)
        return err("invalid JSON at line " + std::to_string(e.line) + ", column " +
                   std::to_string(e.column) + ": " + e.text);
    return parse_job_request(root.get());
}

Result<JobRequest> parse_log_target_json(std::string_view text) {
    json_error_t e;
    JsonPtr root(json_loadb(text.data(), text.size(), JSON_DECODE_ANY, &e));
    return parse_log_target(root.get());
}

Result<JobRequest> parse_log_target(const json_t* root) {
    if (!root || !json_is_object(root)) return err("job request: not a JSON object");
    JobRequest j;
    Walker w;
    w.text(root, "", "job_id", j.job_id, Need::optional);
    read_logger(w, root, j.logger);
    if (!w.ok()) return err(w.error());
    return j;
}

std::string job_request_to_json(const JobRequest& j) { return json_dump(job_request_json(j).get()); }

JsonPtr job_request_json(const JobRequest& j) {
    JsonPtr o(json_object());
    put(o.get(), "job_id", j.job_id);
    put(o.get(), "executor", j.executor);
    put(o.get(), "compose", compose_json(j.compose));
    put(o.get(), "commands", array_of(j.commands, command_json));
    put(o.get(), "epilogue_always_commands", array_of(j.epilogue_always_commands, command_json));
    put(o.get(), "epilogue_on_pass_commands", array_of(j.epilogue_on_pass_commands, command_json));
    put(o.get(), "epilogue_on_fail_commands", array_of(j.epilogue_on_fail_commands, command_json));
    put(o.get(), "env_vars", array_of(j.env_vars, env_var_json));
    put(o.get(), "files", array_of(j.files, file_json));
    put(o.get(), "callbacks", callbacks_json(j.callbacks));
    put(o.get(), "logger", logger_json(j.logger));
    put(o.get(), "ssh_public_keys", array_of(j.ssh_public_keys, ssh_key_json));
    return o;
}

}  // namespace sa
