#include "daemon/selfhosted/ec2_metadata.hpp"

#include "common/fs.hpp"
#include "common/json.hpp"

#include <strings.h>

#include <cctype>
#include <ctime>

namespace sa {

namespace {

std::string trim(std::string s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) b++;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) e--;
    return s.substr(b, e - b);
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool is_true_word(const std::string& v) { return strcasecmp(trim(v).c_str(), "true") == 0; }

}  // namespace

Result<Ec2WatchMode> parse_ec2_watch_mode(const std::string& text) {
    std::string v = trim(text);
    if (strcasecmp(v.c_str(), "auto") == 0) return Ec2WatchMode::Auto;
    for (const char* y : {"true", "1", "yes", "on"})
        if (strcasecmp(v.c_str(), y) == 0) return Ec2WatchMode::On;
    for (const char* n : {"false", "0", "no", "off"})
        if (strcasecmp(v.c_str(), n) == 0) return Ec2WatchMode::Off;
    return err("ec2-lifecycle-watch: '" + text + "' is not one of true, false, auto");
}

FileReader sysfs_reader() {
    return [](const std::string& path) -> std::optional<std::string> {
        auto text = read_file(path, ReadOptions{4096});
        if (!text) return std::nullopt;
        return std::move(text.value());
    };
}

bool host_looks_like_ec2(const FileReader& read) {
    for (const char* p : {"/sys/class/dmi/id/sys_vendor", "/sys/class/dmi/id/board_vendor"})
        if (auto v = read(p); v && v->find("Amazon EC2") != std::string::npos) return true;
    // Older Xen-based instance types have no DMI vendor but a uuid starting "ec2".
    if (auto v = read("/sys/hypervisor/uuid"); v && strncasecmp(trim(*v).c_str(), "ec2", 3) == 0)
        return true;
    return false;
}

Ec2WatchPlan plan_ec2_watch(Ec2WatchMode mode, const EnvLookup& env, const FileReader& read) {
    Ec2WatchPlan p;
    if (auto d = env("AWS_EC2_METADATA_DISABLED"); d && is_true_word(*d)) {
        p.why = "AWS_EC2_METADATA_DISABLED is true";
        return p;
    }
    if (mode == Ec2WatchMode::Off) {
        p.why = "ec2-lifecycle-watch is false";
        return p;
    }
    auto endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    bool explicit_endpoint = endpoint && !trim(*endpoint).empty();
    p.base_url = explicit_endpoint ? trim(*endpoint) : kDefaultImdsEndpoint;
    while (!p.base_url.empty() && p.base_url.back() == '/') p.base_url.pop_back();
    if (mode == Ec2WatchMode::On) {
        p.start = Ec2WatchStart::On;
        p.why = "ec2-lifecycle-watch is true";
        return p;
    }
    if (explicit_endpoint) {
        p.start = Ec2WatchStart::Probe;
        p.why = "AWS_EC2_METADATA_SERVICE_ENDPOINT is set";
    } else if (host_looks_like_ec2(read)) {
        p.start = Ec2WatchStart::Probe;
        p.why = "the DMI data says this is an EC2 instance";
    } else {
        p.base_url.clear();
        p.why = "this host does not look like EC2 (no Amazon EC2 DMI data) and "
                "AWS_EC2_METADATA_SERVICE_ENDPOINT is unset, so IMDS is never asked";
    }
    return p;
}

const char* interruption_source_name(InterruptionSource s) {
    return s == InterruptionSource::Spot ? "spot" : "scale-in";
}

std::optional<long long> parse_rfc3339_utc(const std::string& text) {
    std::string s = trim(text);
    struct tm tm {};
    const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) return std::nullopt;
    if (*rest == '.')
        for (rest++; std::isdigit(static_cast<unsigned char>(*rest));) rest++;
    std::string zone(rest);
    if (zone != "Z" && zone != "z" && zone != "+00:00") return std::nullopt;
    time_t t = timegm(&tm);
    if (t == static_cast<time_t>(-1)) return std::nullopt;
    return static_cast<long long>(t);
}

Result<Ec2Notice> parse_spot_instance_action(const std::string& body, long long now) {
    json_error_t e;
    JsonPtr root(json_loadb(body.data(), body.size(), 0, &e));
    if (!root || !json_is_object(root.get()))
        return err("spot/instance-action: the answer is not a JSON object");
    Ec2Notice n;
    n.source = InterruptionSource::Spot;
    const char* action = json_string_value(json_object_get(root.get(), "action"));
    n.action = action && *action ? action : "terminate";
    const char* when = json_string_value(json_object_get(root.get(), "time"));
    n.time_text = when ? when : "";
    auto t = parse_rfc3339_utc(n.time_text);
    n.deadline = t ? *t : now + 120;
    return n;
}

LifecycleMeaning classify_lifecycle_state(const std::string& body, bool was_in_service) {
    std::string s = trim(body);
    if (s == "InService" || starts_with(s, "Pending")) return LifecycleMeaning::InService;
    if (s == "Terminated" || starts_with(s, "Terminating") || starts_with(s, "Detach"))
        return LifecycleMeaning::LeavingService;
    if (starts_with(s, "Warmed:"))
        return was_in_service ? LifecycleMeaning::LeavingService : LifecycleMeaning::NotInService;
    if (s == "Standby" || s == "EnteringStandby") return LifecycleMeaning::NotInService;
    return LifecycleMeaning::Unknown;
}

}  // namespace sa
