#include <doctest/doctest.h>

#include "daemon/selfhosted/api_answers.hpp"

#include <string>

using namespace sa;

namespace {

template <class R>
std::string why(const R& r) {
    return r ? "" : r.message();
}

}  // namespace

TEST_SUITE("api") {
    TEST_CASE("register: name and token are both optional, as in the original") {
        auto full = parse_register_response(R"({"name":"box-01","token":"t0k"})");
        REQUIRE(full);
        CHECK(full->name == "box-01");
        CHECK(full->token == "t0k");
        // The original's reference API answers with access_token only.
        auto only_access = parse_register_response(R"({"access_token":"x"})");
        REQUIRE(only_access);
        CHECK(only_access->token == "");
        CHECK(only_access->name == "");
        CHECK(parse_register_response("{}"));
        CHECK(parse_register_response(R"({"name":null,"token":null})"));
    }

    TEST_CASE("register: a wrong type or a non-object is an error naming the field") {
        CHECK(why(parse_register_response(R"({"token":42})")) == "register answer: token: expected a string");
        CHECK(why(parse_register_response(R"({"name":["a"]})")) == "register answer: name: expected a string");
        CHECK(why(parse_register_response("[]")) == "register answer is not a JSON object");
        CHECK(why(parse_register_response("nope")).rfind("register answer is not JSON", 0) == 0);
    }

    TEST_CASE("sync: absent fields default, wrong types are named") {
        auto s = parse_sync_response(R"({"action":"run-job","job_id":"j1","next_sync_after":1500})");
        REQUIRE(s);
        CHECK(s->action == SyncAction::RunJob);
        CHECK(s->action_text == "run-job");
        CHECK(s->job_id == "j1");
        CHECK(s->next_sync_after == 1500);
        auto empty = parse_sync_response("{}");
        REQUIRE(empty);
        CHECK(empty->action == SyncAction::Unknown);  // the listener ignores an unknown action
        CHECK(empty->action_text == "");
        CHECK(empty->next_sync_after == 0);
        CHECK(why(parse_sync_response(R"({"action":1})")) == "sync answer: action: expected a string");
        CHECK(why(parse_sync_response(R"({"action":"continue","next_sync_after":"5"})")) ==
              "sync answer: next_sync_after: expected a number");
    }

    TEST_CASE("sync: next_sync_after is clamped without an undefined cast") {
        CHECK(parse_sync_response(R"({"action":"continue","next_sync_after":1e300})")->next_sync_after ==
              24LL * 3600 * 1000);
        CHECK(parse_sync_response(R"({"action":"continue","next_sync_after":-5})")->next_sync_after == 0);
        CHECK(parse_sync_response(R"({"action":"continue","next_sync_after":-1e300})")->next_sync_after == 0);
        CHECK(parse_sync_response(R"({"action":"continue","next_sync_after":2500.7})")->next_sync_after == 2500);
    }

    TEST_CASE("sync: every action is parsed once; an unknown one keeps its text for the log") {
        for (auto [text, action] : {std::pair{"continue", SyncAction::Continue}, std::pair{"run-job", SyncAction::RunJob},
                                    std::pair{"stop-job", SyncAction::StopJob}, std::pair{"shutdown", SyncAction::Shutdown},
                                    std::pair{"wait-for-jobs", SyncAction::WaitForJobs}}) {
            auto s = parse_sync_response(std::string(R"({"action":")") + text + "\"}");
            REQUIRE(s);
            CHECK(s->action == action);
            CHECK(s->action_text == text);
        }
        auto odd = parse_sync_response(R"({"action":"Run-Job"})");
        REQUIRE(odd);
        CHECK(odd->action == SyncAction::Unknown);
        CHECK(odd->action_text == "Run-Job");
    }

    TEST_CASE("refresh: the token is what it is for") {
        CHECK(parse_refresh_response(R"({"token":"new"})").value() == "new");
        CHECK(why(parse_refresh_response("{}")) == "refresh answer: token: missing");
        CHECK(why(parse_refresh_response(R"({"token":7})")) == "refresh answer: token: expected a string");
    }
}
