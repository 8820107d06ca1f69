// Serve mode's tokens: only HS256 JWTs signed with the configured secret.
#pragma once

#include "common/result.hpp"

#include <string>
#include <string_view>

namespace sa {

// Checks `token` (header.payload.signature). Refuses every algorithm but
// HS256 (`none` included), malformed parts, a wrong signature (compared in
// constant time) and an `exp` in the past. `now` is unix seconds.
Status verify_jwt_hs256(std::string_view token, std::string_view secret, long long now);

// Signs a payload JSON as an HS256 JWT (for tests and tools).
std::string sign_jwt_hs256(std::string_view payload_json, std::string_view secret);

}  // namespace sa
