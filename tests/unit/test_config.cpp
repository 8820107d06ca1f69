#include <doctest/doctest.h>

#include "common/config.hpp"
#include "common/yaml_json.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
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

// A private directory for config files, removed with everything in it.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/sa-config-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string write(const std::string& name, const std::string& text) const {
        std::string p = path + "/" + name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
};

const std::vector<std::string> kRequired = {"--endpoint", "org.example.com", "--token", "t0k"};

std::vector<std::string> with(std::vector<std::string> extra) {
    std::vector<std::string> v = kRequired;
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
}

// "" when the configuration loads and validates, else the first error.
std::string load_error(const std::vector<std::string>& args, const FakeEnv& env = {}) {
    auto c = load_config(args, env.lookup());
    if (!c) return c.message();
    auto st = validate_config(*c);
    return st ? "" : st.message();
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string str(const json_t* o, const char* key) {
    const char* s = json_string_value(json_object_get(o, key));
    return s ? s : "<not a string>";
}

}  // namespace

TEST_SUITE("config") {
    TEST_CASE("defaults") {
        FakeEnv env;
        auto c = load_config(kRequired, env.lookup());
        REQUIRE(c);
        CHECK(c->config_file.empty());
        CHECK(c->name.empty());
        CHECK_FALSE(c->no_https);
        CHECK_FALSE(c->disconnect_after_job);
        CHECK(c->disconnect_after_idle_timeout == 0);
        CHECK(c->interruption_grace_period == 0);
        CHECK_FALSE(c->source_pre_job_hook);
        CHECK_FALSE(c->fail_on_pre_job_hook_error);
        CHECK(c->env_vars.empty());
        CHECK(c->files.empty());
        CHECK(c->upload_job_logs == "never");
        CHECK_FALSE(c->kubernetes_executor);
        CHECK(c->kubernetes_pod_start_timeout == 300);
        CHECK(c->logs_compression_size == 100LL * 1024 * 1024);
        CHECK(c->log_level == "info");
        CHECK(c->log_file_path.empty());
        CHECK(c->api_base() == "https://org.example.com/api/v1/self_hosted_agents");
        CHECK(validate_config(*c));
    }

    TEST_CASE("each source beats the next: flag > environment > file > default") {
        TempDir dir;
        std::string file = dir.write("agent.yaml",
                                     "endpoint: file.example.com\ntoken: filetoken\n"
                                     "name: name-from-file\ndisconnect-after-idle-timeout: 30\n"
                                     "no-https: true\nenv-vars: [FROM=file]\n");
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_NAME"] = "name-from-env";
        env.vars["SEMAPHORE_AGENT_TOKEN"] = "envtoken";
        env.vars["SEMAPHORE_AGENT_NO_HTTPS"] = "false";
        env.vars["SEMAPHORE_AGENT_ENV_VARS"] = "FROM=env";
        auto c = load_config({"--config-file", file, "--name", "name-from-flag", "--env-vars", "FROM=flag"},
                             env.lookup());
        REQUIRE(c);
        CHECK(c->name == "name-from-flag");                 // flag over env and file
        CHECK(c->env_vars == std::vector<std::string>{"FROM=flag"});
        CHECK(c->token == "envtoken");                      // env over file
        CHECK_FALSE(c->no_https);
        CHECK(c->endpoint == "file.example.com");           // file over default
        CHECK(c->disconnect_after_idle_timeout == 30);
        CHECK(c->interruption_grace_period == 0);           // default
        CHECK(c->config_file == file);
    }

    TEST_CASE("an empty environment variable counts as unset") {
        TempDir dir;
        std::string file = dir.write("agent.yaml", "endpoint: e.example.com\ntoken: t\n");
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_ENDPOINT"] = "";
        env.vars["SEMAPHORE_AGENT_NO_HTTPS"] = "";
        env.vars["SEMAPHORE_AGENT_LOG_LEVEL"] = "";
        auto c = load_config({"--config-file", file}, env.lookup());
        REQUIRE(c);
        CHECK(c->endpoint == "e.example.com");
        CHECK(c->log_level == "info");
    }

    TEST_CASE("the config file is only named by the flag") {
        TempDir dir;
        std::string file = dir.write("agent.yaml", "endpoint: e.example.com\n");
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_CONFIG_FILE"] = file;
        auto c = load_config({}, env.lookup());
        REQUIRE(c);
        CHECK(c->endpoint.empty());
        CHECK(load_config({"--config-file=" + file}, env.lookup())->endpoint == "e.example.com");
    }

    TEST_CASE("flag forms: --key value, --key=value, bare booleans") {
        FakeEnv env;
        auto c = load_config(with({"--no-https", "--disconnect-after-job=true", "--job-id=abc",
                                   "--interruption-grace-period=15", "--source-pre-job-hook",
                                   "--fail-on-pre-job-hook-error", "false", "--fail-on-missing-files=false",
                                   "--kubernetes-executor", "--pre-job-hook-path", "/opt/pre.sh",
                                   "--name=a=b=c=d=e"}),
                             env.lookup());
        REQUIRE(c);
        CHECK(c->no_https);
        CHECK(c->disconnect_after_job);
        CHECK(c->job_id == "abc");
        CHECK(c->interruption_grace_period == 15);
        CHECK(c->source_pre_job_hook);
        CHECK_FALSE(c->fail_on_pre_job_hook_error);
        CHECK_FALSE(c->fail_on_missing_files);
        CHECK(c->kubernetes_executor);
        CHECK(c->pre_job_hook_path == "/opt/pre.sh");
        CHECK(c->name == "a=b=c=d=e");  // split at the first '=' only
        CHECK(c->api_base() == "http://org.example.com/api/v1/self_hosted_agents");
    }

    TEST_CASE("a repeated scalar flag: the last one wins") {
        FakeEnv env;
        auto c = load_config(with({"--endpoint", "second.example.com"}), env.lookup());
        REQUIRE(c);
        CHECK(c->endpoint == "second.example.com");
    }

    TEST_CASE("lists from environment, file and repeated flags") {
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_ENV_VARS"] = "A=1,B=two";
        env.vars["SEMAPHORE_AGENT_KUBERNETES_ALLOWED_IMAGES"] = "^ubuntu.*,,^alpine.*,";
        auto c = load_config(kRequired, env.lookup());
        REQUIRE(c);
        CHECK(c->env_vars == std::vector<std::string>{"A=1", "B=two"});
        CHECK(c->kubernetes_allowed_images == std::vector<std::string>{"^ubuntu.*", "^alpine.*"});

        auto f = load_config(with({"--env-vars", "X=1", "--env-vars", "Y=2,Z=3", "--files=/a:/b"}), env.lookup());
        REQUIRE(f);
        CHECK(f->env_vars == std::vector<std::string>{"X=1", "Y=2", "Z=3"});
        CHECK(f->files == std::vector<std::string>{"/a:/b"});

        TempDir dir;
        std::string file = dir.write("agent.yaml",
                                     "endpoint: e.example.com\ntoken: t\nenv-vars:\n  - K=v=with=equals\n"
                                     "  - N=42\nfiles:\n  - /host/a:/dest/a\n"
                                     "kubernetes-labels: a=1,b=2\n");
        FakeEnv none;
        auto y = load_config({"--config-file", file}, none.lookup());
        REQUIRE(y);
        CHECK(y->env_vars == std::vector<std::string>{"K=v=with=equals", "N=42"});
        CHECK(y->files == std::vector<std::string>{"/host/a:/dest/a"});
        CHECK(y->kubernetes_labels == std::vector<std::string>{"a=1", "b=2"});  // a string is comma-split
    }

    TEST_CASE("booleans from the environment") {
        for (const char* t : {"true", "TRUE", "True", "1", "yes", "YES"}) {
            FakeEnv env;
            env.vars["SEMAPHORE_AGENT_NO_HTTPS"] = t;
            auto c = load_config(kRequired, env.lookup());
            REQUIRE(c);
            CHECK(c->no_https);
        }
        for (const char* f : {"false", "FALSE", "0", "no", "No"}) {
            FakeEnv env;
            env.vars["SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB"] = f;
            auto c = load_config(kRequired, env.lookup());
            REQUIRE(c);
            CHECK_FALSE(c->disconnect_after_job);
        }
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_NO_HTTPS"] = "maybe";
        CHECK(load_error(kRequired, env) ==
              "no-https: 'maybe' is not a boolean (true or false) (from SEMAPHORE_AGENT_NO_HTTPS)");
        CHECK(starts_with(load_error(with({"--no-https=perhaps"})), "no-https: 'perhaps'"));
    }

    TEST_CASE("booleans and numbers from the file") {
        TempDir dir;
        std::string file = dir.write("agent.yaml",
                                     "endpoint: e\ntoken: t\nno-https: yes\ndisconnect-after-job: true\n"
                                     "source-pre-job-hook: \"1\"\nfail-on-missing-files: false\n"
                                     "kubernetes-pod-start-timeout: 60\ninterruption-grace-period: \"45\"\n"
                                     "name: 12345678\n");
        FakeEnv env;
        auto c = load_config({"--config-file", file}, env.lookup());
        REQUIRE(c);
        CHECK(c->no_https);
        CHECK(c->disconnect_after_job);
        CHECK(c->source_pre_job_hook);
        CHECK_FALSE(c->fail_on_missing_files);
        CHECK(c->kubernetes_pod_start_timeout == 60);
        CHECK(c->interruption_grace_period == 45);
        CHECK(c->name == "12345678");  // an integer scalar for a string setting
    }

    TEST_CASE("file values of the wrong shape name the file and the key") {
        TempDir dir;
        std::string bad_int = dir.write("a.yaml", "disconnect-after-idle-timeout: soon\n");
        CHECK(load_error({"--config-file", bad_int}) ==
              "config file " + bad_int + ": disconnect-after-idle-timeout: 'soon' is not a whole number");
        std::string bad_bool = dir.write("b.yaml", "no-https: sometimes\n");
        CHECK(starts_with(load_error({"--config-file", bad_bool}), "config file " + bad_bool + ": no-https:"));
        std::string list_for_scalar = dir.write("c.yaml", "endpoint: [a, b]\n");
        CHECK(contains(load_error({"--config-file", list_for_scalar}), "endpoint: expected a single value"));
        std::string map_for_list = dir.write("d.yaml", "env-vars: {A: 1}\n");
        CHECK(contains(load_error({"--config-file", map_for_list}), "env-vars: expected a list of strings"));
        std::string nested = dir.write("e.yaml", "env-vars:\n  - [A=1]\n");
        CHECK(contains(load_error({"--config-file", nested}), "env-vars[0]: expected a string"));
    }

    TEST_CASE("a key without a value in the file sets nothing") {
        TempDir dir;
        std::string file = dir.write("agent.yaml", "endpoint: e.example.com\ntoken: t\nname:\nno-https:\n");
        FakeEnv env;
        auto c = load_config({"--config-file", file}, env.lookup());
        REQUIRE(c);
        CHECK(c->name.empty());
        CHECK_FALSE(c->no_https);
    }

    TEST_CASE("file keys are case-insensitive, and one key twice is refused") {
        TempDir dir;
        std::string file = dir.write("agent.yaml", "Endpoint: e.example.com\nTOKEN: t\n");
        FakeEnv env;
        auto c = load_config({"--config-file", file}, env.lookup());
        REQUIRE(c);
        CHECK(c->endpoint == "e.example.com");
        CHECK(c->token == "t");
        std::string twice = dir.write("twice.yaml", "endpoint: a\nEndpoint: b\n");
        CHECK(contains(load_error({"--config-file", twice}), "endpoint is given twice"));
    }

    TEST_CASE("unknown keys are refused with the original message") {
        CHECK(load_error(with({"--frobnicate", "1"})) == "Unrecognized option 'frobnicate'. Exiting...");
        CHECK(load_error(with({"--frobnicate=1"})) == "Unrecognized option 'frobnicate'. Exiting...");
        TempDir dir;
        std::string file = dir.write("agent.yaml", "endpoint: e\ntoken: t\nbogus-key: 1\n");
        CHECK(load_error({"--config-file", file}) == "Unrecognized option 'bogus-key'. Exiting...");
        FakeEnv env;  // unknown SEMAPHORE_AGENT_* variables are not options
        env.vars["SEMAPHORE_AGENT_SOMETHING_ELSE"] = "x";
        env.vars["SEMAPHORE_AGENT_SHUTDOWN_REASON"] = "IDLE";
        CHECK(load_error(kRequired, env) == "");
    }

    TEST_CASE("arguments that are not flags are refused") {
        CHECK(load_error(with({"stray"})) == "unexpected argument 'stray'");
        CHECK(load_error(with({"-x"})) == "unexpected argument '-x'");
        CHECK(load_error(with({"--endpoint"})) == "endpoint: needs a value");
        CHECK(load_error({"--config-file"}) == "config-file: needs a value");
    }

    TEST_CASE("required settings name the key and where to set it") {
        std::string e = load_error({"--token", "t"});
        CHECK(starts_with(e, "endpoint: required"));
        CHECK(contains(e, "--endpoint"));
        CHECK(contains(e, "SEMAPHORE_AGENT_ENDPOINT"));
        std::string t = load_error({"--endpoint", "e"});
        CHECK(starts_with(t, "token: required"));
        CHECK(contains(t, "SEMAPHORE_AGENT_TOKEN"));
    }

    TEST_CASE("name: 8 to 80 characters unless it is a URL") {
        CHECK(starts_with(load_error(with({"--name", "short"})), "name: 'short' must be 8 to 80"));
        CHECK(load_error(with({"--name", std::string(8, 'n')})) == "");
        CHECK(load_error(with({"--name", std::string(80, 'n')})) == "");
        CHECK(starts_with(load_error(with({"--name", std::string(81, 'n')})), "name:"));
        CHECK(load_error(with({"--name", "https://sts.amazonaws.com/?Action=GetCallerIdentity"})) == "");
        // The exemption matters past 80 characters; a URL needs an http(s) scheme and a host.
        std::string tail(80, 'x');
        CHECK(load_error(with({"--name", "https://host.example.com/" + tail})) == "");
        CHECK(starts_with(load_error(with({"--name", "https:///" + tail})), "name:"));     // no host
        CHECK(starts_with(load_error(with({"--name", "ftp://host/" + tail})), "name:"));   // not http(s)
        CHECK(starts_with(load_error(with({"--name", "http://host/ " + tail})), "name:")); // a space
    }

    TEST_CASE("job-id only with disconnect-after-job") {
        CHECK(starts_with(load_error(with({"--job-id", "j1"})), "job-id:"));
        CHECK(contains(load_error(with({"--job-id", "j1"})), "disconnect-after-job"));
        CHECK(load_error(with({"--job-id", "j1", "--disconnect-after-job"})) == "");
    }

    TEST_CASE("statsd settings: defaults as serve's, every source, a port in range") {
        FakeEnv none;
        auto d = load_config(kRequired, none.lookup());
        REQUIRE(d);
        CHECK(d->statsd_host == "");
        CHECK(d->statsd_port == 8125);
        CHECK(d->statsd_namespace == "agent.prod");
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_STATSD_HOST"] = "statsd.internal";
        auto c = load_config(with({"--statsd-port", "9125", "--statsd-namespace", ""}), env.lookup());
        REQUIRE(c);
        CHECK(c->statsd_host == "statsd.internal");
        CHECK(c->statsd_port == 9125);
        CHECK(c->statsd_namespace == "");
        CHECK(load_error(with({"--statsd-port", "0"})) == "statsd-port: 0 is not a UDP port (1 to 65535)");
        CHECK(load_error(with({"--statsd-port", "65536"})) == "statsd-port: 65536 is not a UDP port (1 to 65535)");
        CHECK(load_error(with({"--statsd-port", "65535"})) == "");
    }

    TEST_CASE("upload-job-logs values") {
        for (const char* v : {"never", "always", "when-trimmed"}) {
            FakeEnv env;
            auto c = load_config(with({"--upload-job-logs", v}), env.lookup());
            REQUIRE(c);
            CHECK(c->upload_job_logs == v);
        }
        CHECK(load_error(with({"--upload-job-logs", "sometimes"})) ==
              "upload-job-logs: 'sometimes' is not one of never, always, when-trimmed (from --upload-job-logs)");
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_UPLOAD_JOB_LOGS"] = "maybe";
        CHECK(starts_with(load_error(kRequired, env), "upload-job-logs: 'maybe'"));
    }

    TEST_CASE("integers must be whole numbers, 0 or more") {
        for (const char* key : {"disconnect-after-idle-timeout", "interruption-grace-period",
                                "kubernetes-pod-start-timeout"}) {
            std::string k = key;
            CHECK(starts_with(load_error(with({"--" + k, "abc"})), k + ": 'abc' is not a whole number"));
            CHECK(starts_with(load_error(with({"--" + k, "5s"})), k + ": '5s' is not a whole number"));
            CHECK(starts_with(load_error(with({"--" + k, " 5"})), k + ": ' 5' is not a whole number"));
            CHECK(starts_with(load_error(with({"--" + k, "99999999999999999999"})), k + ":"));
            CHECK(starts_with(load_error(with({"--" + k, "-5"})), k + ": must be 0 or more"));
            FakeEnv none;
            CHECK(load_config(with({"--" + k, "0"}), none.lookup()));  // parses (validation is below)
        }
        CHECK(load_error(with({"--disconnect-after-idle-timeout", "0"})) == "");
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT"] = "x";
        CHECK(contains(load_error(kRequired, env), "(from SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT)"));
    }

    TEST_CASE("kubernetes settings are refused, not ignored") {
        // Every key, from a flag: the refusal names it and says why.
        const std::vector<std::vector<std::string>> in_use = {
            {"--kubernetes-executor"},
            {"--kubernetes-executor=true"},
            {"--kubernetes-pod-spec", "my-spec"},
            {"--kubernetes-allowed-images", "^ubuntu.*"},
            {"--kubernetes-pod-start-timeout", "60"},
            {"--kubernetes-pod-start-timeout", "0"},
            {"--kubernetes-labels", "a=1"},
            {"--kubernetes-default-image", "ubuntu:22.04"},
        };
        for (const auto& args : in_use) {
            std::string e = load_error(with(args));
            std::string key = args[0].substr(2, args[0].find('=') == std::string::npos ? std::string::npos
                                                                                         : args[0].find('=') - 2);
            CAPTURE(args[0]);
            CHECK(starts_with(e, key + ": the Kubernetes executor is not supported"));
            CHECK(contains(e, "jobs would otherwise run in the agent's own environment"));
        }
        // Defaults, given explicitly, are fine: a fleet's file may list them.
        CHECK(load_error(with({"--kubernetes-executor=false", "--kubernetes-pod-start-timeout", "300"})) == "");
        // From the environment and from the file too.
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_KUBERNETES_EXECUTOR"] = "true";
        CHECK(starts_with(load_error(kRequired, env), "kubernetes-executor: the Kubernetes executor is not supported"));
        TempDir dir;
        std::string file = dir.write("k.yaml", "endpoint: e\ntoken: t\nkubernetes-executor: false\n"
                                                "kubernetes-pod-start-timeout: 300\nkubernetes-labels: []\n");
        CHECK(load_error({"--config-file", file}) == "");
        std::string used = dir.write("k8s.yaml", "endpoint: e\ntoken: t\nkubernetes-default-image: alpine\n");
        CHECK(starts_with(load_error({"--config-file", used}), "kubernetes-default-image: the Kubernetes executor"));
    }

    TEST_CASE("env-vars and files entries") {
        CHECK(starts_with(load_error(with({"--env-vars", "NOEQUALS"})), "env-vars: 'NOEQUALS'"));
        CHECK(starts_with(load_error(with({"--env-vars", "=value"})), "env-vars: '=value'"));
        CHECK(starts_with(load_error(with({"--env-vars", "A=1,BAD"})), "env-vars: 'BAD'"));
        CHECK(load_error(with({"--env-vars", "EMPTY="})) == "");
        CHECK(starts_with(load_error(with({"--files", "nocolon"})), "files: 'nocolon'"));
        CHECK(starts_with(load_error(with({"--files", ":/dest"})), "files: ':/dest'"));
        CHECK(starts_with(load_error(with({"--files", "/host:"})), "files: '/host:'"));
    }

    TEST_CASE("environment-only settings") {
        FakeEnv env;
        env.vars["SEMAPHORE_AGENT_LOG_LEVEL"] = "DEBUG";
        env.vars["SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE"] = "2097152";
        env.vars["SEMAPHORE_AGENT_LOG_FILE_PATH"] = "/var/log/agent.log";
        auto c = load_config(kRequired, env.lookup());
        REQUIRE(c);
        CHECK(c->log_level == "debug");
        CHECK(c->logs_compression_size == 2097152);
        CHECK(c->log_file_path == "/var/log/agent.log");
        env.vars["SEMAPHORE_AGENT_LOG_LEVEL"] = "loud";
        CHECK(starts_with(load_error(kRequired, env), "SEMAPHORE_AGENT_LOG_LEVEL: 'loud'"));
        for (const char* l : {"trace", "debug", "info", "warn", "error", "fatal", "panic"}) {
            env.vars["SEMAPHORE_AGENT_LOG_LEVEL"] = l;
            CHECK(load_config(kRequired, env.lookup())->log_level == l);
        }
    }

    TEST_CASE("logs compression size: 1 MiB to 1 GiB") {
        auto size_error = [](const std::string& v) {
            FakeEnv env;
            env.vars["SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE"] = v;
            return load_error(kRequired, env);
        };
        CHECK(size_error("1048576") == "");
        CHECK(size_error("1073741824") == "");
        CHECK(starts_with(size_error("1048575"), "SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE"));
        CHECK(starts_with(size_error("1073741825"), "SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE"));
        CHECK(starts_with(size_error("1000"), "SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE"));
        CHECK(starts_with(size_error("-1"), "SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE"));
        CHECK(starts_with(size_error("big"), "SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE: 'big' is not a whole number"));
    }

    TEST_CASE("name-from-env is resolved by load_config") {
        FakeEnv env;
        env.vars["MY_AGENT_NAME"] = "agent-from-variable";
        env.vars["EMPTY_NAME"] = "";
        auto c = load_config(with({"--name-from-env", "MY_AGENT_NAME"}), env.lookup());
        REQUIRE(c);
        CHECK(c->name == "agent-from-variable");
        CHECK(c->name_from_env == "MY_AGENT_NAME");
        // An explicit name wins, as in the original agent.
        auto n = load_config(with({"--name-from-env", "MY_AGENT_NAME", "--name", "explicit-name"}), env.lookup());
        REQUIRE(n);
        CHECK(n->name == "explicit-name");
        CHECK(starts_with(load_error(with({"--name-from-env", "UNSET_VAR"}), env), "name-from-env:"));
        CHECK(contains(load_error(with({"--name-from-env", "UNSET_VAR"}), env), "UNSET_VAR"));
        CHECK(starts_with(load_error(with({"--name-from-env", "EMPTY_NAME"}), env), "name-from-env:"));
        env.vars["SHORT_NAME"] = "abc";  // the resolved name is then validated like --name
        CHECK(starts_with(load_error(with({"--name-from-env", "SHORT_NAME"}), env), "name: 'abc'"));
    }

    TEST_CASE("config file problems name the file") {
        CHECK(load_error({"--config-file", "/nonexistent/agent.yaml"}) ==
              "config file /nonexistent/agent.yaml: cannot be read: No such file or directory");
        TempDir dir;
        CHECK(contains(load_error({"--config-file", dir.path}), "Is a directory"));
        std::string bad = dir.write("bad.yaml", "token: t\nendpoint: [unclosed\n");
        std::string e = load_error({"--config-file", bad});
        CHECK(starts_with(e, "config file " + bad + ": YAML line "));
        std::string list = dir.write("list.yaml", "- a\n- b\n");
        CHECK(load_error({"--config-file", list}) == "config file " + list + ": expected a mapping of keys to values");
        std::string scalar = dir.write("scalar.yaml", "just text\n");
        CHECK(contains(load_error({"--config-file", scalar}), "expected a mapping"));
        std::string empty = dir.write("empty.yaml", "# nothing here\n");
        CHECK(load_error(with({"--config-file", empty})) == "");
    }

    TEST_CASE("check-config output lists every key and masks secrets") {
        FakeEnv env;
        auto c = load_config(with({"--env-vars", "SECRET=hunter2", "--name",
                                   "https://sts.amazonaws.com/?X-Amz-Signature=abcdef"}),
                             env.lookup());
        REQUIRE(c);
        std::string d = describe_config(*c);
        CHECK_FALSE(contains(d, "t0k"));
        CHECK_FALSE(contains(d, "hunter2"));
        CHECK_FALSE(contains(d, "abcdef"));
        CHECK(contains(d, "token: \"***\"\n"));
        CHECK(contains(d, "endpoint: \"org.example.com\"\n"));
        CHECK(contains(d, "  - \"SECRET=***\"\n"));
        CHECK(contains(d, "name: \"https://sts.amazonaws.com/?***\"\n"));
        CHECK(contains(d, "kubernetes-pod-start-timeout: 300\n"));
        for (const char* k : {"config-file", "no-https", "name-from-env", "disconnect-after-job", "job-id",
                              "disconnect-after-idle-timeout", "interruption-grace-period",
                              "shutdown-hook-path", "pre-job-hook-path", "post-job-hook-path",
                              "source-pre-job-hook", "fail-on-pre-job-hook-error", "files",
                              "fail-on-missing-files", "upload-job-logs", "kubernetes-executor",
                              "kubernetes-pod-spec", "kubernetes-allowed-images", "kubernetes-labels",
                              "kubernetes-default-image", "SEMAPHORE_AGENT_LOG_LEVEL",
                              "SEMAPHORE_AGENT_LOG_FILE_PATH", "SEMAPHORE_AGENT_LOGS_COMPRESSION_SIZE",
                              "statsd-host", "statsd-port", "statsd-namespace"})
            CHECK_MESSAGE((starts_with(d, std::string(k) + ":") || contains(d, "\n" + std::string(k) + ":")),
                          std::string(k));
        // The output is itself valid YAML.
        CHECK(yaml_to_json(d));
    }

    TEST_CASE("process_env reads the real environment") {
        setenv("SA_CONFIG_TEST_VAR", "value", 1);
        auto env = process_env();
        CHECK(env("SA_CONFIG_TEST_VAR") == std::optional<std::string>("value"));
        unsetenv("SA_CONFIG_TEST_VAR");
        CHECK_FALSE(env("SA_CONFIG_TEST_VAR"));
    }

    TEST_CASE("job limits from the configuration, and their keys for messages") {
        Config c;
        CHECK_FALSE(job_limits(c).any());
        CHECK(limit_keys(job_limits(c)).empty());
        c.job_memory_max = "2G";
        c.job_pids_max = 40;
        c.job_cpu_max = "1.5";
        CgroupLimits l = job_limits(c);
        CHECK(l.memory_max == 2LL << 30);
        CHECK(l.pids_max == 40);
        CHECK(l.cpu_max == doctest::Approx(1.5));
        CHECK(limit_keys(l) == "job-memory-max, job-pids-max, job-cpu-max");
        l.memory_max = 0;
        l.cpu_max = 0;
        CHECK(limit_keys(l) == "job-pids-max");
    }

    TEST_CASE("limit warnings: none without limits; turned-off or missing parents named") {
        CHECK(limit_warnings("", CgroupLimits{}).empty());
        CgroupLimits l;
        l.pids_max = 40;
        auto off = limit_warnings("none", l);
        REQUIRE(off.size() == 1);
        CHECK(off[0].find("job-pids-max cannot be applied: job cgroups are turned off") == 0);
        auto missing = limit_warnings("/nonexistent/sa-unit-test", l);
        REQUIRE(missing.size() == 1);
        CHECK(missing[0].find("job-cgroup-parent /nonexistent/sa-unit-test: No such file or directory") !=
              std::string::npos);
    }
}

TEST_SUITE("yaml") {
    TEST_CASE("scalar types") {
        auto j = yaml_to_json("a: true\nb: 42\nc: \"true\"\nd: 0644\ne: ~\nf: text\ng: -3\nh: '7'\n"
                              "i: False\nj: null\nk:\nl: 1.5\nm: +8\nn: 99999999999999999999\n"
                              "o: !!str 5\np: yes\nq: 0\n");
        REQUIRE(j);
        json_t* o = j->get();
        CHECK(json_is_true(json_object_get(o, "a")));
        CHECK(json_integer_value(json_object_get(o, "b")) == 42);
        CHECK(str(o, "c") == "true");  // quoted stays a string
        CHECK(str(o, "d") == "0644");  // leading zero: a file mode, not a number
        CHECK(json_is_null(json_object_get(o, "e")));
        CHECK(str(o, "f") == "text");
        CHECK(json_integer_value(json_object_get(o, "g")) == -3);
        CHECK(str(o, "h") == "7");
        CHECK(json_is_false(json_object_get(o, "i")));
        CHECK(json_is_null(json_object_get(o, "j")));
        CHECK(json_is_null(json_object_get(o, "k")));
        CHECK(str(o, "l") == "1.5");
        CHECK(json_integer_value(json_object_get(o, "m")) == 8);
        CHECK(str(o, "n") == "99999999999999999999");  // out of range stays text
        CHECK(str(o, "o") == "5");                      // explicit !!str
        CHECK(str(o, "p") == "yes");                    // YAML 1.1 booleans are not booleans
        CHECK(json_is_integer(json_object_get(o, "q")));
    }

    TEST_CASE("nested structures") {
        auto j = yaml_to_json("list:\n  - x: 1\n  - [a, b]\n  - 'q'\nmap: {k: v, n: {deep: [1]}}\n");
        REQUIRE(j);
        json_t* list = json_object_get(j->get(), "list");
        REQUIRE(json_array_size(list) == 3);
        CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "x")) == 1);
        CHECK(json_array_size(json_array_get(list, 1)) == 2);
        CHECK(std::string(json_string_value(json_array_get(list, 2))) == "q");
        json_t* map = json_object_get(j->get(), "map");
        CHECK(str(map, "k") == "v");
        CHECK(json_array_size(json_object_get(json_object_get(map, "n"), "deep")) == 1);
    }

    TEST_CASE("top-level values of any kind") {
        auto seq = yaml_to_json("- 1\n- two\n");
        REQUIRE(seq);
        CHECK(json_array_size(seq->get()) == 2);
        auto scalar = yaml_to_json("hello");
        REQUIRE(scalar);
        CHECK(std::string(json_string_value(scalar->get())) == "hello");
        auto quoted = yaml_to_json("\"a\\0b\"");  // NUL inside a string survives
        REQUIRE(quoted);
        CHECK(json_string_length(quoted->get()) == 3);
    }

    TEST_CASE("empty documents are null") {
        for (const char* text : {"", "---\n", "# only a comment\n", "\n\n"}) {
            auto j = yaml_to_json(text);
            REQUIRE(j);
            CHECK(json_is_null(j->get()));
        }
    }

    TEST_CASE("anchors and aliases are refused") {
        auto alias = yaml_to_json("a: &x 1\nb: *x\n");
        CHECK_FALSE(alias);
        CHECK(contains(alias.message(), "anchors"));
        CHECK(contains(alias.message(), "line 1"));
        CHECK_FALSE(yaml_to_json("a: &x {k: v}\n"));
        CHECK_FALSE(yaml_to_json("a: &x [1]\n"));
    }

    TEST_CASE("malformed YAML reports line and column") {
        auto bad = yaml_to_json("a: 1\nb: [1, 2\n");
        REQUIRE_FALSE(bad);
        CHECK(starts_with(bad.message(), "YAML line "));
        CHECK(contains(bad.message(), "column"));
        auto tab = yaml_to_json("a:\n  b: 1\n c: 2\n");
        REQUIRE_FALSE(tab);
        CHECK(starts_with(tab.message(), "YAML line 3"));
        auto utf8 = yaml_to_json("a: \xff\xfe\n");
        CHECK_FALSE(utf8);
    }

    TEST_CASE("one document only") {
        auto two = yaml_to_json("a: 1\n---\nb: 2\n");
        REQUIRE_FALSE(two);
        CHECK(contains(two.message(), "only one document"));
        CHECK(contains(two.message(), "line 2"));
    }

    TEST_CASE("duplicate and non-scalar keys are refused") {
        auto dup = yaml_to_json("a: 1\nb: 2\na: 3\n");
        REQUIRE_FALSE(dup);
        CHECK(contains(dup.message(), "duplicate key 'a'"));
        CHECK(contains(dup.message(), "line 3"));
        CHECK_FALSE(yaml_to_json("? [a, b]\n: v\n"));
        CHECK_FALSE(yaml_to_json("{[a]: v}\n"));
    }

    TEST_CASE("nesting is capped at 64 levels") {
        auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
        CHECK(yaml_to_json(nested(64)));
        auto deep = yaml_to_json(nested(65));
        REQUIRE_FALSE(deep);
        CHECK(contains(deep.message(), "64 levels"));
        CHECK_FALSE(yaml_to_json(std::string(100000, '[')));  // fails fast, no recursion
    }
}
