#include "daemon/metrics/health.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace sa {

std::string rfc3339_seconds(long long unix_seconds) {
    time_t t = static_cast<time_t>(unix_seconds);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[64];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

Health evaluate_health(const HealthInput& in) {
    if (in.shutting_down) return {false, "shutting down"};
    if (in.draining) return {false, "draining"};
    if (!in.registered) return {false, "not registered"};
    uint64_t allowed = std::max<uint64_t>(3 * in.sync_interval_ms, 60000);
    allowed = std::min<uint64_t>(allowed, std::max<uint64_t>(in.give_up_ms / 2, 1000));
    uint64_t since = in.now_ms > in.last_sync_ok_ms ? in.now_ms - in.last_sync_ok_ms : 0;
    if (since <= allowed) return {true, "ok"};
    std::string r = "sync failing";
    if (in.sync_failing_since > 0) r += " since " + rfc3339_seconds(in.sync_failing_since);
    r += " (no successful sync for " + std::to_string(since / 1000) + " s)";
    return {false, r};
}

}  // namespace sa
