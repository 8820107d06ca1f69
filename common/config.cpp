#include "common/config.hpp"

#include "common/cgroup.hpp"

#include "common/agent_log.hpp"
#include "common/fs.hpp"
#include "common/job_env.hpp"
#include "common/job_limits.hpp"
#include "common/json.hpp"
#include "common/unique_fd.hpp"
#include "common/yaml_json.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>

namespace sa {

namespace {

enum class Kind { String, Bool, Int, List };

// Checks one value (each item, for lists) once it is known where it came from.
using Check = Status (*)(const std::string& key, const std::string& value);

// One row per `start` setting of protocol.md section 1: its name, its type
// and the Config member it fills.
struct Key {
    const char* name = nullptr;
    Kind kind = Kind::String;
    std::string Config::*text = nullptr;
    bool Config::*flag = nullptr;
    long long Config::*number = nullptr;
    std::vector<std::string> Config::*list = nullptr;
    Check check = nullptr;
};

Key text_key(const char* name, std::string Config::*m, Check check = nullptr) {
    Key k;
    k.name = name;
    k.kind = Kind::String;
    k.text = m;
    k.check = check;
    return k;
}

Key bool_key(const char* name, bool Config::*m) {
    Key k;
    k.name = name;
    k.kind = Kind::Bool;
    k.flag = m;
    return k;
}

// Every integer setting is a duration or a count, so all must be >= 0.
Key int_key(const char* name, long long Config::*m) {
    Key k;
    k.name = name;
    k.kind = Kind::Int;
    k.number = m;
    return k;
}

Key list_key(const char* name, std::vector<std::string> Config::*m, Check check = nullptr) {
    Key k;
    k.name = name;
    k.kind = Kind::List;
    k.list = m;
    k.check = check;
    return k;
}

Status check_upload_job_logs(const std::string& key, const std::string& v) {
    if (v == "never" || v == "always" || v == "when-trimmed") return Ok{};
    return err(key + ": '" + v + "' is not one of never, always, when-trimmed");
}

Status check_env_var(const std::string& key, const std::string& v) {
    if (!split_env_assignment(v)) return err(key + ": '" + v + "' is not NAME=VALUE");
    return Ok{};
}

Status check_file(const std::string& key, const std::string& v) {
    size_t colon = v.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == v.size())
        return err(key + ": '" + v + "' is not HOSTPATH:DEST");
    return Ok{};
}

Status check_size(const std::string& key, const std::string& v) {
    long long bytes;
    if (v.empty() || parse_size(v, bytes)) return Ok{};
    return err(key + ": '" + v + "' is not a size like 512M, 2G or max");
}

Status check_cpus(const std::string& key, const std::string& v) {
    if (v.empty() || parse_cpus(v)) return Ok{};
    return err(key + ": '" + v + "' is not a number of CPUs like 1.5");
}

Status check_log_format(const std::string& key, const std::string& v) {
    if (v == "text" || v == "json") return Ok{};
    return err(key + ": '" + v + "' is not one of text, json");
}

// HOST:PORT with an IP address host ([v6]:port for IPv6) and a port 1..65535.
Status check_listen(const std::string& key, const std::string& v) {
    if (v.empty()) return Ok{};
    std::string host;
    int port = 0;
    if (!split_listen_address(v, host, port))
        return err(key + ": '" + v + "' is not HOST:PORT with an IP address and a port 1-65535, like 127.0.0.1:9464");
    return Ok{};
}

Status check_isolation(const std::string& key, const std::string& v) {
    if (v == "default" || v == "strict") return Ok{};
    return err(key + ": '" + v + "' is not one of default, strict");
}

std::optional<bool> bool_word(const std::string& v);

// ec2-lifecycle-watch: a boolean, or auto (watch only where IMDS is found).
Status check_ec2_watch(const std::string& key, const std::string& v) {
    if (strcasecmp(v.c_str(), "auto") == 0 || bool_word(v)) return Ok{};
    return err(key + ": '" + v + "' is not one of true, false, auto");
}

const std::vector<Key>& keys() {
    static const std::vector<Key> k = {
        text_key("endpoint", &Config::endpoint),
        text_key("token", &Config::token),
        bool_key("no-https", &Config::no_https),
        text_key("name", &Config::name),
        text_key("name-from-env", &Config::name_from_env),
        bool_key("disconnect-after-job", &Config::disconnect_after_job),
        text_key("job-id", &Config::job_id),
        int_key("disconnect-after-idle-timeout", &Config::disconnect_after_idle_timeout),
        int_key("interruption-grace-period", &Config::interruption_grace_period),
        text_key("shutdown-hook-path", &Config::shutdown_hook_path),
        text_key("pre-job-hook-path", &Config::pre_job_hook_path),
        text_key("post-job-hook-path", &Config::post_job_hook_path),
        bool_key("source-pre-job-hook", &Config::source_pre_job_hook),
        bool_key("fail-on-pre-job-hook-error", &Config::fail_on_pre_job_hook_error),
        list_key("env-vars", &Config::env_vars, check_env_var),
        list_key("files", &Config::files, check_file),
        bool_key("fail-on-missing-files", &Config::fail_on_missing_files),
        text_key("upload-job-logs", &Config::upload_job_logs, check_upload_job_logs),
        bool_key("kubernetes-executor", &Config::kubernetes_executor),
        text_key("kubernetes-pod-spec", &Config::kubernetes_pod_spec),
        list_key("kubernetes-allowed-images", &Config::kubernetes_allowed_images),
        int_key("kubernetes-pod-start-timeout", &Config::kubernetes_pod_start_timeout),
        list_key("kubernetes-labels", &Config::kubernetes_labels),
        text_key("kubernetes-default-image", &Config::kubernetes_default_image),
        text_key("control-socket", &Config::control_socket),
        text_key("job-user", &Config::job_user),
        text_key("job-cgroup-parent", &Config::job_cgroup_parent),
        text_key("job-memory-max", &Config::job_memory_max, check_size),
        int_key("job-pids-max", &Config::job_pids_max),
        text_key("job-cpu-max", &Config::job_cpu_max, check_cpus),
        text_key("job-isolation", &Config::job_isolation, check_isolation),
        text_key("statsd-host", &Config::statsd_host),
        int_key("statsd-port", &Config::statsd_port),
        text_key("statsd-namespace", &Config::statsd_namespace),
        text_key("metrics-listen", &Config::metrics_listen, check_listen),
        text_key("log-format", &Config::log_format, check_log_format),
        text_key("ec2-lifecycle-watch", &Config::ec2_lifecycle_watch, check_ec2_watch),
    };
    return k;
}

const Key* find_key(const std::string& name) {
    for (const auto& k : keys())
        if (name == k.name) return &k;
    return nullptr;
}

std::string env_name(const std::string& key) {
    std::string s = "SEMAPHORE_AGENT_";
    for (char c : key) s += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

Error unrecognized(const std::string& key) {
    return err("Unrecognized option '" + key + "'. Exiting...");
}

// A setting's raw value from one source, before typing.
struct Raw {
    std::vector<std::string> items;  // lists; scalars use items[0]
    std::string source;              // "--key", "SEMAPHORE_AGENT_KEY", "config file X"
};
using RawMap = std::map<std::string, Raw>;

// Empty items are dropped: "A=1,,B=2" and a trailing comma mean two entries.
std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t c = s.find(',', start);
        if (c == std::string::npos) c = s.size();
        if (c > start) out.push_back(s.substr(start, c - start));
        start = c + 1;
    }
    return out;
}

std::optional<bool> bool_word(const std::string& v) {
    for (const char* y : {"true", "1", "yes", "on"})
        if (strcasecmp(v.c_str(), y) == 0) return true;
    for (const char* n : {"false", "0", "no", "off"})
        if (strcasecmp(v.c_str(), n) == 0) return false;
    return std::nullopt;
}

Result<bool> parse_bool(const std::string& key, const std::string& v) {
    if (auto b = bool_word(v)) return *b;
    return err(key + ": '" + v + "' is not a boolean (true or false)");
}

// Whole decimal numbers only: no spaces, no '+', no trailing text.
Result<long long> parse_int(const std::string& key, const std::string& v, bool non_negative) {
    long long x = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size())
        return err(key + ": '" + v + "' is not a whole number");
    if (non_negative && x < 0) return err(key + ": must be 0 or more, not " + v);
    return x;
}

Status apply_text(Config& c, const Key& k, const std::string& v) {
    if (k.check)
        if (auto st = k.check(k.name, v); !st) return st;
    c.*k.text = v;
    return Ok{};
}

Status apply_list(Config& c, const Key& k, const std::vector<std::string>& items) {
    if (k.check)
        for (const auto& item : items)
            if (auto st = k.check(k.name, item); !st) return st;
    c.*k.list = items;
    return Ok{};
}

Status apply(Config& c, const Key& k, const Raw& raw) {
    std::string v = raw.items.empty() ? "" : raw.items.back();
    switch (k.kind) {
    case Kind::Bool: {
        auto b = parse_bool(k.name, v);
        if (!b) return b.error();
        c.*k.flag = *b;
        return Ok{};
    }
    case Kind::Int: {
        auto n = parse_int(k.name, v, true);
        if (!n) return n.error();
        c.*k.number = *n;
        return Ok{};
    }
    case Kind::List: return apply_list(c, k, raw.items);
    case Kind::String: return apply_text(c, k, v);
    }
    return Ok{};
}

// ---- flags ----

struct Flags {
    std::string config_file;
    RawMap values;
};

// `--key=value`, `--key value`, or a bare `--key` for booleans (a following
// true/false word is taken as its value).
struct FlagReader {
    const std::vector<std::string>& args;
    size_t i = 0;

    Result<std::string> value_for(const std::string& key, Kind kind, std::optional<std::string> inline_value) {
        if (inline_value) return *inline_value;
        bool has_next = i + 1 < args.size();
        if (kind == Kind::Bool) {
            if (has_next && bool_word(args[i + 1])) return args[++i];
            return std::string("true");
        }
        if (!has_next) return err(key + ": needs a value");
        return args[++i];
    }
};

Status add_flag(Flags& f, FlagReader& r) {
    const std::string& a = r.args[r.i];
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) return err("unexpected argument '" + a + "'");
    std::string key = a.substr(2);
    std::optional<std::string> inline_value;
    if (size_t eq = key.find('='); eq != std::string::npos) {
        inline_value = key.substr(eq + 1);
        key.resize(eq);
    }
    if (key == "config-file") {
        auto v = r.value_for(key, Kind::String, inline_value);
        if (!v) return v.error();
        f.config_file = *v;
        return Ok{};
    }
    const Key* k = find_key(key);
    if (!k) return unrecognized(key);
    auto v = r.value_for(key, k->kind, inline_value);
    if (!v) return v.error();
    Raw& raw = f.values[key];
    raw.source = "--" + key;
    // Repeated list flags add up; a repeated scalar flag: the last one wins.
    if (k->kind == Kind::List) {
        for (auto& item : split_commas(*v)) raw.items.push_back(item);
    } else {
        raw.items = {*v};
    }
    return Ok{};
}

Result<Flags> parse_flags(const std::vector<std::string>& args) {
    Flags f;
    FlagReader r{args};
    for (; r.i < args.size(); r.i++)
        if (auto st = add_flag(f, r); !st) return st.error();
    return f;
}

// ---- environment ----

// Like the original (viper), an empty variable counts as unset.
std::optional<std::string> env_value(const EnvLookup& env, const std::string& name) {
    auto v = env(name);
    if (!v || v->empty()) return std::nullopt;
    return v;
}

std::optional<Raw> raw_from_env(const EnvLookup& env, const Key& k) {
    std::string name = env_name(k.name);
    auto v = env_value(env, name);
    if (!v) return std::nullopt;
    Raw r;
    r.source = name;
    r.items = k.kind == Kind::List ? split_commas(*v) : std::vector<std::string>{*v};
    return r;
}

// ---- config file ----

constexpr size_t kMaxConfigFile = 1 << 20;

Result<std::string> read_small_file(const std::string& path) {
    auto text = read_file(path, {.max_bytes = kMaxConfigFile, .oversize = Oversize::Fail});
    if (!text && text.message().rfind("larger than", 0) == 0) return err("larger than 1 MiB");
    return text;
}

// A YAML scalar as the text a flag would carry; false for collections.
bool scalar_text(const json_t* x, std::string& out) {
    if (json_is_string(x)) out.assign(json_string_value(x), json_string_length(x));
    else if (json_is_integer(x)) out = std::to_string(json_integer_value(x));
    else if (json_is_boolean(x)) out = json_is_true(x) ? "true" : "false";
    else return false;
    return true;
}

// Lists are YAML sequences of strings (or one comma-separated string);
// other settings are single scalars.
Result<Raw> raw_from_yaml(const Key& k, const json_t* v) {
    Raw r;
    std::string s;
    if (k.kind == Kind::List && json_is_array(v)) {
        size_t i;
        json_t* x;
        json_array_foreach(v, i, x) {
            if (!scalar_text(x, s)) return err(std::string(k.name) + "[" + std::to_string(i) + "]: expected a string");
            r.items.push_back(s);
        }
        return r;
    }
    if (!scalar_text(v, s))
        return err(std::string(k.name) + ": expected " + (k.kind == Kind::List ? "a list of strings" : "a single value"));
    r.items = k.kind == Kind::List ? split_commas(s) : std::vector<std::string>{s};
    return r;
}

// Keys are matched case-insensitively, as viper did for the original agent.
Status add_yaml_value(RawMap& out, const std::string& where, const char* name, const json_t* v) {
    std::string key = lower(name);
    const Key* k = find_key(key);
    if (!k) return unrecognized(key);
    if (json_is_null(v)) return Ok{};  // `key:` with no value sets nothing
    if (out.count(key)) return err(where + ": " + key + " is given twice");
    auto raw = raw_from_yaml(*k, v);
    if (!raw) return err(where + ": " + raw.message());
    raw->source = where;
    out[key] = std::move(raw.value());
    return Ok{};
}

Result<RawMap> read_file_values(const std::string& path) {
    std::string where = "config file " + path;
    auto text = read_small_file(path);
    if (!text) return err(where + ": cannot be read: " + text.message());
    auto root = yaml_to_json(*text);
    if (!root) return err(where + ": " + root.message());
    RawMap out;
    if (json_is_null(root->get())) return out;  // an empty file sets nothing
    if (!json_is_object(root->get())) return err(where + ": expected a mapping of keys to values");
    const char* name;
    json_t* v;
    json_object_foreach(root->get(), name, v) {
        if (auto st = add_yaml_value(out, where, name, v); !st) return st.error();
    }
    return out;
}

// ---- merging ----

// Errors from flags and the environment say where the value came from;
// errors from the file already start with the file name.
Error with_source(const Raw& raw, const std::string& message) {
    if (raw.source.rfind("config file", 0) == 0) return err(raw.source + ": " + message);
    return err(message + " (from " + raw.source + ")");
}

Status merge_sources(Config& c, const Flags& flags, const RawMap& file, const EnvLookup& env) {
    for (const auto& k : keys()) {
        std::optional<Raw> chosen;
        if (auto it = flags.values.find(k.name); it != flags.values.end()) chosen = it->second;
        else if (auto e = raw_from_env(env, k)) chosen = std::move(e);
        else if (auto f = file.find(k.name); f != file.end()) chosen = f->second;
        if (!chosen) continue;
        if (auto st = apply(c, k, *chosen); !st) return with_source(*chosen, st.message());
    }
    return Ok{};
}

Status load_env_only(Config& c, const EnvLookup& env) {
    if (auto v = env_value(env, "SEMAPHORE_AGENT_LOG_LEVEL")) {
        LogLevel l;
        if (!parse_log_level(*v, l))
            return err("SEMAPHORE_AGENT_LOG_LEVEL: '" + *v +
                       "' is not one of trace, debug, info, warn, error, fatal, panic");
        c.log_level = lower(*v);
    }
    if (auto v = env_value(env, "SEMAPHORE_AGENT_LOG_FILE_PATH")) c.log_file_path = *v;
    if (auto v = env_value(env, "SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE")) {
        auto n = parse_int("SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE", *v, true);
        if (!n) return n.error();
        if (*n < kMinLogsCompressionSize || *n > kMaxLogsCompressionSize)
            return err("SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE: " + *v +
                       " is outside 1048576..1073741824 bytes (1 MiB..1 GiB)");
        c.logs_compression_size = *n;
    }
    // How long without a successful sync before UNABLE_TO_SYNC. The
    // original's 10 minutes is the default; tests shorten it.
    if (auto v = env_value(env, "SEMAPHORE_AGENT_UNABLE_TO_SYNC_SECONDS")) {
        auto n = parse_int("SEMAPHORE_AGENT_UNABLE_TO_SYNC_SECONDS", *v, true);
        if (!n) return n.error();
        if (*n < 1) return err("SEMAPHORE_AGENT_UNABLE_TO_SYNC_SECONDS: must be at least 1");
        c.unable_to_sync_seconds = *n;
    }
    return Ok{};
}

// name-from-env (deprecated) names a variable holding the name. As in the
// original agent, an explicit name wins over it.
Status resolve_name_from_env(Config& c, const EnvLookup& env) {
    if (c.name_from_env.empty() || !c.name.empty()) return Ok{};
    auto v = env_value(env, c.name_from_env);
    if (!v) return err("name-from-env: the variable " + c.name_from_env + " is not set or empty");
    c.name = *v;
    return Ok{};
}

// A URL name (a pre-signed AWS STS request): http(s)://HOST[...].
bool looks_like_url(const std::string& s) {
    size_t p = s.find("://");
    if (p == std::string::npos) return false;
    std::string scheme = lower(s.substr(0, p));
    if (scheme != "http" && scheme != "https") return false;
    for (unsigned char ch : s)
        if (ch <= ' ' || ch == 0x7f) return false;
    size_t host_end = s.find_first_of("/?#", p + 3);
    if (host_end == std::string::npos) host_end = s.size();
    return host_end > p + 3;
}

// ---- describe ----

std::string quoted(const std::string& s) {
    std::string q;
    json_append_string(q, s);  // a JSON string is a valid YAML scalar
    return q;
}

std::vector<std::string> masked_env_vars(const std::vector<std::string>& vars) {
    std::vector<std::string> out;
    for (const auto& e : vars) out.push_back(e.substr(0, e.find('=')) + "=***");
    return out;
}

class Describer {
public:
    void text(const char* k, const std::string& v) { out_ += std::string(k) + ": " + quoted(v) + "\n"; }
    void flag(const char* k, bool b) { out_ += std::string(k) + ": " + (b ? "true" : "false") + "\n"; }
    void number(const char* k, long long n) { out_ += std::string(k) + ": " + std::to_string(n) + "\n"; }
    void list(const char* k, const std::vector<std::string>& v) {
        out_ += std::string(k) + ":" + (v.empty() ? " []" : "") + "\n";
        for (const auto& s : v) out_ += "  - " + quoted(s) + "\n";
    }
    void comment(const std::string& c) { out_ += "# " + c + "\n"; }
    std::string str() const { return out_; }

private:
    std::string out_;
};

}  // namespace

// A URL name is a pre-signed request: its query string is a credential.
std::string masked_name(const std::string& name) {
    if (!looks_like_url(name)) return name;
    size_t q = name.find('?');
    return q == std::string::npos ? name : name.substr(0, q) + "?***";
}

std::string Config::api_base() const {
    return std::string(no_https ? "http" : "https") + "://" + endpoint + "/api/v1/self_hosted_agents";
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
    RawMap file_values;
    if (!c.config_file.empty()) {
        auto fv = read_file_values(c.config_file);
        if (!fv) return fv.error();
        file_values = std::move(fv.value());
    }
    if (auto st = merge_sources(c, *flags, file_values, env); !st) return st.error();
    if (auto st = load_env_only(c, env); !st) return st.error();
    if (auto st = resolve_name_from_env(c, env); !st) return st.error();
    return c;
}

namespace {

// The first kubernetes-* setting that differs from its default, or "".
std::string kubernetes_setting_in_use(const Config& c) {
    const Config d;
    if (c.kubernetes_executor) return "kubernetes-executor";
    if (c.kubernetes_pod_spec != d.kubernetes_pod_spec) return "kubernetes-pod-spec";
    if (c.kubernetes_allowed_images != d.kubernetes_allowed_images) return "kubernetes-allowed-images";
    if (c.kubernetes_pod_start_timeout != d.kubernetes_pod_start_timeout) return "kubernetes-pod-start-timeout";
    if (c.kubernetes_labels != d.kubernetes_labels) return "kubernetes-labels";
    if (c.kubernetes_default_image != d.kubernetes_default_image) return "kubernetes-default-image";
    return "";
}

}  // namespace

Status validate_config(const Config& c) {
    // The keys are parsed (so a fleet's file loads) but there is no executor
    // behind them: accepting them would run the job in the agent's own host
    // or container, which the setting was chosen to avoid.
    if (std::string k = kubernetes_setting_in_use(c); !k.empty())
        return err(k + ": the Kubernetes executor is not supported by this agent; "
                   "jobs would otherwise run in the agent's own environment (its host or container), "
                   "so it refuses to start. Remove the kubernetes-* settings to run jobs here.");
    if (c.endpoint.empty())
        return err("endpoint: required (--endpoint, SEMAPHORE_AGENT_ENDPOINT or `endpoint:` in the config file)");
    if (c.token.empty())
        return err("token: required (--token, SEMAPHORE_AGENT_TOKEN or `token:` in the config file)");
    if (!c.name.empty() && !looks_like_url(c.name) && (c.name.size() < 8 || c.name.size() > 80))
        return err("name: '" + c.name + "' must be 8 to 80 characters long (it is " +
                   std::to_string(c.name.size()) + ")");
    if (!c.job_id.empty() && !c.disconnect_after_job)
        return err("job-id: can only be used together with disconnect-after-job");
    if (c.statsd_port < 1 || c.statsd_port > 65535)
        return err("statsd-port: " + std::to_string(c.statsd_port) + " is not a UDP port (1 to 65535)");
    return Ok{};
}

bool split_listen_address(const std::string& v, std::string& host, int& port) {
    size_t colon = v.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= v.size()) return false;
    host = v.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    std::string p = v.substr(colon + 1);
    if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
    port = std::atoi(p.c_str());
    if (port < 1 || port > 65535) return false;
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string describe_config(const Config& c) {
    Describer d;
    d.text("config-file", c.config_file);
    d.text("endpoint", c.endpoint);
    d.text("token", c.token.empty() ? "" : "***");
    d.flag("no-https", c.no_https);
    d.text("name", masked_name(c.name));
    d.text("name-from-env", c.name_from_env);
    d.flag("disconnect-after-job", c.disconnect_after_job);
    d.text("job-id", c.job_id);
    d.number("disconnect-after-idle-timeout", c.disconnect_after_idle_timeout);
    d.number("interruption-grace-period", c.interruption_grace_period);
    d.text("shutdown-hook-path", c.shutdown_hook_path);
    d.text("pre-job-hook-path", c.pre_job_hook_path);
    d.text("post-job-hook-path", c.post_job_hook_path);
    d.flag("source-pre-job-hook", c.source_pre_job_hook);
    d.flag("fail-on-pre-job-hook-error", c.fail_on_pre_job_hook_error);
    d.list("env-vars", masked_env_vars(c.env_vars));  // values may be secrets
    d.list("files", c.files);
    d.flag("fail-on-missing-files", c.fail_on_missing_files);
    d.text("upload-job-logs", c.upload_job_logs);
    d.flag("kubernetes-executor", c.kubernetes_executor);
    d.text("kubernetes-pod-spec", c.kubernetes_pod_spec);
    d.list("kubernetes-allowed-images", c.kubernetes_allowed_images);
    d.number("kubernetes-pod-start-timeout", c.kubernetes_pod_start_timeout);
    d.list("kubernetes-labels", c.kubernetes_labels);
    d.text("kubernetes-default-image", c.kubernetes_default_image);
    d.text("control-socket", c.control_socket);
    d.text("job-user", c.job_user);
    d.text("job-cgroup-parent", c.job_cgroup_parent);
    d.text("job-memory-max", c.job_memory_max);
    d.number("job-pids-max", c.job_pids_max);
    d.text("job-cpu-max", c.job_cpu_max);
    d.text("job-isolation", c.job_isolation);
    d.text("statsd-host", c.statsd_host);
    d.number("statsd-port", c.statsd_port);
    d.text("statsd-namespace", c.statsd_namespace);
    d.text("metrics-listen", c.metrics_listen);
    d.text("log-format", c.log_format);
    d.text("ec2-lifecycle-watch", c.ec2_lifecycle_watch);
    d.comment("environment only");
    d.text("SEMAPHORE_AGENT_LOG_LEVEL", c.log_level);
    d.text("SEMAPHORE_AGENT_LOG_FILE_PATH", c.log_file_path);
    d.number("SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE", c.logs_compression_size);
    d.comment("API: " + c.api_base());
    return d.str();
}

CgroupLimits job_limits(const Config& c) {
    CgroupLimits l;
    if (!c.job_memory_max.empty()) parse_size(c.job_memory_max, l.memory_max);
    l.pids_max = c.job_pids_max;
    if (auto cpus = parse_cpus(c.job_cpu_max)) l.cpu_max = *cpus;
    return l;
}

}  // namespace sa
