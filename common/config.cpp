#include "config.hpp"

#include "agent_log.hpp"
#include "json.hpp"
#include "yaml_json.hpp"

#include <strings.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace sa {

namespace {

enum class Kind { String, Bool, Int, List };

// One row per `start` setting of protocol.md section 1.
struct Key {
    const char* name;
    Kind kind;
    bool non_negative = false;
};

const Key kKeys[] = {
    {"endpoint", Kind::String},
    {"token", Kind::String},
    {"no-https", Kind::Bool},
    {"name", Kind::String},
    {"name-from-env", Kind::String},
    {"disconnect-after-job", Kind::Bool},
    {"job-id", Kind::String},
    {"disconnect-after-idle-timeout", Kind::Int, true},
    {"interruption-grace-period", Kind::Int, true},
    {"shutdown-hook-path", Kind::String},
    {"pre-job-hook-path", Kind::String},
    {"post-job-hook-path", Kind::String},
    {"source-pre-job-hook", Kind::Bool},
    {"fail-on-pre-job-hook-error", Kind::Bool},
    {"env-vars", Kind::List},
    {"files", Kind::List},
    {"fail-on-missing-files", Kind::Bool},
    {"upload-job-logs", Kind::String},
    {"kubernetes-executor", Kind::Bool},
    {"kubernetes-pod-spec", Kind::String},
    {"kubernetes-allowed-images", Kind::List},
    {"kubernetes-pod-start-timeout", Kind::Int, true},
    {"kubernetes-labels", Kind::List},
    {"kubernetes-default-image", Kind::String},
};

const Key* find_key(const std::string& name) {
    for (const auto& k : kKeys)
        if (name == k.name) return &k;
    return nullptr;
}

std::string env_name(const std::string& key) {
    std::string s = "SEMAPHORE_AGENT_";
    for (char c : key) s += c == '-' ? '_' : static_cast<char>(toupper(static_cast<unsigned char>(c)));
    return s;
}

Error unrecognized(const std::string& key) {
    return Error{"Unrecognized option '" + key + "'. Exiting..."};
}

// A setting's raw value from one source, before typing.
struct Raw {
    std::vector<std::string> items;  // lists; scalars use items[0]
    std::string source;              // "--key", "SEMAPHORE_AGENT_KEY", "config file X"
};

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t c = s.find(',', start);
        if (c == std::string::npos) c = s.size();
        std::string part = s.substr(start, c - start);
        if (!part.empty()) out.push_back(part);
        start = c + 1;
    }
    return out;
}

Result<bool> parse_bool(const std::string& key, const std::string& v) {
    static const char* yes[] = {"true", "1", "yes", "on"};
    static const char* no[] = {"false", "0", "no", "off"};
    for (const char* y : yes)
        if (strcasecmp(v.c_str(), y) == 0) return true;
    for (const char* n : no)
        if (strcasecmp(v.c_str(), n) == 0) return false;
    return err(key + ": '" + v + "' is not a boolean (true or false)");
}

Result<long long> parse_int(const std::string& key, const std::string& v, bool non_negative) {
    errno = 0;
    char* end = nullptr;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0)
        return err(key + ": '" + v + "' is not a whole number");
    if (non_negative && x < 0) return err(key + ": must be 0 or more, not " + v);
    return x;
}

// YAML values become the same raw strings a flag would carry.
Result<Raw> raw_from_json(const std::string& key, const json_t* v, Kind kind,
                          const std::string& source) {
    Raw r;
    r.source = source;
    auto scalar = [&](const json_t* x, std::string& out) -> bool {
        if (json_is_string(x)) out = json_string_value(x);
        else if (json_is_integer(x)) out = std::to_string(json_integer_value(x));
        else if (json_is_boolean(x)) out = json_is_true(x) ? "true" : "false";
        else if (json_is_null(x)) out.clear();
        else return false;
        return true;
    };
    if (kind == Kind::List && json_is_array(v)) {
        size_t i;
        json_t* x;
        json_array_foreach(v, i, x) {
            std::string s;
            if (!scalar(x, s)) return err(key + "[" + std::to_string(i) + "]: expected a string");
            r.items.push_back(s);
        }
        return r;
    }
    std::string s;
    if (!scalar(v, s)) return err(key + ": expected " + (kind == Kind::List ? "a list" : "a single value"));
    if (kind == Kind::List) r.items = split_commas(s);
    else r.items.push_back(s);
    return r;
}

Status apply(Config& c, const Key& k, const Raw& raw) {
    std::string name = k.name;
    std::string v = raw.items.empty() ? "" : raw.items[0];
    switch (k.kind) {
    case Kind::Bool: {
        auto b = parse_bool(name, v);
        if (!b) return b.error();
        if (name == "no-https") c.no_https = *b;
        else if (name == "disconnect-after-job") c.disconnect_after_job = *b;
        else if (name == "source-pre-job-hook") c.source_pre_job_hook = *b;
        else if (name == "fail-on-pre-job-hook-error") c.fail_on_pre_job_hook_error = *b;
        else if (name == "fail-on-missing-files") c.fail_on_missing_files = *b;
        else if (name == "kubernetes-executor") c.kubernetes_executor = *b;
        return Ok{};
    }
    case Kind::Int: {
        auto n = parse_int(name, v, k.non_negative);
        if (!n) return n.error();
        if (name == "disconnect-after-idle-timeout") c.disconnect_after_idle_timeout = *n;
        else if (name == "interruption-grace-period") c.interruption_grace_period = *n;
        else if (name == "kubernetes-pod-start-timeout") c.kubernetes_pod_start_timeout = *n;
        return Ok{};
    }
    case Kind::List: {
        if (name == "env-vars") {
            for (const auto& e : raw.items) {
                size_t eq = e.find('=');
                if (eq == std::string::npos || eq == 0)
                    return err("env-vars: '" + e + "' is not NAME=VALUE");
            }
            c.env_vars = raw.items;
        } else if (name == "files") {
            for (const auto& f : raw.items) {
                size_t colon = f.find(':');
                if (colon == std::string::npos || colon == 0 || colon + 1 == f.size())
                    return err("files: '" + f + "' is not HOSTPATH:DEST");
            }
            c.files = raw.items;
        } else if (name == "kubernetes-allowed-images") {
            c.kubernetes_allowed_images = raw.items;
        } else if (name == "kubernetes-labels") {
            c.kubernetes_labels = raw.items;
        }
        return Ok{};
    }
    case Kind::String:
        if (name == "endpoint") c.endpoint = v;
        else if (name == "token") c.token = v;
        else if (name == "name") c.name = v;
        else if (name == "name-from-env") c.name_from_env = v;
        else if (name == "job-id") c.job_id = v;
        else if (name == "shutdown-hook-path") c.shutdown_hook_path = v;
        else if (name == "pre-job-hook-path") c.pre_job_hook_path = v;
        else if (name == "post-job-hook-path") c.post_job_hook_path = v;
        else if (name == "kubernetes-pod-spec") c.kubernetes_pod_spec = v;
        else if (name == "kubernetes-default-image") c.kubernetes_default_image = v;
        else if (name == "upload-job-logs") {
            if (v != "never" && v != "always" && v != "when-trimmed")
                return err("upload-job-logs: '" + v + "' is not one of never, always, when-trimmed");
            c.upload_job_logs = v;
        }
        return Ok{};
    }
    return Ok{};
}

struct Flags {
    std::string config_file;
    std::map<std::string, Raw> values;
};

Result<Flags> parse_flags(const std::vector<std::string>& args) {
    Flags f;
    for (size_t i = 0; i < args.size(); i++) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) != 0 && !(a.size() > 1 && a[0] == '-'))
            return err("unexpected argument '" + a + "'");
        std::string body = a.substr(a[1] == '-' ? 2 : 1), value;
        bool has_value = false;
        if (size_t eq = body.find('='); eq != std::string::npos) {
            value = body.substr(eq + 1);
            body = body.substr(0, eq);
            has_value = true;
        }
        if (body == "config-file") {
            if (!has_value) {
                if (i + 1 >= args.size()) return err("config-file: needs a value");
                value = args[++i];
            }
            f.config_file = value;
            continue;
        }
        const Key* k = find_key(body);
        if (!k) return unrecognized(body);
        if (!has_value) {
            // A bare boolean flag means true; `--flag false` is also accepted.
            if (k->kind == Kind::Bool) {
                if (i + 1 < args.size() && parse_bool(body, args[i + 1])) value = args[++i];
                else value = "true";
            } else {
                if (i + 1 >= args.size()) return err(body + ": needs a value");
                value = args[++i];
            }
        }
        Raw& r = f.values[body];
        r.source = "--" + body;
        if (k->kind == Kind::List) {
            for (auto& item : split_commas(value)) r.items.push_back(item);
        } else {
            r.items = {value};
        }
    }
    return f;
}

Result<std::map<std::string, Raw>> read_file_values(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return err("config file " + path + ": cannot be read: " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    auto root = yaml_to_json(ss.str());
    if (!root) return err("config file " + path + ": " + root.message());
    std::map<std::string, Raw> out;
    if (json_is_null(root->get())) return out;  // an empty file sets nothing
    if (!json_is_object(root->get()))
        return err("config file " + path + ": expected a mapping of keys to values");
    const char* key;
    json_t* v;
    json_object_foreach(root->get(), key, v) {
        const Key* k = find_key(key);
        if (!k) return unrecognized(key);
        auto raw = raw_from_json(key, v, k->kind, "config file " + path);
        if (!raw) return err("config file " + path + ": " + raw.message());
        out[key] = std::move(raw.value());
    }
    return out;
}

bool looks_like_url(const std::string& s) {
    size_t p = s.find("://");
    if (p == std::string::npos) return false;
    std::string scheme = s.substr(0, p);
    if (scheme != "http" && scheme != "https") return false;
    std::string rest = s.substr(p + 3);
    return !rest.empty() && rest[0] != '/';
}

}  // namespace

std::string Config::api_base() const {
    return std::string(no_https ? "http" : "https") + "://" + endpoint +
           "/api/v1/self_hosted_agents";
}

EnvLookup process_env() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    };
}

Result<Config> load_config(const std::vector<std::string>& args, const EnvLookup& env) {
    auto flags = parse_flags(args);
    if (!flags) return flags.error();
    Config c;
    c.config_file = flags->config_file;
    std::map<std::string, Raw> file_values;
    if (!c.config_file.empty()) {
        auto fv = read_file_values(c.config_file);
        if (!fv) return fv.error();
        file_values = std::move(fv.value());
    }
    // Lowest precedence first, so later sources overwrite earlier ones.
    for (const auto& k : kKeys) {
        const Raw* chosen = nullptr;
        Raw from_env;
        if (auto it = flags->values.find(k.name); it != flags->values.end()) {
            chosen = &it->second;
        } else if (auto v = env(env_name(k.name))) {
            from_env.source = env_name(k.name);
            if (k.kind == Kind::List) from_env.items = split_commas(*v);
            else from_env.items = {*v};
            chosen = &from_env;
        } else if (auto it = file_values.find(k.name); it != file_values.end()) {
            chosen = &it->second;
        }
        if (!chosen) continue;
        if (auto st = apply(c, k, *chosen); !st) {
            std::string where = chosen->source.rfind("config file", 0) == 0 ? chosen->source + ": " : "";
            return err(where + st.message() + (where.empty() ? " (from " + chosen->source + ")" : ""));
        }
    }
    if (auto v = env("SEMAPHORE_AGENT_LOG_LEVEL")) {
        LogLevel l;
        if (!parse_log_level(*v, l))
            return err("SEMAPHORE_AGENT_LOG_LEVEL: '" + *v +
                       "' is not one of trace, debug, info, warn, error, fatal, panic");
        c.log_level = *v;
    }
    if (auto v = env("SEMAPHORE_AGENT_LOG_FILE_PATH")) c.log_file_path = *v;
    if (auto v = env("SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE")) {
        auto n = parse_int("SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE", *v, true);
        if (!n) return n.error();
        if (*n < (1LL << 20) || *n > (1LL << 30))
            return err("SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE: " + *v +
                       " is outside 1048576..1073741824 bytes (1 MiB..1 GiB)");
        c.logs_compression_size = *n;
    }
    // name-from-env names a variable holding the name (deprecated, still honoured).
    if (!c.name_from_env.empty()) {
        auto v = env(c.name_from_env);
        if (!v || v->empty())
            return err("name-from-env: the variable " + c.name_from_env + " is not set or empty");
        c.name = *v;
    }
    return c;
}

Status validate_config(const Config& c) {
    if (c.endpoint.empty())
        return err("endpoint: required (--endpoint, SEMAPHORE_AGENT_ENDPOINT or `endpoint:` in the config file)");
    if (c.token.empty())
        return err("token: required (--token, SEMAPHORE_AGENT_TOKEN or `token:` in the config file)");
    if (!c.name.empty() && !looks_like_url(c.name) && (c.name.size() < 8 || c.name.size() > 80))
        return err("name: '" + c.name + "' must be 8 to 80 characters long (it is " +
                   std::to_string(c.name.size()) + ")");
    if (!c.job_id.empty() && !c.disconnect_after_job)
        return err("job-id: can only be used together with disconnect-after-job");
    return Ok{};
}

std::string describe_config(const Config& c) {
    std::string out;
    auto line = [&](const char* k, const std::string& v) {
        std::string q;
        json_append_string(q, v);  // a JSON string is a valid YAML scalar
        out += std::string(k) + ": " + q + "\n";
    };
    auto flag = [&](const char* k, bool b) { out += std::string(k) + ": " + (b ? "true" : "false") + "\n"; };
    auto num = [&](const char* k, long long n) { out += std::string(k) + ": " + std::to_string(n) + "\n"; };
    auto list = [&](const char* k, const std::vector<std::string>& v) {
        if (v.empty()) {
            out += std::string(k) + ": []\n";
            return;
        }
        out += std::string(k) + ":\n";
        for (const auto& s : v) {
            std::string q;
            json_append_string(q, s);
            out += "  - " + q + "\n";
        }
    };
    line("endpoint", c.endpoint);
    line("token", c.token.empty() ? "" : "***");
    flag("no-https", c.no_https);
    line("name", c.name);
    line("name-from-env", c.name_from_env);
    flag("disconnect-after-job", c.disconnect_after_job);
    line("job-id", c.job_id);
    num("disconnect-after-idle-timeout", c.disconnect_after_idle_timeout);
    num("interruption-grace-period", c.interruption_grace_period);
    line("shutdown-hook-path", c.shutdown_hook_path);
    line("pre-job-hook-path", c.pre_job_hook_path);
    line("post-job-hook-path", c.post_job_hook_path);
    flag("source-pre-job-hook", c.source_pre_job_hook);
    flag("fail-on-pre-job-hook-error", c.fail_on_pre_job_hook_error);
    // Values of env-vars may be secrets: show the names only.
    std::vector<std::string> env_names;
    for (const auto& e : c.env_vars) env_names.push_back(e.substr(0, e.find('=')) + "=***");
    list("env-vars", env_names);
    list("files", c.files);
    flag("fail-on-missing-files", c.fail_on_missing_files);
    line("upload-job-logs", c.upload_job_logs);
    flag("kubernetes-executor", c.kubernetes_executor);
    line("kubernetes-pod-spec", c.kubernetes_pod_spec);
    list("kubernetes-allowed-images", c.kubernetes_allowed_images);
    num("kubernetes-pod-start-timeout", c.kubernetes_pod_start_timeout);
    list("kubernetes-labels", c.kubernetes_labels);
    line("kubernetes-default-image", c.kubernetes_default_image);
    out += "# environment only\n";
    line("SEMAPHORE_AGENT_LOG_LEVEL", c.log_level);
    line("SEMAPHORE_AGENT_LOG_FILE_PATH", c.log_file_path);
    num("SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE", c.logs_compression_size);
    out += "# API: " + c.api_base() + "\n";
    return out;
}

}  // namespace sa
