#include <doctest/doctest.h>

#include "common/base64.hpp"
#include "common/job_request.hpp"
#include "common/frame.hpp"
#include "common/json.hpp"

#include <string>
#include <utility>
#include <vector>

using namespace sa;

namespace {

const char* kFull = R"({
  "job_id": "job-1",
  "executor": "dockercompose",
  "compose": {
    "containers": [{"name": "main", "image": "ruby:3", "command": "sleep infinity",
                    "entrypoint": "/bin/sh", "user": "root",
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

// The same request as a `run` job file.
const char* kFullYaml = R"(job_id: job-1
executor: dockercompose
compose:
  containers:
    - name: main
      image: "ruby:3"
      command: sleep infinity
      entrypoint: /bin/sh
      user: root
      env_vars:
        - name: C
          value: Yw==
  image_pull_credentials:
    - env_vars:
        - {name: DOCKER_CREDENTIAL_TYPE, value: RG9ja2VySHVi}
      files:
        - path: /root/.docker/config.json
          content: e30=
          mode: "0644"
  host_setup_commands:
    - directive: docker info
commands:
  - directive: echo hi
  - directive: make test
    alias: Tests
epilogue_always_commands:
  - directive: echo always
epilogue_on_pass_commands:
  - directive: echo pass
epilogue_on_fail_commands:
  - directive: echo fail
env_vars:
  - name: A
    value: aGVsbG8=
  - name: EMPTY
    value: ""
files:
  - path: ~/.ssh/key
    content: c2VjcmV0
    mode: "0600"
callbacks:
  finished: https://x/finished
  teardown_finished: https://x/teardown
  token: cbt
logger:
  method: push
  url: https://x/logs
  token: lt
  max_size_in_bytes: 1000
ssh_public_keys:
  - c3NoLXJzYSBBQUFB
some_future_field: {ignored: true}
)";

std::string parse_error(const std::string& json) {
    auto r = parse_job_request_json(json);
    return r ? "(parsed)" : r.message();
}

std::string yaml_error(const std::string& yaml) {
    auto r = parse_job_request_yaml(yaml);
    return r ? "(parsed)" : r.message();
}

JobRequest parse_ok(const std::string& json) {
    auto r = parse_job_request_json(json);
    if (!r) FAIL(r.message());
    return r ? std::move(r.value()) : JobRequest{};
}

JobRequest reparse(const JobRequest& j) {
    auto r = parse_job_request_json(job_request_to_json(j));
    if (!r) FAIL(r.message());
    return r ? std::move(r.value()) : JobRequest{};
}

void check_full(const JobRequest& j) {
    CHECK(j.job_id == "job-1");
    CHECK(j.executor == "dockercompose");
    REQUIRE(j.compose.containers.size() == 1);
    const Container& c = j.compose.containers[0];
    CHECK(c.name == "main");
    CHECK(c.image == "ruby:3");
    CHECK(c.command == "sleep infinity");
    CHECK(c.entrypoint == "/bin/sh");
    CHECK(c.user == "root");
    CHECK(c.env_vars == std::vector<EnvVar>{{"C", "c"}});
    REQUIRE(j.compose.image_pull_credentials.size() == 1);
    const ImagePullCredentials& p = j.compose.image_pull_credentials[0];
    CHECK(p.env_vars == std::vector<EnvVar>{{"DOCKER_CREDENTIAL_TYPE", "DockerHub"}});
    REQUIRE(p.files.size() == 1);
    CHECK(p.files[0].path == "/root/.docker/config.json");
    CHECK(p.files[0].content == "{}");
    CHECK(p.files[0].mode == "0644");
    CHECK(j.compose.host_setup_commands == std::vector<Command>{{"docker info", ""}});
    CHECK(j.commands == std::vector<Command>{{"echo hi", ""}, {"make test", "Tests"}});
    CHECK(j.epilogue_always_commands == std::vector<Command>{{"echo always", ""}});
    CHECK(j.epilogue_on_pass_commands == std::vector<Command>{{"echo pass", ""}});
    CHECK(j.epilogue_on_fail_commands == std::vector<Command>{{"echo fail", ""}});
    CHECK(j.env_vars == std::vector<EnvVar>{{"A", "hello"}, {"EMPTY", ""}});
    REQUIRE(j.files.size() == 1);
    CHECK(j.files[0].path == "~/.ssh/key");
    CHECK(j.files[0].content == "secret");
    CHECK(j.files[0].mode == "0600");
    CHECK(j.files[0].content_ok);
    CHECK(j.files[0].raw_content.empty());
    CHECK(j.callbacks == Callbacks{"https://x/finished", "https://x/teardown", "cbt"});
    CHECK(j.logger == Logger{"push", "https://x/logs", "lt", 1000});
    CHECK(j.ssh_public_keys == std::vector<std::string>{"ssh-rsa AAAA"});
}

}  // namespace

TEST_SUITE("job_request") {
    TEST_CASE("a full JSON request with every section") {
        check_full(parse_ok(kFull));
    }

    TEST_CASE("the same request in YAML") {
        auto r = parse_job_request_yaml(kFullYaml);
        REQUIRE_MESSAGE(r, r.message());
        check_full(*r);
        CHECK(*r == parse_ok(kFull));
    }

    TEST_CASE("defaults: everything may be absent or null") {
        JobRequest j = parse_ok("{}");
        CHECK(j == JobRequest{});
        CHECK(j.job_id.empty());
        CHECK(j.executor == "shell");
        CHECK(j.logger.method == "pull");
        CHECK(j.logger.max_size_in_bytes == 0);
        CHECK(j.commands.empty());
        const char* nulls = R"({"job_id": null, "executor": null, "compose": null, "commands": null,
            "epilogue_always_commands": null, "epilogue_on_pass_commands": null,
            "epilogue_on_fail_commands": null, "env_vars": null, "files": null,
            "callbacks": null, "logger": null, "ssh_public_keys": null})";
        CHECK(parse_ok(nulls) == JobRequest{});
        const char* inner_nulls = R"({"compose": {"containers": null, "image_pull_credentials": null,
            "host_setup_commands": null},
            "logger": {"method": null, "url": null, "token": null, "max_size_in_bytes": null},
            "callbacks": {"finished": null},
            "commands": [{"directive": "a", "alias": null}]})";
        JobRequest k = parse_ok(inner_nulls);
        CHECK(k.logger.method == "pull");
        CHECK(k.commands == std::vector<Command>{{"a", ""}});
        CHECK(parse_ok(R"({"executor": "", "logger": {"method": ""}})") == JobRequest{});
    }

    TEST_CASE("a request without commands is valid") {
        JobRequest j = parse_ok(R"({"job_id": "x", "env_vars": [{"name": "A", "value": "YQ=="}]})");
        CHECK(j.job_id == "x");
        CHECK(j.commands.empty());
        CHECK(j.env_vars == std::vector<EnvVar>{{"A", "a"}});
    }

    TEST_CASE("unknown keys are ignored at every level") {
        JobRequest j = parse_ok(R"({"new": 1, "commands": [{"directive": "x", "new": [1]}],
            "env_vars": [{"name": "A", "value": "", "secret": true}],
            "logger": {"method": "pull", "new": {}}, "compose": {"new": null}})");
        CHECK(j.commands.size() == 1);
        CHECK(j.env_vars.size() == 1);
    }

    TEST_CASE("the top level must be an object") {
        CHECK(parse_error("[1]") == "job request: expected a JSON object");
        CHECK(parse_error("\"job\"") == "job request: expected a JSON object");
        CHECK(parse_error("42") == "job request: expected a JSON object");
        CHECK(parse_error("null") == "job request: expected a JSON object");
        CHECK_FALSE(parse_job_request(nullptr));
        CHECK(yaml_error("- a\n- b\n") == "job request: expected a JSON object");
        CHECK(yaml_error("") == "job request: expected a JSON object");
    }

    TEST_CASE("wrong types name the exact field path") {
        const std::pair<const char*, const char*> cases[] = {
            {R"({"job_id": []})", "job_id: expected a string"},
            {R"({"executor": {}})", "executor: expected a string"},
            {R"({"compose": "x"})", "compose: expected an object"},
            {R"({"compose": {"containers": {}}})", "compose.containers: expected a list"},
            {R"({"compose": {"containers": ["main"]}})",
             "compose.containers[0]: expected an object with name and image"},
            {R"({"compose": {"containers": [{"image": "x"}]}})", "compose.containers[0].name: required"},
            {R"({"compose": {"containers": [{"name": "main"}]}})", "compose.containers[0].image: required"},
            {R"({"compose": {"containers": [{"name": "m", "image": "i", "user": []}]}})",
             "compose.containers[0].user: expected a string"},
            {R"({"compose": {"containers": [{"name": "m", "image": "i", "env_vars": [{"name": "A", "value": "!"}]}]}})",
             "compose.containers[0].env_vars[0].value: not valid base64"},
            {R"({"compose": {"image_pull_credentials": [1]}})",
             "compose.image_pull_credentials[0]: expected an object with env_vars and files"},
            {R"({"compose": {"image_pull_credentials": [{"files": [{"path": "p", "content": ""}]}]}})",
             "compose.image_pull_credentials[0].files[0].mode: required"},
            {R"({"compose": {"host_setup_commands": [{}]}})", "compose.host_setup_commands[0].directive: required"},
            {R"({"commands": "x"})", "commands: expected a list"},
            {R"({"commands": [{"directive": "a"}, {"alias": "b"}]})", "commands[1].directive: required"},
            {R"({"commands": [{"directive": "a"}, {"directive": "b"}, {"directive": "c"}, {"directive": {}}]})",
             "commands[3].directive: expected a string"},
            {R"({"commands": [{"directive": ["a"]}]})", "commands[0].directive: expected a string"},
            {R"({"commands": [{"directive": null}]})", "commands[0].directive: required"},
            {R"({"commands": [{"directive": "a", "alias": {}}]})", "commands[0].alias: expected a string"},
            {R"({"commands": ["echo"]})", "commands[0]: expected an object with a directive"},
            {R"({"epilogue_always_commands": [{"directive": []}]})",
             "epilogue_always_commands[0].directive: expected a string"},
            {R"({"epilogue_on_pass_commands": 5})", "epilogue_on_pass_commands: expected a list"},
            {R"({"epilogue_on_fail_commands": [null]})",
             "epilogue_on_fail_commands[0]: expected an object with a directive"},
            {R"({"env_vars": {}})", "env_vars: expected a list"},
            {R"({"env_vars": [[]]})", "env_vars[0]: expected an object with name and value"},
            {R"({"env_vars": [{"value": ""}]})", "env_vars[0].name: required"},
            {R"({"env_vars": [{"name": "A", "value": {}}]})", "env_vars[0].value: expected a string"},
            {R"({"files": "x"})", "files: expected a list"},
            {R"({"files": [{"content": "", "mode": "0644"}]})", "files[0].path: required"},
            {R"({"files": [{"path": "", "content": "", "mode": "0644"}]})", "files[0].path: must not be empty"},
            {R"({"files": [{"path": "a", "mode": "0644"}]})", "files[0].content: required"},
            {R"({"files": [{"path": "a", "content": ""}]})", "files[0].mode: required"},
            {R"({"files": [{"path": "a", "content": [], "mode": "0644"}]})", "files[0].content: expected a string"},
            {R"({"files": [{"path": "a", "content": "", "mode": ["0644"]}]})", "files[0].mode: expected a string"},
            {R"({"callbacks": []})", "callbacks: expected an object"},
            {R"({"callbacks": {"token": {}}})", "callbacks.token: expected a string"},
            {R"({"logger": "push"})", "logger: expected an object"},
            {R"({"logger": {"url": []}})", "logger.url: expected a string"},
            {R"({"logger": {"max_size_in_bytes": -1}})", "logger.max_size_in_bytes: expected a non-negative integer"},
            {R"({"logger": {"max_size_in_bytes": "10"}})", "logger.max_size_in_bytes: expected a non-negative integer"},
            {R"({"logger": {"max_size_in_bytes": 1.5}})", "logger.max_size_in_bytes: expected a non-negative integer"},
            {R"({"ssh_public_keys": "YQ=="})", "ssh_public_keys: expected a list"},
            {R"({"ssh_public_keys": ["YQ==", {}]})", "ssh_public_keys[1]: expected a string"},
        };
        for (const auto& [json, message] : cases) {
            CAPTURE(json);
            CHECK(parse_error(json) == message);
        }
    }

    TEST_CASE("the first error in field order is the one reported") {
        CHECK(parse_error(R"({"logger": 1, "commands": 2, "job_id": []})") == "job_id: expected a string");
        CHECK(parse_error(R"({"env_vars": [{"name": "1", "value": "!"}]})") ==
              "env_vars[0].name: '1' is not a valid variable name");
    }

    TEST_CASE("env vars: shell names and base64 values") {
        CHECK(parse_error(R"({"env_vars": [{"name": "A", "value": "YQ=="}, {"name": "B", "value": "%%"}]})") ==
              "env_vars[1].value: not valid base64");
        CHECK(parse_error(R"({"env_vars": [{"name": "A", "value": "YQ="}]})") == "env_vars[0].value: not valid base64");
        CHECK(parse_error(R"({"env_vars": [{"name": "1A", "value": ""}]})") ==
              "env_vars[0].name: '1A' is not a valid variable name");
        CHECK(parse_error(R"({"env_vars": [{"name": "A-B", "value": ""}]})") ==
              "env_vars[0].name: 'A-B' is not a valid variable name");
        CHECK(parse_error(R"({"env_vars": [{"name": "A B", "value": ""}]})") ==
              "env_vars[0].name: 'A B' is not a valid variable name");
        CHECK(parse_error(R"({"env_vars": [{"name": "", "value": ""}]})") == "env_vars[0].name: must not be empty");
        JobRequest j = parse_ok(R"({"env_vars": [{"name": "_a1", "value": "AP8K"}, {"name": "Z"},
                                                 {"name": "W", "value": "d3JhcHBl\nZA=="}]})");
        CHECK(j.env_vars == std::vector<EnvVar>{{"_a1", std::string("\0\xff\n", 3)}, {"Z", ""}, {"W", "wrapped"}});
    }

    TEST_CASE("files: bad content fails the step later, not the parse") {
        JobRequest j = parse_ok(R"({"files": [{"path": "a", "content": "%%%", "mode": "0644"},
                                              {"path": "b", "content": "", "mode": "x"}]})");
        REQUIRE(j.files.size() == 2);
        CHECK_FALSE(j.files[0].content_ok);
        CHECK(j.files[0].raw_content == "%%%");
        CHECK(j.files[0].content.empty());
        CHECK(j.files[1].content_ok);
        CHECK(j.files[1].content.empty());
        CHECK(j.files[1].mode == "x");  // the worker reports bad modes
        JobFile f = parse_ok(R"({"files": [{"path": "a", "content": "YQ", "mode": 420}]})").files[0];
        CHECK(f.content == "a");
        CHECK(f.mode == "420");
    }

    TEST_CASE("executor and logger method are checked") {
        CHECK(parse_error(R"({"executor": "podman"})") == "executor: 'podman' is not one of shell, dockercompose");
        CHECK(parse_error(R"({"executor": "Shell"})") == "executor: 'Shell' is not one of shell, dockercompose");
        CHECK(parse_error(R"({"logger": {"method": "carrier-pigeon"}})") ==
              "logger.method: 'carrier-pigeon' is not one of pull, push");
        CHECK(parse_error(R"({"logger": {"method": true}})") == "logger.method: 'true' is not one of pull, push");
        CHECK(parse_ok(R"({"executor": "shell"})").executor == "shell");
        CHECK(parse_ok(R"({"logger": {"method": "pull", "max_size_in_bytes": 0}})").logger == Logger{});
    }

    TEST_CASE("ssh public keys are decoded") {
        CHECK(parse_error(R"({"ssh_public_keys": ["%%"]})") == "ssh_public_keys[0]: not valid base64");
        CHECK(parse_error(R"({"ssh_public_keys": ["YQ==", "YQ"]})") == "(parsed)");
        CHECK(parse_error(R"({"ssh_public_keys": ["YQ==", "Y"]})") == "ssh_public_keys[1]: not valid base64");
        CHECK(parse_ok(R"({"ssh_public_keys": ["YQ==", "Yg=="]})").ssh_public_keys ==
              std::vector<std::string>{"a", "b"});
    }

    TEST_CASE("invalid JSON reports jansson's message with its position") {
        CHECK(parse_error("{\n  \"commands\": [}\n") ==
              "invalid JSON at line 2, column 16: unexpected token near '}'");
        CHECK(parse_error("").find("invalid JSON at line 1, column 0: ") == 0);
        CHECK(parse_error("{\"a\": 1,}") == "invalid JSON at line 1, column 9: string or '}' expected near '}'");
    }

    TEST_CASE("duplicate JSON keys are allowed, the last one wins") {
        CHECK(parse_ok(R"({"job_id": "a", "job_id": "b"})").job_id == "b");
    }

    TEST_CASE("JSON numbers and booleans where strings are meant") {
        JobRequest j = parse_ok(R"({"job_id": 42, "commands": [{"directive": true, "alias": 1.5}],
                                   "files": [{"path": 7, "content": "", "mode": 644}]})");
        CHECK(j.job_id == "42");
        CHECK(j.commands == std::vector<Command>{{"true", "1.5"}});
        CHECK(j.files[0].path == "7");
        CHECK(j.files[0].mode == "644");
    }

    TEST_CASE("YAML integers and booleans become their text") {
        auto r = parse_job_request_yaml(
            "job_id: 42\n"
            "commands:\n"
            "  - directive: echo hi\n"
            "  - directive: true\n"
            "    alias: 7\n"
            "  - directive: 123\n"
            "env_vars:\n"
            "  - name: N\n"
            "    value: 1234\n"
            "files:\n"
            "  - path: 100\n"
            "    content: eA==\n"
            "    mode: 644\n"
            "  - path: f\n"
            "    content: \"\"\n"
            "    mode: 0644\n"
            "compose:\n"
            "  containers:\n"
            "    - {name: 1, image: 2, user: 1000}\n");
        REQUIRE_MESSAGE(r, r.message());
        CHECK(r->job_id == "42");
        CHECK(r->commands == std::vector<Command>{{"echo hi", ""}, {"true", "7"}, {"123", ""}});
        CHECK(r->env_vars[0].value == *base64_decode("1234"));
        CHECK(r->files[0].path == "100");
        CHECK(r->files[0].content == "x");
        CHECK(r->files[0].mode == "644");
        CHECK(r->files[1].mode == "0644");  // leading zero: stays the string it was
        CHECK(r->compose.containers[0].user == "1000");
    }

    TEST_CASE("YAML errors") {
        CHECK(yaml_error("commands:\n  - directive: [a]\n") == "commands[0].directive: expected a string");
        CHECK(yaml_error("env_vars:\n  - name: 9\n    value: \"\"\n") ==
              "env_vars[0].name: '9' is not a valid variable name");
        CHECK(yaml_error("logger:\n  max_size_in_bytes: lots\n") ==
              "logger.max_size_in_bytes: expected a non-negative integer");
        CHECK(yaml_error("commands: [\n").find("YAML") == 0);  // the mapping's message, with position
        CHECK(parse_job_request_yaml("commands:\n").value().commands.empty());  // empty value is null
    }

    TEST_CASE("JSON or YAML is picked from the first non-blank character") {
        CHECK(parse_job_request_any("  \n\t{\"job_id\": \"x\"}")->job_id == "x");
        CHECK(parse_job_request_any("job_id: y\n")->job_id == "y");
        CHECK(parse_job_request_any("---\njob_id: z\n")->job_id == "z");
        CHECK(parse_job_request_any("{\"job_id\": }").message().find("invalid JSON") == 0);
        CHECK(parse_job_request_any(kFullYaml).value() == parse_job_request_any(kFull).value());
    }

    TEST_CASE("round trip through job_request_to_json is lossless") {
        JobRequest a = parse_ok(kFull);
        JobRequest b = reparse(a);
        CHECK(b == a);
        check_full(b);
        CHECK(job_request_to_json(b) == job_request_to_json(a));
        CHECK(reparse(JobRequest{}) == JobRequest{});
    }

    TEST_CASE("round trip keeps bad file content, odd modes, binary values and UTF-8") {
        JobRequest a;
        a.job_id = "ünïcode \"quoted\"\n";
        a.commands = {{"printf '\\t%s\\n' \"$A\" | tee /dev/null", ""}, {"make", "Build ✓"}};
        std::string all;
        for (int i = 0; i < 256; i++) all.push_back(static_cast<char>(i));
        a.env_vars = {{"BIN", all}, {"EMPTY", ""}};
        JobFile bad;
        bad.path = "a";
        bad.raw_content = "%%%";
        bad.mode = "x";
        bad.content_ok = false;
        JobFile good;
        good.path = "/etc/b";
        good.content = all;
        good.mode = "0600";
        a.files = {bad, good};
        a.compose.image_pull_credentials = {{{{"U", "p"}}, {good, bad}}};
        a.logger.max_size_in_bytes = 1LL << 40;
        a.ssh_public_keys = {all, ""};
        JobRequest b = reparse(a);
        CHECK(b == a);
        CHECK_FALSE(b.files[0].content_ok);
        CHECK(b.files[0].raw_content == "%%%");
        CHECK(b.files[0].mode == "x");
    }

    TEST_CASE("the JSON written has the protocol's shape") {
        JobRequest j = parse_ok(R"({"env_vars": [{"name": "A", "value": "aGVsbG8="}],
                                   "commands": [{"directive": "x"}]})");
        std::string out = job_request_to_json(j);
        CHECK(out.find(R"("env_vars":[{"name":"A","value":"aGVsbG8="}])") != std::string::npos);
        CHECK(out.find(R"("commands":[{"directive":"x"}])") != std::string::npos);  // no empty alias
        CHECK(out.find(R"("logger":{"method":"pull")") != std::string::npos);
    }

    TEST_CASE("the log target of an unusable request: job_id and logger only") {
        auto t = parse_log_target_json(R"({"job_id": "j9", "env_vars": [{"name": "A", "value": "%%%"}],
                                          "logger": {"method": "push", "url": "https://x/logs/j9",
                                                     "token": "tk", "max_size_in_bytes": 10}})");
        REQUIRE(t);
        CHECK(t->job_id == "j9");
        CHECK(t->logger.method == "push");
        CHECK(t->logger.url == "https://x/logs/j9");
        CHECK(t->logger.token == "tk");
        CHECK(t->logger.max_size_in_bytes == 10);
        CHECK(t->env_vars.empty());
        CHECK_FALSE(parse_log_target_json("[1]"));
        CHECK_FALSE(parse_log_target_json("{"));
        auto bad = parse_log_target_json(R"({"logger": {"method": "carrier-pigeon"}})");
        REQUIRE_FALSE(bad);
        CHECK(bad.message().find("logger.method") != std::string::npos);
    }
}

TEST_SUITE("job_request") {
    TEST_CASE("text that reaches an event is bounded at parse time, the field named") {
        auto with_directive = [](size_t n) {
            JsonPtr root(json_object());
            JsonPtr cmd(json_object());
            json_object_set_new(cmd.get(), "directive", json_string(std::string(n, 'x').c_str()));
            JsonPtr cmds(json_array());
            json_array_append(cmds.get(), cmd.get());
            json_object_set(root.get(), "epilogue_always_commands", cmds.get());
            return parse_job_request(root.get());
        };
        CHECK(with_directive(kMaxJobTextField));
        auto r = with_directive(kMaxJobTextField + 1);
        REQUIRE_FALSE(r);
        CHECK(r.message() == "epilogue_always_commands[0].directive: " + std::to_string(kMaxJobTextField + 1) +
                                 " bytes, more than a job's text field may have (" +
                                 std::to_string(kMaxJobTextField) + ")");
    }

    TEST_CASE("a request too large for the worker is refused, its largest part named") {
        // 40 MiB of content per file is 53 MiB of base64: two are too many.
        std::string content = base64_encode(std::string(40u << 20, 'z'));
        auto files_json = [&](int n) {
            std::string j = R"({"files":[)";
            for (int i = 0; i < n; i++)
                j += std::string(i ? "," : "") + R"({"path":"f)" + std::to_string(i) + R"(","content":")" +
                     content + R"(","mode":"0644"})";
            return j + "]}";
        };
        CHECK(parse_job_request_json(files_json(1)));
        auto r = parse_job_request_json(files_json(2));
        REQUIRE_FALSE(r);
        CHECK(r.message().rfind("files: the job request is about ", 0) == 0);
        CHECK(r.message().find("files is the largest part of it") != std::string::npos);
    }
}
