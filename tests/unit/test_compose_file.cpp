#include <doctest/doctest.h>

#include "worker/compose_file.hpp"
#include "common/yaml_json.hpp"
#include "common/json.hpp"

#include <string>

using namespace sa;

TEST_SUITE("compose") {

TEST_CASE("the manifest of executors.md 1.4, with every value quoted") {
    Compose c;
    c.containers.push_back({"main", "ruby:2.6", "", "", "", {}});
    c.containers.push_back({"db", "postgres:9.6", "postgres start",
                            "/docker-entrypoint-initdb.d/init-user-db.sh", "postgres",
                            {{"FOO", "BAR"}, {"FAZ", "ZEZ"}}});
    std::string expected =
        "version: \"2.0\"\n"
        "\n"
        "services:\n"
        "  \"main\":\n"
        "    image: \"ruby:2.6\"\n"
        "    devices:\n"
        "      - \"/dev/kvm:/dev/kvm\"\n"
        "    links:\n"
        "      - \"db\"\n"
        "\n"
        "  \"db\":\n"
        "    image: \"postgres:9.6\"\n"
        "    devices:\n"
        "      - \"/dev/kvm:/dev/kvm\"\n"
        "    command: \"postgres start\"\n"
        "    user: \"postgres\"\n"
        "    entrypoint: \"/docker-entrypoint-initdb.d/init-user-db.sh\"\n"
        "    environment:\n"
        "      - \"FOO=BAR\"\n"
        "      - \"FAZ=ZEZ\"\n"
        "\n";
    CHECK(compose_manifest(c, {}, true) == expected);
}

TEST_CASE("volumes go on the main container only; no kvm unless asked") {
    Compose c;
    c.containers.push_back({"main", "img", "", "", "", {}});
    std::string y = compose_manifest(c, {{"/host/a b", "/dest"}}, false);
    CHECK(y.find("devices") == std::string::npos);
    CHECK(y.find("links") == std::string::npos);
    CHECK(y.find("    volumes:\n      - \"/host/a b:/dest\"\n") != std::string::npos);
}

TEST_CASE("hostile values stay values: the manifest parses back to them") {
    std::string value = "a: b # c\n\"quoted\" \\ 'single' \t\x01\x7f end: [x] {y} &z *w \xc3\xa9"
                        "\xc2\x80\xc2\x85\xc2\x9f\xc2\xa0";  // C1 controls, NEL, then NBSP
    Compose c;
    c.containers.push_back({"main", "img", "", "", "", {{"V", value}}});
    auto json = yaml_to_json(compose_manifest(c, {}, false));
    REQUIRE(json);
    json_t* env = json_object_get(json_object_get(json_object_get(json->get(), "services"), "main"),
                                  "environment");
    REQUIRE(json_array_size(env) == 1);
    CHECK(std::string(json_string_value(json_array_get(env, 0))) == "V=" + value);
}

TEST_CASE("a `$` in a value is doubled, so compose does not substitute into it") {
    CHECK(compose_quote("pa$word ${HOME} $$") == "\"pa$$word $${HOME} $$$$\"");
    Compose c;
    c.containers.push_back({"main", "img:$x", "echo $A", "", "", {{"P", "a$b"}}});
    std::string y = compose_manifest(c, {{"/h$", "/d"}}, false);
    CHECK(y.find("image: \"img:$$x\"") != std::string::npos);
    CHECK(y.find("command: \"echo $$A\"") != std::string::npos);
    CHECK(y.find("- \"P=a$$b\"") != std::string::npos);
    CHECK(y.find("- \"/h$$:/d\"") != std::string::npos);
}

TEST_CASE("compose versions and the program they select") {
    CHECK(compose_version_from_plugin("Docker Compose version v2.20.0\n") == "v2.20.0");
    CHECK(compose_version_from_plugin("docker: unknown command: docker compose\n").empty());
    CHECK(compose_version_from_standalone("docker-compose version 1.29.2, build unknown\n") == "1.29.2");
    // A v2 docker-compose binary prints the plugin form: not a v1 answer.
    CHECK(compose_version_from_standalone("Docker Compose version v2.20.0\n").empty());
    CHECK(compose_program("1.29.2") == std::vector<std::string>{"docker-compose"});
    for (const char* v : {"v2.20.0", "v2.21.0-desktop.1", "v3.0.0", "v5.1.0-desktop.1", "v10.0.0"})
        CHECK(compose_program(v) == std::vector<std::string>{"docker", "compose"});
}

static std::string login(const std::vector<EnvVar>& env, std::string_view aws_version = "",
                         std::string_view account = "") {
    auto r = docker_login_command(env, aws_version, account);
    return r ? *r : "error: " + r.message();
}

TEST_CASE("docker login commands per credential type") {
    auto env = [](std::string type) { return std::vector<EnvVar>{{"DOCKER_CREDENTIAL_TYPE", type}}; };
    CHECK(login(env("DockerHub")) ==
          "echo $DOCKERHUB_PASSWORD | docker login --username $DOCKERHUB_USERNAME --password-stdin");
    CHECK(login(env("GenericDocker")) ==
          "docker login -u \"$DOCKER_USERNAME\" -p \"$DOCKER_PASSWORD\" $DOCKER_URL");
    CHECK(login(env("GCR")) ==
          "cat /tmp/gcr/keyfile.json | docker login -u _json_key --password-stdin https://$GCR_HOSTNAME");
    CHECK(login(env("AWS_ECR"), "2.13.1", "123456789012") ==
          "aws ecr get-login-password --region $AWS_REGION | docker login --username AWS "
          "--password-stdin 123456789012.dkr.ecr.$AWS_REGION.amazonaws.com");
    auto with_account = env("AWS_ECR");
    with_account.push_back({"AWS_ACCOUNT_ID", "999"});
    CHECK(login(with_account, "2.0.0", "ignored") ==
          "aws ecr get-login-password --region $AWS_REGION | docker login --username AWS "
          "--password-stdin 999.dkr.ecr.$AWS_REGION.amazonaws.com");
    CHECK(login(env("AWS_ECR"), "1.18.69") ==
          "$(aws ecr get-login --no-include-email --region $AWS_REGION)");
    CHECK(login(with_account, "1.18.69") ==
          "$(aws ecr get-login --no-include-email --region $AWS_REGION --registry-ids 999)");
    CHECK(!docker_login_command(env("AWS_ECR"), "not a version"));
    CHECK(docker_login_command(env("Quay")).message() == "unknown DOCKER_CREDENTIAL_TYPE: 'Quay'");
    CHECK(docker_login_command({}).message() == "DOCKER_CREDENTIAL_TYPE not set");
    CHECK(credential_banner("GenericDocker") == "Setting up credentials for Docker\n");
    CHECK(credential_banner("AWS_ECR") == "Setting up credentials for ECR\n");
}

TEST_CASE("jump point, names and --files entries") {
    std::string j = compose_jump_point("semaphore-x-main");
    CHECK(j.rfind("#!/bin/bash\n\ncd /tmp\n", 0) == 0);
    CHECK(j.find("  docker exec -ti semaphore-x-main bash --login\n") != std::string::npos);
    CHECK(j.find("  docker exec -i semaphore-x-main \"$@\"\nfi") != std::string::npos);
    CHECK(docker_safe_name("Semaphore-Job 1/x") == "semaphore-job-1-x");
    CHECK(docker_safe_name("_x") == "j_x");
    CHECK(docker_safe_name("job.1") == "job-1");  // compose v2 refuses `.` in a project name
    auto f = parse_host_file("/a/b:/c");
    REQUIRE(f);
    CHECK(f->host_path == "/a/b");
    CHECK(f->destination == "/c");
    CHECK(!parse_host_file("/a/b"));
    CHECK(!parse_host_file(":/c"));
}

}  // TEST_SUITE
