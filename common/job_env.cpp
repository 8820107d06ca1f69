#include "common/job_env.hpp"

namespace sa {

namespace {

// A shorter "secret" (a test's token) would drop variables by coincidence.
constexpr size_t kMinSecret = 8;

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

bool env_name_never_passed(std::string_view name) {
    if (starts_with(name, "SEMAPHORE_AGENT_")) return true;
    for (std::string_view n : {"NOTIFY_SOCKET", "CREDENTIALS_DIRECTORY", "WATCHDOG_PID",
                               "WATCHDOG_USEC", "MANAGERPID"})
        if (name == n) return true;
    return starts_with(name, "LISTEN_");  // LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES
}

bool env_name_login(std::string_view name) {
    for (std::string_view n : {"HOME", "USER", "LOGNAME", "SHELL", "PATH", "TERM", "LANG", "LANGUAGE",
                               "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                               "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"})
        if (name == n) return true;
    return starts_with(name, "LC_");
}

bool env_name_docker_client(std::string_view name) {
    for (std::string_view n : kDockerClientEnv)
        if (name == n) return true;
    return false;
}

std::vector<std::string> job_environment(const char* const* env, JobEnvScope scope,
                                         const std::vector<std::string>& secrets, bool keep_docker) {
    std::vector<std::string> out;
    for (const char* const* e = env; e && *e; e++) {
        std::string_view entry(*e);
        size_t eq = entry.find('=');
        if (eq == std::string_view::npos || eq == 0) continue;
        std::string_view name = entry.substr(0, eq), value = entry.substr(eq + 1);
        if (env_name_never_passed(name)) continue;
        bool docker = keep_docker && env_name_docker_client(name);
        if (scope == JobEnvScope::LoginOnly && !env_name_login(name) && !docker) continue;
        bool holds_secret = false;
        for (const auto& s : secrets)
            holds_secret = holds_secret || (s.size() >= kMinSecret && value.find(s) != std::string_view::npos);
        if (!holds_secret) out.emplace_back(entry);
    }
    return out;
}

std::optional<std::pair<std::string, std::string>> split_env_assignment(std::string_view entry) {
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    return std::pair<std::string, std::string>(entry.substr(0, eq), entry.substr(eq + 1));
}

std::vector<std::pair<std::string, std::string>> split_env_assignments(
    const std::vector<std::string>& name_values) {
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(name_values.size());
    for (const auto& kv : name_values)
        if (auto pair = split_env_assignment(kv)) out.push_back(std::move(*pair));
    return out;
}

}  // namespace sa
