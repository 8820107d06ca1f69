#include <doctest/doctest.h>

#include "config.hpp"
#include "yaml_json.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

using namespace sa;

namespace {

struct FakeEnv {
    std::map<std::string, std::string> vars;
    EnvLookup lookup() const {
        return [this](const std::string& k) -> std::optional<std::string> {
            auto it = vars.find(k);
            if (it == vars.end()) return std::nullopt;
            return it->second;
        };
    }
};

// A YAML file that removes itself.
struct TempYaml {
    std::string path;
    explicit TempYaml(const std::string& text) {
        char tmpl[] = "/tmp/sa-config-XXXXXX";
        int fd = mkstemp(tmpl);
        REQUIRE(fd >= 0);
        REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        close(fd);
        path = tmpl;
    }
    ~TempYaml() { unlink(path.c_str()); }
};

const std::vector<std::string> kRequired = {"--endpoint", "org.example.com", "--token", "t0k"};

std::vector<std::string> with(std::vector<std::string> extra) {
    std::vector<std::string> v = kRequired;
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
}

std::string load_error(const std::vector<std::string>& args, const FakeEnv& env = {}) {
    auto c = load_config(args, env.lookup());
    if (!c) return c.message();
    auto st = validate_config(*c);
    return st ? "" : st.message();
}

}  // namespace

TEST_SUITE("config") {
    TEST_CASE("defaults") {
        FakeEnv env;
        auto c = load_config(kRequired, env.lookup());
        REQUIRE(c);
        CHECK(c->upload_job_logs == "never");
        CHECK(c->disconnect_after_idle_timeout == 0);
        CHECK(c->kubernetes_pod_start_timeout == 300);
        CHECK(c->logs_compression_size == 100LL * 1024 * 1024);
        CHECK(c->log_level == "info");
        CHECK_FALSE(c->no_https);
        CHECK(c->api_base() == "https://org.example.com/api/v1/self_hosted_agents");
        CHECK(validate_config(*c));
    }

    TEST_CASE("flag beats environment beats file beats default") {
        TempYaml file("endpoint: file.example.com\ntoken: filetoken\nname: name-from-file\n"
                      "disconnect-after-idle-timeout: 30\n");
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_NAME"] = "name-from-env";
        env.vars["SEMAPHORE_AGENT_TOKEN"] = "envtoken";
        auto c = load_config({"--config-file", file.path, "--name", "name-from-flag"}, env.lookup());
        REQUIRE(c);
        CHECK(c->name == "name-from-flag");
        CHECK(c->token == "envtoken");
        CHECK(c->endpoint == "file.example.com");
        CHECK(c->disconnect_after_idle_timeout == 30);
        CHECK(c->interruption_grace_period == 0);
    }

    TEST_CASE("flag forms: --key value, --key=value, bare booleans") {
        FakeEnv env;
        auto c = load_config(with({"--no-https", "--disconnect-after-job=true", "--job-id=abc",
                                   "--interruption-grace-period=15", "--source-pre-job-hook",
                                   "--fail-on-pre-job-hook-error", "false"}),
                             env.lookup());
        REQUIRE(c);
        CHECK(c->no_https);
        CHECK(c->disconnect_after_job);
        CHECK(c->job_id == "abc");
        CHECK(c->interruption_grace_period == 15);
        CHECK(c->source_pre_job_hook);
        CHECK_FALSE(c->fail_on_pre_job_hook_error);
        CHECK(c->api_base() == "http://org.example.com/api/v1/self_hosted_agents");
    }

    TEST_CASE("lists from environment, file and repeated flags") {
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_ENV_VARS"] = "A=1,B=two";
        auto c = load_config(kRequired, env.lookup());
        REQUIRE(c);
        CHECK(c->env_vars == std::vector<std::string>{"A=1", "B=two"});

        auto f = load_config(with({"--env-vars", "X=1", "--env-vars", "Y=2,Z=3"}), env.lookup());
        REQUIRE(f);
        CHECK(f->env_vars == std::vector<std::string>{"X=1", "Y=2", "Z=3"});

        TempYaml file("endpoint: e.example.com\ntoken: t\nenv-vars:\n  - K=v=with=equals\n"
                      "files:\n  - /host/a:/dest/a\n");
        FakeEnv none;
        auto y = load_config({"--config-file", file.path}, none.lookup());
        REQUIRE(y);
        CHECK(y->env_vars == std::vector<std::string>{"K=v=with=equals"});
        CHECK(y->files == std::vector<std::string>{"/host/a:/dest/a"});
    }

    TEST_CASE("booleans from the environment") {
        for (const char* t : {"true", "TRUE", "1", "yes"}) {
            FakeEnv env;
            env.vars["SEMAPHORE_AGENT_NO_HTTPS"] = t;
            auto c = load_config(kRequired, env.lookup());
            REQUIRE(c);
            CHECK(c->no_https);
        }
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_NO_HTTPS"] = "maybe";
        CHECK(load_error(kRequired, env).find("no-https") != std::string::npos);
    }

    TEST_CASE("unknown keys are refused with the original message") {
        CHECK(load_error(with({"--frobnicate", "1"})) == "Unrecognized option 'frobnicate'. Exiting...");
        TempYaml file("endpoint: e\ntoken: t\nbogus-key: 1\n");
        CHECK(load_error({"--config-file", file.path}) == "Unrecognized option 'bogus-key'. Exiting...");
        FakeEnv env;  // unknown SEMAPHORE_AGENT_* variables are not options
        env.vars["SEMAPHORE_AGENT_SOMETHING_ELSE"] = "x";
        CHECK(load_error(kRequired, env) == "");
    }

    TEST_CASE("validation rules name the key") {
        FakeEnv env;
        CHECK(load_error({"--token", "t"}).find("endpoint: required") == 0);
        CHECK(load_error({"--endpoint", "e"}).find("token: required") == 0);
        CHECK(load_error(with({"--upload-job-logs", "sometimes"})) ==
              "upload-job-logs: 'sometimes' is not one of never, always, when-trimmed (from --upload-job-logs)");
        CHECK(load_error(with({"--name", "short"})).find("name: 'short' must be 8 to 80") == 0);
        CHECK(load_error(with({"--name", std::string(81, 'n')})).find("name:") == 0);
        CHECK(load_error(with({"--name", "https://sts.amazonaws.com/?Action=GetCallerIdentity"})) == "");
        CHECK(load_error(with({"--job-id", "j1"})).find("job-id:") == 0);
        CHECK(load_error(with({"--job-id", "j1", "--disconnect-after-job"})) == "");
        CHECK(load_error(with({"--disconnect-after-idle-timeout", "abc"})).find("disconnect-after-idle-timeout: 'abc' is not a whole number") == 0);
        CHECK(load_error(with({"--interruption-grace-period", "-5"})).find("interruption-grace-period: must be 0 or more") == 0);
        CHECK(load_error(with({"--env-vars", "NOEQUALS"})).find("env-vars: 'NOEQUALS'") == 0);
        CHECK(load_error(with({"--files", "nocolon"})).find("files: 'nocolon'") == 0);
        CHECK(load_error(with({"--endpoint"})).find("endpoint: needs a value") == 0);
    }

    TEST_CASE("environment-only settings") {
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_LOG_LEVEL"] = "debug";
        env.vars["SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE"] = "2097152";
        env.vars["SEMAPHORE_AGENT_LOG_FILE_PATH"] = "/var/log/agent.log";
        auto c = load_config(kRequired, env.lookup());
        REQUIRE(c);
        CHECK(c->log_level == "debug");
        CHECK(c->logs_compression_size == 2097152);
        CHECK(c->log_file_path == "/var/log/agent.log");
        env.vars["SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE"] = "1000";
        CHECK(load_error(kRequired, env).find("SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE") == 0);
        env.vars["SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE"] = "2097152";
        env.vars["SEMAPHORE_AGENT_LOG_LEVEL"] = "loud";
        CHECK(load_error(kRequired, env).find("SEMAPHORE_AGENT_LOG_LEVEL") == 0);
    }

    TEST_CASE("name-from-env") {
        FakeEnv env;
        env.vars["MY_AGENT_NAME"] = "agent-from-variable";
        auto c = load_config(with({"--name-from-env", "MY_AGENT_NAME"}), env.lookup());
        REQUIRE(c);
        CHECK(c->name == "agent-from-variable");
        CHECK(load_error(with({"--name-from-env", "UNSET_VAR"})).find("name-from-env") == 0);
    }

    TEST_CASE("config file problems name the file") {
        CHECK(load_error({"--config-file", "/nonexistent/agent.yaml"}).find("/nonexistent/agent.yaml") != std::string::npos);
        TempYaml bad("endpoint: [unclosed\n");
        std::string e = load_error({"--config-file", bad.path});
        CHECK(e.find(bad.path) != std::string::npos);
        CHECK(e.find("line") != std::string::npos);
        TempYaml list("- a\n- b\n");
        CHECK(load_error({"--config-file", list.path}).find("expected a mapping") != std::string::npos);
    }

    TEST_CASE("check-config output masks the token and secrets") {
        FakeEnv env;
        auto c = load_config(with({"--env-vars", "SECRET=hunter2"}), env.lookup());
        REQUIRE(c);
        std::string d = describe_config(*c);
        CHECK(d.find("t0k") == std::string::npos);
        CHECK(d.find("hunter2") == std::string::npos);
        CHECK(d.find("token: \"***\"") != std::string::npos);
        CHECK(d.find("endpoint: \"org.example.com\"") != std::string::npos);
    }
}

TEST_SUITE("yaml") {
    TEST_CASE("scalar types") {
        auto j = yaml_to_json("a: true\nb: 42\nc: \"true\"\nd: 0644\ne: ~\nf: text\ng: -3\nh: '7'\n");
        REQUIRE(j);
        json_t* o = j->get();
        CHECK(json_is_true(json_object_get(o, "a")));
        CHECK(json_integer_value(json_object_get(o, "b")) == 42);
        CHECK(std::string(json_string_value(json_object_get(o, "c"))) == "true");
        CHECK(std::string(json_string_value(json_object_get(o, "d"))) == "0644");
        CHECK(json_is_null(json_object_get(o, "e")));
        CHECK(std::string(json_string_value(json_object_get(o, "f"))) == "text");
        CHECK(json_integer_value(json_object_get(o, "g")) == -3);
        CHECK(std::string(json_string_value(json_object_get(o, "h"))) == "7");
    }

    TEST_CASE("nested structures") {
        auto j = yaml_to_json("list:\n  - x: 1\n  - [a, b]\nmap: {k: v}\n");
        REQUIRE(j);
        json_t* list = json_object_get(j->get(), "list");
        REQUIRE(json_array_size(list) == 2);
        CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "x")) == 1);
        CHECK(json_array_size(json_array_get(list, 1)) == 2);
        CHECK(std::string(json_string_value(json_object_get(json_object_get(j->get(), "map"), "k"))) == "v");
    }

    TEST_CASE("refused input") {
        auto alias = yaml_to_json("a: &x 1\nb: *x\n");
        CHECK_FALSE(alias);
        CHECK(alias.message().find("anchors") != std::string::npos);
        auto bad = yaml_to_json("a: [1, 2\n");
        CHECK_FALSE(bad);
        CHECK(bad.message().find("line") != std::string::npos);
        CHECK_FALSE(yaml_to_json("a: 1\n---\nb: 2\n"));
        std::string deep;
        for (int i = 0; i < 100; i++) deep += "[";
        CHECK_FALSE(yaml_to_json(deep));
    }

    TEST_CASE("empty document is null") {
        auto j = yaml_to_json("");
        REQUIRE(j);
        CHECK(json_is_null(j->get()));
    }
}
