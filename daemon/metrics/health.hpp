// The health rule shared by GET /healthz and `agentctl health`: healthy when
// registered, not draining or shutting down, and the last successful sync is
// recent: within 3 sync intervals, and at least 60 s (less only when the
// agent itself gives up sooner, see HealthInput::give_up_ms).
#pragma once

#include <cstdint>
#include <string>

namespace sa {

struct HealthInput {
    bool registered = false, draining = false, shutting_down = false;
    uint64_t now_ms = 0, last_sync_ok_ms = 0;  // loop time
    uint64_t sync_interval_ms = 0;             // the last interval asked for
    long long sync_failing_since = 0;          // unix seconds of the first failure since the last success; 0: none
    // The agent shuts down (UNABLE_TO_SYNC) after this long without a
    // sync; health turns at half of it at the latest, so a check sees the
    // trouble before the agent is gone.
    uint64_t give_up_ms = 600000;
};

struct Health {
    bool ok = false;
    std::string reason;  // "ok", or why not
};

Health evaluate_health(const HealthInput& in);

// RFC 3339 UTC with seconds, e.g. 2026-11-30T02:36:29Z.
std::string rfc3339_seconds(long long unix_seconds);

}  // namespace sa
