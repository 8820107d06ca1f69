#include "daemon/selfhosted/api_answers.hpp"

#include <algorithm>
#include <utility>

namespace sa {

namespace {

// The original decodes answers into Go structs: an absent or null field
// keeps its zero value, an unknown one is ignored, and a field of the wrong
// type fails the whole answer. Same here, with the field named.
Status string_field(json_t* o, const char* what, const char* k, std::string& out) {
    json_t* v = json_object_get(o, k);
    if (!v || json_is_null(v)) return Ok{};
    if (!json_is_string(v)) return err(std::string(what) + " answer: " + k + ": expected a string");
    out.assign(json_string_value(v), json_string_length(v));
    return Ok{};
}

// Milliseconds. Any number is taken, clamped to [0, a day]: a negative one
// means "now" (0 syncs after the usual pause), and a day is plenty; the
// clamp happens in double, so even 1e300 has no undefined cast.
Status ms_field(json_t* o, const char* what, const char* k, long long& out) {
    json_t* v = json_object_get(o, k);
    if (!v || json_is_null(v)) return Ok{};
    if (!json_is_number(v)) return err(std::string(what) + " answer: " + k + ": expected a number");
    constexpr long long kMax = 24LL * 3600 * 1000;
    if (json_is_integer(v)) {
        out = std::clamp<long long>(json_integer_value(v), 0, kMax);
    } else {
        double d = std::clamp(json_real_value(v), 0.0, static_cast<double>(kMax));
        out = static_cast<long long>(d);
    }
    return Ok{};
}

}  // namespace

Result<JsonPtr> parse_answer_object(const std::string& body, const char* what) {
    json_error_t e;
    JsonPtr j(json_loadb(body.data(), body.size(), 0, &e));
    if (!j) return err(std::string(what) + " answer is not JSON: " + e.text);
    if (!json_is_object(j.get())) return err(std::string(what) + " answer is not a JSON object");
    return j;
}

Result<RegisterResponse> parse_register_response(const std::string& body) {
    auto j = parse_answer_object(body, "register");
    if (!j) return j.error();
    // Both may be absent (the original's reference API sends neither): the
    // agent keeps its own name and syncs with an empty access token.
    RegisterResponse r;
    if (auto st = string_field(j->get(), "register", "name", r.name); !st) return st.error();
    if (auto st = string_field(j->get(), "register", "token", r.token); !st) return st.error();
    return r;
}

Result<SyncResponse> parse_sync_response(const std::string& body) {
    auto j = parse_answer_object(body, "sync");
    if (!j) return j.error();
    // An absent action is an unknown one: the listener ignores it and syncs
    // again, as the original does with an action it does not know.
    SyncResponse r;
    for (auto [key, out] : {std::pair{"action", &r.action_text}, std::pair{"job_id", &r.job_id},
                            std::pair{"shutdown_reason", &r.shutdown_reason}})
        if (auto st = string_field(j->get(), "sync", key, *out); !st) return st.error();
    r.action = parse_sync_action(r.action_text).value_or(SyncAction::Unknown);
    if (auto st = ms_field(j->get(), "sync", "next_sync_after", r.next_sync_after); !st) return st.error();
    return r;
}

Result<std::string> parse_refresh_response(const std::string& body) {
    auto j = parse_answer_object(body, "refresh");
    if (!j) return j.error();
    // A refresh is asked for because the log token was refused: an answer
    // without one cannot help, so it counts as a failed refresh.
    std::string t;
    if (auto st = string_field(j->get(), "refresh", "token", t); !st) return st.error();
    if (t.empty()) return err("refresh answer: token: missing");
    return t;
}

}  // namespace sa
