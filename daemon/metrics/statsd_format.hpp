// The StatsD wire format of the original agent's metrics client, so that
// dashboards built on the original keep parsing ours. Pure functions: the
// unit tests pin every byte.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sa {

enum class StatsdKind { Counter, Gauge, Timing };

struct StatsdMetric {
    std::string name;
    long long value = 0;
    StatsdKind kind = StatsdKind::Counter;
    // Tagged metrics go out as `tagged.<ns>.<t1>.<t2>.<t3>.<name>`: always
    // three tags, the missing ones `no_tag`, more than three is a bug of the
    // caller (the extra ones are dropped). Untagged ones as `<ns>.<name>`.
    bool tagged = false;
    std::vector<std::string> tags;
};

// Every run of characters outside [a-zA-Z0-9-_] becomes one `_`, as the
// original's client does (its pattern is `[^a-zA-Z0-9-_]+`):
// `registry.io/org/img:1.2` -> `registry_io_org_img_1_2`.
std::string statsd_clean_tag(std::string_view tag);

// The metric's name on the wire, under namespace `ns`. An empty namespace
// drops its segment (`tagged.<t1>.<t2>.<t3>.<name>`, `<name>`) instead of
// leaving an empty path component that Graphite would refuse.
std::string statsd_metric_name(std::string_view ns, const StatsdMetric& m);

// One datagram: `<name>:<value>|c`, `|g` or `|ms`.
std::string statsd_datagram(std::string_view ns, const StatsdMetric& m);

}  // namespace sa
