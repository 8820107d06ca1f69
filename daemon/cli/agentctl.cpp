// agentctl: asks a running semaphore-agent what it is doing, over its
// control socket (one JSON request line, one JSON reply line).
#include "common/control_protocol.hpp"
#include "common/json.hpp"
#include "common/name_services.hpp"
#include "daemon/cli/args.hpp"
#include "common/unique_fd.hpp"
#include "sa_build_config.h"

#include <grp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr char kHelp[] =
    "Usage: agentctl [--socket PATH] COMMAND\n"
    "\n"
    "Talks to a running semaphore-agent over its control socket.\n"
    "\n"
    "Commands:\n"
    "  status [--json]   name, version, state, current job, last sync, jobs run, uptime\n"
    "  drain             finish the current job, take no new one, then disconnect\n"
    "  metrics           the agent's Prometheus metrics (as GET /metrics serves them)\n"
    "  health            `ok`, or why not; exit 0 when healthy, else 1 (the rule of GET /healthz)\n"
    "\n"
    "Options:\n"
    "  --socket PATH     the agent's control socket (default: $SEMAPHORE_AGENT_CONTROL_SOCKET,\n"
    "                    else /run/semaphore-agent/agent.sock)\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 success, 1 the agent refused the request, 2 usage error,\n"
    "3 no agent answered (none listening, or permission denied on the socket).\n";

// The help names the protocol's defaults; it must not drift from them.
static_assert(std::string_view(kHelp).find(sa::control::kDefaultSocketPath) != std::string_view::npos);
static_assert(std::string_view(kHelp).find(sa::control::kSocketEnv) != std::string_view::npos);

constexpr int kTimeoutMs = sa::control::kAnswerTimeoutMs;
// The timeout message counts whole seconds.
static_assert(kTimeoutMs % 1000 == 0);

struct Reply {
    std::string text;
    std::string error;  // set when no agent answered
};

// The group that may use the socket: the socket's own, else (when its
// directory cannot be searched) the directory's; "semaphore" as installed.
std::string owning_group(const std::string& path) {
    struct stat st;
    std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
    if (dir.empty()) dir = "/";
    if (::stat(path.c_str(), &st) != 0 && ::stat(dir.c_str(), &st) != 0) return "semaphore";
    if (const group* g = ::getgrgid(st.st_gid)) return g->gr_name;
    return std::to_string(st.st_gid);
}

Reply ask(const std::string& path, const std::string& request) {
    Reply r;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        r.error = "socket path too long: " + path;
        return r;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    sa::UniqueFd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int fd = sock.get();
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int e = errno;
        // EACCES/EPERM: the socket (0660) or its directory (0750) is there but
        // not ours to use; saying "no agent" would send the user looking for
        // a stopped service.
        if (fd >= 0 && (e == EACCES || e == EPERM))
            r.error = "permission denied: " + path + " (members of group " + owning_group(path) +
                      " may use it)";
        else
            r.error = "no agent is listening on " + path + " (" + std::strerror(e) + ")";
        return r;
    }
    std::string line = request + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        r.error = std::string("cannot send the request: ") + std::strerror(errno);
        return r;
    }
    char buf[4096];
    while (r.text.find('\n') == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, kTimeoutMs) <= 0) {
            r.error = "the agent did not answer within " + std::to_string(kTimeoutMs / 1000) + " s";
            break;
        }
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            if (r.text.empty()) r.error = "the agent closed the connection without answering";
            break;
        }
        r.text.append(buf, static_cast<size_t>(n));
    }
    sock.reset();
    if (size_t nl = r.text.find('\n'); nl != std::string::npos) r.text.resize(nl);
    return r;
}

std::string str(json_t* o, const char* k, const char* dflt = "-") {
    json_t* v = json_object_get(o, k);
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v)) return std::to_string(json_integer_value(v));
    if (json_is_boolean(v)) return json_is_true(v) ? "yes" : "no";
    return dflt;
}

std::string duration(json_t* v) {
    if (!json_is_integer(v)) return "-";
    long long s = json_integer_value(v);
    char buf[64];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", s / 3600, s / 60 % 60, s % 60);
    else if (s >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%llds", s);
    return buf;
}

void print_status(json_t* o) {
    namespace k = sa::control::status;
    json_t* jobs = json_object_get(o, k::kJobs);
    std::string last_sync = "-";
    if (json_t* t = json_object_get(o, k::kLastSyncAt); json_is_integer(t)) {
        long long ago = static_cast<long long>(time(nullptr)) - json_integer_value(t);
        last_sync = std::to_string(ago < 0 ? 0 : ago) + "s ago";
    }
    std::printf("Name:        %s\n", str(o, k::kName).c_str());
    std::printf("Version:     %s\n", str(o, k::kVersion).c_str());
    std::printf("State:       %s%s\n", str(o, k::kState).c_str(),
                json_is_true(json_object_get(o, k::kDraining)) ? " (draining)" : "");
    std::printf("Job:         %s", str(o, k::kJobId).c_str());
    if (json_is_integer(json_object_get(o, k::kJobRunningSeconds)))
        std::printf(" (running for %s)", duration(json_object_get(o, k::kJobRunningSeconds)).c_str());
    std::printf("\nLast sync:   %s\n", last_sync.c_str());
    std::printf("Last error:  %s\n", str(o, k::kLastError).c_str());
    std::printf("Uptime:      %s\n", duration(json_object_get(o, k::kUptimeSeconds)).c_str());
    std::printf("Jobs:        %s passed, %s failed, %s stopped\n", str(jobs, k::kJobsPassed, "0").c_str(),
                str(jobs, k::kJobsFailed, "0").c_str(), str(jobs, k::kJobsStopped, "0").c_str());
    std::printf("Endpoint:    %s\n", str(o, k::kEndpoint).c_str());
    if (json_t* u = json_object_get(o, k::kJobUsage); json_is_object(u)) {
        double mib = static_cast<double>(json_integer_value(json_object_get(u, k::kMemoryPeakBytes))) / (1 << 20);
        std::printf("Job usage:   CPU %.2fs user %.2fs system, peak memory %.1f MiB, peak tasks %s, OOM kills %s\n",
                    json_real_value(json_object_get(u, k::kCpuUserSeconds)),
                    json_real_value(json_object_get(u, k::kCpuSystemSeconds)), mib,
                    str(u, k::kTasksPeak).c_str(), str(u, k::kOomKills).c_str());
    }
    if (json_is_string(json_object_get(o, k::kInterruptionSource)))
        std::printf("Interrupted: %s notice from EC2\n", str(o, k::kInterruptionSource).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    namespace control = sa::control;
    using control::Command;
    sa::pin_builtin_name_services();
    std::vector<std::string> args(argv + 1, argv + argc);
    const char* env = std::getenv(control::kSocketEnv);
    std::string socket_path = env && *env ? env : control::kDefaultSocketPath;
    std::string command;
    bool json = false;
    auto unexpected = [](const std::string& a) {
        std::fprintf(stderr, "agentctl: unexpected argument '%s'\n\n%s", a.c_str(), kHelp);
        return 2;
    };
    sa::ArgReader reader(args);
    while (reader.next()) {
        const std::string& a = reader.arg();
        if (a == "--help" || a == "-h") {
            std::fputs(kHelp, stdout);
            return 0;
        } else if (a == "--version") {
            std::printf("%s\n", SA_VERSION);
            return 0;
        } else if (reader.name() == "--socket") {
            auto v = reader.value();
            if (!v) return unexpected(a);
            socket_path = *v;
        } else if (a == "--json") {
            json = true;
        } else if (command.empty() && a[0] != '-') {
            command = a;
        } else {
            return unexpected(a);
        }
    }
    auto cmd = control::parse_command(command);
    if (!cmd) {
        std::fprintf(stderr, "agentctl: %s\n\n%s",
                     command.empty() ? "missing command" : ("unknown command '" + command + "'").c_str(), kHelp);
        return 2;
    }
    Reply r = ask(socket_path, control::request(*cmd));
    if (!r.error.empty()) {
        std::fprintf(stderr, "agentctl: %s\n", r.error.c_str());
        return *cmd == Command::Health ? 1 : 3;  // a health check knows only healthy or not
    }
    json_error_t e;
    sa::JsonPtr o(json_loads(r.text.c_str(), 0, &e));
    if (!o || !json_is_object(o.get())) {
        std::fprintf(stderr, "agentctl: the agent's answer is not JSON: %s\n", r.text.c_str());
        return 3;
    }
    if (!json_is_true(json_object_get(o.get(), control::key::kOk))) {
        std::fprintf(stderr, "agentctl: the agent refused: %s\n", str(o.get(), control::key::kError).c_str());
        return 1;
    }
    if (*cmd == Command::Metrics && !json) {
        std::fputs(str(o.get(), control::key::kMetrics).c_str(), stdout);
        return 0;
    }
    if (*cmd == Command::Health) {
        if (json) std::printf("%s\n", r.text.c_str());
        else std::printf("%s\n", str(o.get(), control::key::kReason).c_str());
        return json_is_true(json_object_get(o.get(), control::key::kHealthy)) ? 0 : 1;
    }
    if (json || *cmd != Command::Status) {
        if (json) std::printf("%s\n", r.text.c_str());
        else std::printf("%s\n", str(o.get(), control::key::kMessage).c_str());
        return 0;
    }
    print_status(o.get());
    return 0;
}
