// The self-hosted API's answers (protocol.md section 2), read as leniently
// as the original reads them and as strictly as safety needs: an absent or
// null field keeps its default, a field of the wrong type is an error that
// names it.
#pragma once

#include "common/json.hpp"
#include "common/result.hpp"
#include "daemon/selfhosted/sync_protocol.hpp"

#include <string>

namespace sa {

struct RegisterResponse {
    std::string name, token;  // either may be empty: keep our name, sync with ""
};

struct SyncResponse {
    // Unknown for an action this agent does not know, or none: the listener
    // logs action_text, ignores it and syncs again, as the original does.
    SyncAction action = SyncAction::Unknown;
    std::string action_text;  // the action as the API spelled it
    std::string job_id, shutdown_reason;
    long long next_sync_after = 0;  // ms, clamped to [0, a day]; 0 when not given
};

// The answer as a JSON object, or an error naming the route (`what`).
Result<JsonPtr> parse_answer_object(const std::string& body, const char* what);
Result<RegisterResponse> parse_register_response(const std::string& body);
Result<SyncResponse> parse_sync_response(const std::string& body);
// The new log token; an answer without one is an error (it cannot help).
Result<std::string> parse_refresh_response(const std::string& body);

}  // namespace sa
