#include <doctest/doctest.h>

#include "base64.hpp"
#include "job_request.hpp"

#include <string>

using namespace sa;

namespace {

const char* kFull = R"({
  "job_id": "job-1",
  "executor": "dockercompose",
  "compose": {
    "containers": [{"name": "main", "image": "ruby:3", "command": "sleep infinity",
                    "entrypoint": "", "user": "root",
                    "env_vars": [{"name": "C", "value": "Yw=="}]}],
    "image_pull_credentials": [{"env_vars": [{"name": "DOCKER_CREDENTIAL_TYPE", "value": "RG9ja2VySHVi"}],
                                "files": [{"path": "/root/.docker/config.json", "content": "e30=", "mode": "0644"}]}],
    "host_setup_commands": [{"directive": "docker info"}]
  },
  "commands": [{"directive": "echo hi"}, {"directive": "make test", "alias": "Tests"}],
  "epilogue_always_commands": [{"directive": "echo always"}],
  "epilogue_on_pass_commands": [{"directive": "echo pass"}],
  "epilogue_on_fail_commands": [{"directive": "echo fail"}],
  "env_vars": [{"name": "A", "value": "aGVsbG8="}, {"name": "EMPTY", "value": ""}],
  "files": [{"path": "~/.ssh/key", "content": "c2VjcmV0", "mode": "0600"}],
  "callbacks": {"finished": "https://x/finished", "teardown_finished": "https://x/teardown", "token": "cbt"},
  "logger": {"method": "push", "url": "https://x/logs", "token": "lt", "max_size_in_bytes": 1000},
  "ssh_public_keys": ["c3NoLXJzYSBBQUFB"],
  "some_future_field": {"ignored": true}
})";

std::string parse_error(const std::string& json) {
    auto r = parse_job_request_json(json);
    return r ? "" : r.message();
}

}  // namespace

TEST_SUITE("job_request") {
    TEST_CASE("a full request") {
        auto r = parse_job_request_json(kFull);
        REQUIRE(r);
        const JobRequest& j = *r;
        CHECK(j.job_id == "job-1");
        CHECK(j.executor == "dockercompose");
        REQUIRE(j.compose.containers.size() == 1);
        CHECK(j.compose.containers[0].image == "ruby:3");
        CHECK(j.compose.containers[0].env_vars[0].value == "c");
        CHECK(j.compose.image_pull_credentials[0].env_vars[0].value == "DockerHub");
        CHECK(j.compose.image_pull_credentials[0].files[0].content == "{}");
        CHECK(j.compose.host_setup_commands[0].directive == "docker info");
        REQUIRE(j.commands.size() == 2);
        CHECK(j.commands[1].alias == "Tests");
        CHECK(j.epilogue_on_fail_commands[0].directive == "echo fail");
        CHECK(j.env_vars[0].value == "hello");
        CHECK(j.env_vars[1].value.empty());
        CHECK(j.files[0].content == "secret");
        CHECK(j.files[0].mode == "0600");
        CHECK(j.callbacks.teardown_finished == "https://x/teardown");
        CHECK(j.logger.method == "push");
        CHECK(j.logger.max_size_in_bytes == 1000);
        CHECK(j.ssh_public_keys[0] == "ssh-rsa AAAA");
    }

    TEST_CASE("defaults for an almost empty request") {
        auto r = parse_job_request_json(R"({"commands": null})");
        REQUIRE(r);
        CHECK(r->executor == "shell");
        CHECK(r->logger.method == "pull");
        CHECK(r->commands.empty());
    }

    TEST_CASE("errors name the field and the problem") {
        CHECK(parse_error("[1]") == "job request: expected a JSON object");
        CHECK(parse_error(R"({"commands": "x"})") == "commands: expected a list");
        CHECK(parse_error(R"({"commands": [{"directive": "a"}, {"alias": "b"}]})") ==
              "commands[1].directive: required");
        CHECK(parse_error(R"({"commands": [{"directive": ["a"]}]})") ==
              "commands[0].directive: expected a string");
        CHECK(parse_error(R"({"commands": ["echo"]})").find("commands[0]: expected an object") == 0);
        CHECK(parse_error(R"({"env_vars": [{"name": "A", "value": "YQ=="}, {"name": "B", "value": "%%"}]})") ==
              "env_vars[1].value: not valid base64");
        CHECK(parse_error(R"({"env_vars": [{"name": "1A", "value": ""}]})") ==
              "env_vars[0].name: '1A' is not a valid variable name");
        CHECK(parse_error(R"({"files": [{"content": "", "mode": "0644"}]})") == "files[0].path: required");
        CHECK(parse_error(R"({"executor": "podman"})") ==
              "executor: 'podman' is not one of shell, dockercompose");
        CHECK(parse_error(R"({"logger": {"method": "carrier-pigeon"}})") ==
              "logger.method: 'carrier-pigeon' is not one of pull, push");
        CHECK(parse_error(R"({"logger": {"max_size_in_bytes": -1}})").find("logger.max_size_in_bytes") == 0);
        CHECK(parse_error(R"({"ssh_public_keys": ["%%"]})") == "ssh_public_keys[0]: not valid base64");
        CHECK(parse_error(R"({"compose": {"containers": [{"name": "main"}]}})") ==
              "compose.containers[0].image: required");
        CHECK(parse_error("{\"commands\": [}").find("invalid JSON at line 1") == 0);
    }

    TEST_CASE("bad file content fails the step later, not the parse") {
        auto r = parse_job_request_json(R"({"files": [{"path": "a", "content": "%%%", "mode": "0644"}]})");
        REQUIRE(r);
        CHECK_FALSE(r->files[0].content_ok);
        CHECK(r->files[0].raw_content == "%%%");
    }

    TEST_CASE("YAML of the same shape, with numbers where strings are meant") {
        auto r = parse_job_request_yaml(
            "job_id: 42\n"
            "commands:\n  - directive: echo hi\n  - directive: true\n    alias: 7\n"
            "files:\n  - path: f\n    content: eA==\n    mode: 644\n");
        REQUIRE(r);
        CHECK(r->job_id == "42");
        CHECK(r->commands[1].directive == "true");
        CHECK(r->commands[1].alias == "7");
        CHECK(r->files[0].mode == "644");
        auto bad = parse_job_request_yaml("commands:\n  - directive: [a]\n");
        CHECK_FALSE(bad);
        CHECK(bad.message() == "commands[0].directive: expected a string");
    }

    TEST_CASE("JSON or YAML is picked from the first character") {
        CHECK(parse_job_request_any("  {\"job_id\": \"x\"}")->job_id == "x");
        CHECK(parse_job_request_any("job_id: y\n")->job_id == "y");
    }

    TEST_CASE("round trip through job_request_to_json is lossless") {
        auto a = parse_job_request_json(kFull);
        REQUIRE(a);
        auto b = parse_job_request_json(job_request_to_json(*a));
        REQUIRE(b);
        CHECK(job_request_to_json(*a) == job_request_to_json(*b));
        CHECK(b->files[0].content == "secret");
        CHECK(b->commands[1].alias == "Tests");
        auto c = parse_job_request_json(R"({"files": [{"path": "a", "content": "%%%", "mode": "x"}]})");
        auto d = parse_job_request_json(job_request_to_json(*c));
        REQUIRE(d);
        CHECK_FALSE(d->files[0].content_ok);
        CHECK(d->files[0].mode == "x");
    }
}
