// What a job's environment may hold from the agent's own. The supervisor
// starts the worker with this environment only, and the worker filters
// again before the job's shell gets it: no agent setting
// (SEMAPHORE_AGENT_*), no token, no service-manager handle ever reaches a job.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sa {

enum class JobEnvScope {
    // No job-user: the job runs as the agent's user and, as in the original,
    // inherits the agent's environment, minus what is never passed.
    Inherited,
    // job-user: only the login, locale, terminal, proxy and CA variables.
    LoginOnly,
};

// Never passed, whatever the scope: the agent's settings, the token (the
// registration token, SEMAPHORE_AGENT_TOKEN among the settings), systemd's
// handles to the service (NOTIFY_SOCKET, LISTEN_*, WATCHDOG_*) and its
// credentials directory.
bool env_name_never_passed(std::string_view name);
// HOME, USER, LOGNAME, SHELL, PATH, TERM, LANG, LANGUAGE, LC_*, the proxy
// variables in both cases and SSL_CERT_FILE / SSL_CERT_DIR.
bool env_name_login(std::string_view name);

// What the docker client reads to find and trust its daemon: DOCKER_HOST,
// DOCKER_CONFIG, DOCKER_CONTEXT, and for a TLS daemon DOCKER_TLS_VERIFY and
// DOCKER_CERT_PATH (without these two every pull from a tcp:// host with TLS
// fails). One list, so that the compose job and its registry login agree.
inline constexpr std::string_view kDockerClientEnv[] = {"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT",
                                                        "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"};
bool env_name_docker_client(std::string_view name);

// The NAME=VALUE entries of `env` a job may have in `scope`. An entry whose
// value contains one of `secrets` (of 8 bytes or more) is dropped too, whatever its
// name. `keep_docker`: the docker client's variables (kDockerClientEnv) stay
// in LoginOnly (the worker runs docker on the host for compose jobs; the
// job's shell does not get them).
std::vector<std::string> job_environment(const char* const* env, JobEnvScope scope,
                                         const std::vector<std::string>& secrets = {},
                                         bool keep_docker = false);

// An agent env-vars entry "NAME=VALUE" (start's env-vars key, run's
// --env-vars): its name and value, split at the first '='; nullopt without
// a '=' or without a name.
std::optional<std::pair<std::string, std::string>> split_env_assignment(std::string_view entry);

// The entries as RunOptions::agent_env_vars pairs; one that does not split
// is skipped (config and run refused it already).
std::vector<std::pair<std::string, std::string>> split_env_assignments(
    const std::vector<std::string>& name_values);

}  // namespace sa
