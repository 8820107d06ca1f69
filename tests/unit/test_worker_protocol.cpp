#include <doctest/doctest.h>

#include "common/json.hpp"
#include "common/worker_protocol.hpp"

#include <functional>
#include <string>
#include <vector>

using namespace sa;

namespace {

// Every field set, and to something other than its default.
WorkerJob full_job() {
    WorkerJob j;
    JobRequest& r = j.request;
    r.job_id = "job-7";
    r.executor = "dockercompose";
    r.compose.containers.push_back({"main", "ruby:3", "sleep infinity", "/bin/sh", "root", {{"C", "c"}}});
    r.compose.image_pull_credentials.push_back({{{"DOCKER_CREDENTIAL_TYPE", "DockerHub"}},
                                                {{"/root/.docker/config.json", "{}", "", "0644", true}}});
    r.compose.host_setup_commands.push_back({"docker info", ""});
    r.commands = {{"echo hi", ""}, {"make test", "Tests"}};
    r.epilogue_always_commands = {{"echo always", ""}};
    r.epilogue_on_pass_commands = {{"echo pass", ""}};
    r.epilogue_on_fail_commands = {{"echo fail", ""}};
    r.env_vars = {{"A", "hello"}, {"EMPTY", ""}, {"BYTES", std::string("\x00\xff\n", 3)}};
    r.files = {{"~/.ssh/key", "secret", "", "0600", true}};
    r.callbacks = {"https://x/finished", "https://x/teardown", "cbt"};
    r.logger = {"push", "https://x/logs", "lt", 1000};
    r.ssh_public_keys = {"ssh-rsa AAAA"};

    RunOptions& o = j.options;
    o.pre_job_hook_path = "/opt/pre.sh";
    o.post_job_hook_path = "/opt/post.sh";
    o.source_pre_job_hook = true;
    o.fail_on_pre_job_hook_error = true;
    o.agent_env_vars = {{"FOO", "bar=baz"}, {"EMPTY", ""}};
    o.host_files = {"/host/a:/dest/a", "/host/b:/dest/b"};
    o.fail_on_missing_files = true;
    o.hosted = true;
    o.expose_kvm = true;
    o.job_dir = "/tmp/semaphore-agent/job-x";
    o.marker = "0123456789abcdef";
    o.cgroup_procs = {"/sys/fs/cgroup/job/cgroup.procs", "/sys/fs/cgroup/memory/job/cgroup.procs"};
    o.cgroup_dir = "/sys/fs/cgroup/job";
    o.job_user = "builder";
    o.isolation = "strict";
    return j;
}

// The encoded frame with one change made to its JSON tree.
std::string edited(const std::function<void(json_t* root)>& edit) {
    std::string frame = worker_protocol::encode(full_job());
    json_error_t e;
    JsonPtr root(json_loads(frame.c_str(), 0, &e));
    REQUIRE(root);
    edit(root.get());
    return json_dump(root.get());
}

json_t* options_of(json_t* root) { return json_object_get(root, "options"); }

const std::vector<const char*> kOptionKeys = {
    "pre_job_hook_path", "post_job_hook_path", "source_pre_job_hook", "fail_on_pre_job_hook_error",
    "agent_env_vars",    "files",              "fail_on_missing_files", "hosted",
    "expose_kvm",        "job_dir",            "marker",             "cgroup_procs",
    "cgroup_dir",        "job_user",           "isolation",
};

}  // namespace

TEST_SUITE("worker_protocol") {
    TEST_CASE("every field of the job and its options survives encode and decode") {
        WorkerJob j = full_job();
        auto back = worker_protocol::decode(worker_protocol::encode(j));
        REQUIRE_MESSAGE(back, (back ? "" : back.message()));
        CHECK(back->request == j.request);
        CHECK(back->options == j.options);
        CHECK(*back == j);
    }

    TEST_CASE("the round trip test sets every option to something other than its default") {
        // If a field were left at its default here, the round trip above
        // could not tell a field the encoder forgets.
        const RunOptions full = full_job().options;
        const RunOptions def;
        std::vector<std::function<void(RunOptions&)>> resets = {
            [&](RunOptions& o) { o.pre_job_hook_path = def.pre_job_hook_path; },
            [&](RunOptions& o) { o.post_job_hook_path = def.post_job_hook_path; },
            [&](RunOptions& o) { o.source_pre_job_hook = def.source_pre_job_hook; },
            [&](RunOptions& o) { o.fail_on_pre_job_hook_error = def.fail_on_pre_job_hook_error; },
            [&](RunOptions& o) { o.agent_env_vars = def.agent_env_vars; },
            [&](RunOptions& o) { o.host_files = def.host_files; },
            [&](RunOptions& o) { o.fail_on_missing_files = def.fail_on_missing_files; },
            [&](RunOptions& o) { o.hosted = def.hosted; },
            [&](RunOptions& o) { o.expose_kvm = def.expose_kvm; },
            [&](RunOptions& o) { o.job_dir = def.job_dir; },
            [&](RunOptions& o) { o.marker = def.marker; },
            [&](RunOptions& o) { o.cgroup_procs = def.cgroup_procs; },
            [&](RunOptions& o) { o.cgroup_dir = def.cgroup_dir; },
            [&](RunOptions& o) { o.job_user = def.job_user; },
            [&](RunOptions& o) { o.isolation = def.isolation; },
        };
        CHECK(resets.size() == kOptionKeys.size());
        for (size_t i = 0; i < resets.size(); i++) {
            RunOptions o = full;
            resets[i](o);
            CHECK_MESSAGE(!(o == full), "option " << kOptionKeys[i] << " is at its default");
        }
    }

    TEST_CASE("the encoded options carry exactly the documented keys") {
        std::string frame = worker_protocol::encode(full_job());
        json_error_t e;
        JsonPtr root(json_loads(frame.c_str(), 0, &e));
        REQUIRE(root);
        CHECK(json_integer_value(json_object_get(root.get(), "version")) == kWorkerProtocolVersion);
        CHECK(json_object_size(options_of(root.get())) == kOptionKeys.size());
        for (const char* k : kOptionKeys) CHECK_MESSAGE(json_object_get(options_of(root.get()), k), k);
    }

    TEST_CASE("a frame of another protocol version is refused, saying both versions") {
        auto r = worker_protocol::decode(
            edited([](json_t* root) { json_object_set_new(root, "version", json_integer(kWorkerProtocolVersion + 1)); }));
        REQUIRE_FALSE(r);
        CHECK(r.message().rfind("version: ", 0) == 0);
        CHECK(r.message().find(std::to_string(kWorkerProtocolVersion + 1)) != std::string::npos);
        CHECK(r.message().find("this worker " + std::to_string(kWorkerProtocolVersion)) != std::string::npos);

        auto missing = worker_protocol::decode(edited([](json_t* root) { json_object_del(root, "version"); }));
        REQUIRE_FALSE(missing);
        CHECK(missing.message().rfind("version: missing", 0) == 0);

        auto text = worker_protocol::decode(
            edited([](json_t* root) { json_object_set_new(root, "version", json_string("1")); }));
        REQUIRE_FALSE(text);
        CHECK(text.message() == "version: expected an integer");
    }

    TEST_CASE("a missing option is named") {
        for (const char* k : kOptionKeys) {
            auto r = worker_protocol::decode(edited([k](json_t* root) { json_object_del(options_of(root), k); }));
            REQUIRE_FALSE(r);
            CHECK(r.message() == std::string("options.") + k + ": missing");
        }
    }

    TEST_CASE("an option of the wrong type is named") {
        for (const char* k : kOptionKeys) {
            auto r = worker_protocol::decode(
                edited([k](json_t* root) { json_object_set_new(options_of(root), k, json_integer(7)); }));
            REQUIRE_FALSE(r);
            CHECK_MESSAGE(r.message().rfind(std::string("options.") + k + ": expected ", 0) == 0, r.message());
        }
    }

    TEST_CASE("a bad list entry is named with its index") {
        auto procs = worker_protocol::decode(edited([](json_t* root) {
            json_array_append_new(json_object_get(options_of(root), "cgroup_procs"), json_true());
        }));
        REQUIRE_FALSE(procs);
        CHECK(procs.message() == "options.cgroup_procs[2]: expected a string");

        auto env = worker_protocol::decode(edited([](json_t* root) {
            json_array_set_new(json_object_get(options_of(root), "agent_env_vars"), 1, json_string("=x"));
        }));
        REQUIRE_FALSE(env);
        CHECK(env.message() == "options.agent_env_vars[1]: expected NAME=VALUE");
    }

    TEST_CASE("values the worker cannot use are refused") {
        auto dir = worker_protocol::decode(
            edited([](json_t* root) { json_object_set_new(options_of(root), "job_dir", json_string("")); }));
        REQUIRE_FALSE(dir);
        CHECK(dir.message() == "options.job_dir: required");

        auto iso = worker_protocol::decode(
            edited([](json_t* root) { json_object_set_new(options_of(root), "isolation", json_string("loose")); }));
        REQUIRE_FALSE(iso);
        CHECK(iso.message() == "options.isolation: 'loose' is not one of default, strict");
    }

    TEST_CASE("the job and the frame itself") {
        auto no_job = worker_protocol::decode(edited([](json_t* root) { json_object_del(root, "job"); }));
        REQUIRE_FALSE(no_job);
        CHECK(no_job.message() == "job: missing");

        auto no_opts = worker_protocol::decode(edited([](json_t* root) { json_object_del(root, "options"); }));
        REQUIRE_FALSE(no_opts);
        CHECK(no_opts.message() == "options: missing");

        // The request's own errors keep the request parser's field path.
        auto bad_env = worker_protocol::decode(edited([](json_t* root) {
            json_t* env = json_array_get(json_object_get(json_object_get(root, "job"), "env_vars"), 0);
            json_object_set_new(env, "value", json_string("%%%"));
        }));
        REQUIRE_FALSE(bad_env);
        CHECK(bad_env.message().find("env_vars[0].value") != std::string::npos);

        auto text = worker_protocol::decode("{\"version\": 1,");
        REQUIRE_FALSE(text);
        CHECK(text.message().rfind("job frame: not JSON", 0) == 0);
        auto array = worker_protocol::decode("[1]");
        REQUIRE_FALSE(array);
        CHECK(array.message() == "job frame: expected an object");
    }

    TEST_CASE("a value that is not UTF-8 goes as empty, a list entry is left out") {
        WorkerJob j = full_job();
        j.options.pre_job_hook_path = "/opt/\xff.sh";
        j.options.host_files = {"/a:/b", "/\xfe:/c"};
        auto back = worker_protocol::decode(worker_protocol::encode(j));
        REQUIRE(back);
        CHECK(back->options.pre_job_hook_path.empty());
        CHECK(back->options.host_files == std::vector<std::string>{"/a:/b"});
    }

    TEST_CASE("configured NAME=VALUE entries split at the first =") {
        auto pairs = split_env_assignments({"A=1", "B=x=y", "C=", "=nameless", "noequals"});
        using P = std::pair<std::string, std::string>;
        CHECK(pairs == std::vector<P>{{"A", "1"}, {"B", "x=y"}, {"C", ""}});
    }

    TEST_CASE("split_env_assignment: at the first '=', a name required") {
        using Pair = std::pair<std::string, std::string>;
        CHECK(split_env_assignment("A=1") == Pair{"A", "1"});
        CHECK(split_env_assignment("B=x=y") == Pair{"B", "x=y"});
        CHECK(split_env_assignment("C=") == Pair{"C", ""});
        CHECK_FALSE(split_env_assignment("=nameless"));
        CHECK_FALSE(split_env_assignment("noequals"));
    }
}
