#include <doctest/doctest.h>

#include "common/job_env.hpp"

#include <algorithm>
#include <string>
#include <vector>

using namespace sa;

namespace {

const char* const kAgentEnv[] = {
    "PATH=/usr/bin:/bin", "HOME=/var/lib/semaphore-agent", "USER=semaphore", "TERM=xterm",
    "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "HTTPS_PROXY=http://u:pw@proxy:3128", "no_proxy=localhost",
    "SSL_CERT_FILE=/etc/ssl/ca.pem", "SEMAPHORE_AGENT_TOKEN=tok-0123456789", "SEMAPHORE_AGENT_ENDPOINT=x",
    "NOTIFY_SOCKET=/run/systemd/notify", "LISTEN_FDS=1", "CREDENTIALS_DIRECTORY=/run/credentials/x",
    "JAVA_HOME=/opt/jdk", "COPY=prefix-tok-0123456789-suffix", "DOCKER_HOST=unix:///run/docker.sock",
    "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=/etc/docker/certs", "DOCKER_CONTEXT=remote",
    "=nameless", "NOEQUALS", nullptr};

bool has(const std::vector<std::string>& env, const std::string& entry) {
    return std::find(env.begin(), env.end(), entry) != env.end();
}

bool has_name(const std::vector<std::string>& env, const std::string& name) {
    return std::any_of(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(name + "=", 0) == 0; });
}

}  // namespace

TEST_SUITE("job_env") {
    TEST_CASE("never: agent settings, the token under any name, systemd's handles") {
        for (auto scope : {JobEnvScope::Inherited, JobEnvScope::LoginOnly}) {
            auto env = job_environment(kAgentEnv, scope, {"tok-0123456789"}, true);
            for (const char* n : {"SEMAPHORE_AGENT_TOKEN", "SEMAPHORE_AGENT_ENDPOINT", "NOTIFY_SOCKET",
                                  "LISTEN_FDS", "CREDENTIALS_DIRECTORY", "COPY"})
                CHECK_MESSAGE(!has_name(env, n), n);
            for (const auto& e : env) CHECK(e.find("tok-0123456789") == std::string::npos);
            CHECK(has(env, "HTTPS_PROXY=http://u:pw@proxy:3128"));
            CHECK(has(env, "no_proxy=localhost"));
            CHECK(has(env, "SSL_CERT_FILE=/etc/ssl/ca.pem"));
            CHECK(has(env, "LC_ALL=C.UTF-8"));
            CHECK(has(env, "PATH=/usr/bin:/bin"));
            CHECK_FALSE(has_name(env, ""));
        }
    }

    TEST_CASE("without job-user the rest stays; with it, only the login set") {
        auto inherited = job_environment(kAgentEnv, JobEnvScope::Inherited, {});
        CHECK(has(inherited, "JAVA_HOME=/opt/jdk"));
        CHECK(has(inherited, "DOCKER_HOST=unix:///run/docker.sock"));
        auto login = job_environment(kAgentEnv, JobEnvScope::LoginOnly, {});
        CHECK_FALSE(has_name(login, "JAVA_HOME"));
        CHECK_FALSE(has_name(login, "DOCKER_HOST"));
        CHECK(has(login, "TERM=xterm"));
        auto for_docker = job_environment(kAgentEnv, JobEnvScope::LoginOnly, {}, true);
        CHECK(has(for_docker, "DOCKER_HOST=unix:///run/docker.sock"));
        CHECK_FALSE(has_name(for_docker, "JAVA_HOME"));
    }

    TEST_CASE("a TLS docker daemon: its verify flag, certificates and context stay with DOCKER_HOST") {
        auto for_docker = job_environment(kAgentEnv, JobEnvScope::LoginOnly, {}, true);
        CHECK(has(for_docker, "DOCKER_TLS_VERIFY=1"));
        CHECK(has(for_docker, "DOCKER_CERT_PATH=/etc/docker/certs"));
        CHECK(has(for_docker, "DOCKER_CONTEXT=remote"));
        auto login = job_environment(kAgentEnv, JobEnvScope::LoginOnly, {});
        for (const char* n : {"DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"})
            CHECK_MESSAGE(!has_name(login, n), n);
        for (std::string_view n : kDockerClientEnv) CHECK(env_name_docker_client(n));
        CHECK_FALSE(env_name_docker_client("DOCKER_BUILDKIT"));
    }

    TEST_CASE("a short secret drops nothing by coincidence") {
        auto env = job_environment(kAgentEnv, JobEnvScope::Inherited, {"bin"});
        CHECK(has(env, "PATH=/usr/bin:/bin"));
    }
}
