#include "daemon/metrics/statsd_format.hpp"

namespace sa {

namespace {

bool tag_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

const char* suffix(StatsdKind k) {
    switch (k) {
    case StatsdKind::Counter: return "c";
    case StatsdKind::Gauge: return "g";
    case StatsdKind::Timing: return "ms";
    }
    return "c";
}

}  // namespace

std::string statsd_clean_tag(std::string_view tag) {
    std::string out;
    out.reserve(tag.size());
    bool in_run = false;
    for (char c : tag) {
        if (tag_char(c)) {
            out.push_back(c);
            in_run = false;
        } else if (!in_run) {
            out.push_back('_');
            in_run = true;
        }
    }
    return out;
}

std::string statsd_metric_name(std::string_view ns, const StatsdMetric& m) {
    std::string out;
    if (m.tagged) {
        out = "tagged.";
        if (!ns.empty()) out.append(ns).push_back('.');
        for (size_t i = 0; i < 3; i++) {
            // An empty tag counts as missing: an empty path component breaks Graphite.
            std::string t = i < m.tags.size() ? statsd_clean_tag(m.tags[i]) : "";
            out += t.empty() ? "no_tag" : t;
            out.push_back('.');
        }
    } else if (!ns.empty()) {
        out.append(ns).push_back('.');
    }
    out += m.name;
    return out;
}

std::string statsd_datagram(std::string_view ns, const StatsdMetric& m) {
    return statsd_metric_name(ns, m) + ":" + std::to_string(m.value) + "|" + suffix(m.kind);
}

}  // namespace sa
