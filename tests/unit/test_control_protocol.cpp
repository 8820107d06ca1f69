#include <doctest/doctest.h>

#include "common/control_protocol.hpp"

#include <string>

using namespace sa;

TEST_SUITE("control") {
    TEST_CASE("every command's name parses back to it; nothing else parses") {
        for (auto c : {control::Command::Status, control::Command::Drain, control::Command::Metrics,
                       control::Command::Health})
            CHECK(control::parse_command(control::command_name(c)) == c);
        for (const char* bad : {"", "Status", "status ", "frobnicate", "stat"})
            CHECK_FALSE(control::parse_command(bad).has_value());
    }

    TEST_CASE("the request is the JSON object the agent has always read") {
        CHECK(control::request(control::Command::Status) == R"({"command":"status"})");
        CHECK(control::request(control::Command::Drain) == R"({"command":"drain"})");
        json_error_t e;
        JsonPtr o(json_loads(control::request(control::Command::Health).c_str(), 0, &e));
        REQUIRE(o);
        CHECK(std::string(json_string_value(json_object_get(o.get(), control::kCommandKey))) == "health");
    }

    TEST_CASE("answers: ok, and the fields agentctl reads") {
        CHECK(json_dump(control::refusal("command: missing").get()) == R"({"ok":false,"error":"command: missing"})");
        CHECK(json_dump(control::health_answer(false, "not registered").get()) ==
              R"({"ok":true,"healthy":false,"reason":"not registered"})");
        CHECK(json_dump(control::metrics_answer("# x\n").get()) == R"({"ok":true,"metrics":"# x\n"})");
        CHECK(json_dump(control::drain_answer("draining").get()) == R"({"ok":true,"message":"draining"})");
    }

    TEST_CASE("the socket paths") {
        CHECK(std::string(control::kDefaultSocketPath) == "/run/semaphore-agent/agent.sock");
        CHECK(std::string(control::kSocketEnv) == "SEMAPHORE_AGENT_CONTROL_SOCKET");
        CHECK(std::string(control::kSocketName) == "agent.sock");
        CHECK(control::kSocketMode == 0660);  // the agent's user and group, no one else
    }
}
