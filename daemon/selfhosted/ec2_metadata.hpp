// What the EC2 lifecycle watcher decides without any I/O of its own:
// whether to watch at all (setting, AWS SDK variables, DMI data), and what
// an IMDS answer means. Pure functions, so the unit tests cover them.
#pragma once

#include "common/config.hpp"
#include "common/result.hpp"

#include <functional>
#include <optional>
#include <string>

namespace sa {

inline constexpr const char* kDefaultImdsEndpoint = "http://169.254.169.254";

enum class Ec2WatchMode { Off, On, Auto };

// ec2-lifecycle-watch: auto, or a boolean word (true/false, yes/no, on/off, 1/0).
Result<Ec2WatchMode> parse_ec2_watch_mode(const std::string& text);

enum class Ec2WatchStart {
    Off,    // never send anything
    Probe,  // auto: on only when IMDS answers the first token request within 1 s
    On,     // true: watch, and keep trying when IMDS does not answer
};

struct Ec2WatchPlan {
    Ec2WatchStart start = Ec2WatchStart::Off;
    std::string base_url;  // no trailing slash
    std::string why;       // in plain words, for the start-up log line
};

// Reads a small file (a /sys path); nullopt when it cannot be read.
using FileReader = std::function<std::optional<std::string>(const std::string& path)>;
FileReader sysfs_reader();

// True when DMI or the Xen hypervisor says this is an EC2 instance. Reading
// these files sends nothing, which is why `auto` looks at them first: this
// machine's rules (and many non-EC2 networks) forbid probing 169.254.169.254.
bool host_looks_like_ec2(const FileReader& read);

// Honours AWS_EC2_METADATA_DISABLED=true (off, whatever the setting) and
// AWS_EC2_METADATA_SERVICE_ENDPOINT (the base URL), as the AWS SDKs do.
Ec2WatchPlan plan_ec2_watch(Ec2WatchMode mode, const EnvLookup& env, const FileReader& read);

enum class InterruptionSource { Spot, ScaleIn };
// "spot" or "scale-in", as SEMAPHORE_AGENT_INTERRUPTION_SOURCE says it.
const char* interruption_source_name(InterruptionSource s);

struct Ec2Notice {
    InterruptionSource source = InterruptionSource::Spot;
    std::string action;       // terminate, stop, hibernate; or the lifecycle state
    long long deadline = 0;   // unix seconds; 0 when IMDS gives none (scale-in)
    std::string time_text;    // the deadline as IMDS wrote it
};

// The body of a 200 from /latest/meta-data/spot/instance-action:
// {"action": "terminate", "time": "2026-11-30T03:00:00Z"}. A notice whose
// time cannot be read is still a notice: its deadline is then taken as
// `now` + 120 s, the two minutes AWS promises.
Result<Ec2Notice> parse_spot_instance_action(const std::string& body, long long now);

enum class LifecycleMeaning {
    InService,       // InService, Pending*
    LeavingService,  // a scale-in notice
    NotInService,    // no notice: Standby, or a warm-pool instance not yet in service
    Unknown,
};
// /latest/meta-data/autoscaling/target-lifecycle-state. Terminated,
// Terminating*, Detached and Detaching* always mean the instance goes.
// Warmed:* means it goes back to the warm pool (stopped or hibernated)
// only once it has been InService: an instance launched into the pool
// starts there, and is not leaving anything. Standby keeps the instance
// (an operator takes it out and puts it back), so it is no notice.
LifecycleMeaning classify_lifecycle_state(const std::string& body, bool was_in_service);

// "2026-11-30T03:00:00Z" (fractions and a +00:00 offset accepted) to unix seconds.
std::optional<long long> parse_rfc3339_utc(const std::string& s);

}  // namespace sa
