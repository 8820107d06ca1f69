// semaphore-agent: subcommand dispatch. Everything long-lived is created in
// the subcommands and owned by their stack frames; there is no global state.
#include "common/config.hpp"
#include "common/name_services.hpp"
#include "daemon/cli/args.hpp"
#include "daemon/cli/argv_scrub.hpp"
#include "daemon/cli/run.hpp"
#include "daemon/cli/serve.hpp"
#include "daemon/cli/start.hpp"
#include "sa_build_config.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace {

const char* const kMainHelp =
    "Usage: semaphore-agent COMMAND [OPTIONS]\n"
    "\n"
    "The Semaphore CI agent.\n"
    "\n"
    "Commands:\n"
    "  start          register with a Semaphore organization and run its jobs\n"
    "  serve          hosted mode: take jobs over HTTPS\n"
    "  run JOB_FILE   run one job request (JSON or YAML) locally\n"
    "  check-config   validate the `start` configuration and print it (token masked)\n"
    "  version        print the version\n"
    "\n"
    "Run `semaphore-agent COMMAND --help` for a command's options.\n";

const char* const kCheckConfigHelp =
    "Usage: semaphore-agent check-config [START OPTIONS]\n"
    "\n"
    "Loads the configuration exactly as `start` would (flags, SEMAPHORE_AGENT_*\n"
    "variables, --config-file), validates it and prints the effective settings\n"
    "with the token masked. Exit status 0 when valid, 78 (EX_CONFIG) otherwise.\n";

const char* const kVersionHelp = "Usage: semaphore-agent version\n\nPrints the agent's version.\n";

int check_config(const std::vector<std::string>& args) {
    if (sa::wants_help(args)) {
        std::fputs(kCheckConfigHelp, stdout);
        return 0;
    }
    auto cfg = sa::load_config(args, sa::process_env());
    if (!cfg) {
        std::fprintf(stderr, "%s\n", cfg.message().c_str());
        return 78;
    }
    if (auto st = sa::validate_config(*cfg); !st) {
        std::fprintf(stderr, "%s\n", st.message().c_str());
        return 78;
    }
    std::fputs(sa::describe_config(*cfg).c_str(), stdout);
    // Valid, but some limits may not work on this host: say so (exit 0 still).
    for (const auto& w : sa::limit_warnings(cfg->job_cgroup_parent, sa::job_limits(*cfg)))
        std::fprintf(stderr, "warning: %s\n", w.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    sa::pin_builtin_name_services();
    std::vector<std::string> args(argv + 1, argv + argc);
    // Copied: now the secrets leave the argument area any local user can
    // read in /proc/PID/cmdline (a job's user, too).
    sa::scrub_secret_args(argc, argv, {"--token", "--auth-token-secret"});
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::fputs(kMainHelp, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    std::string cmd = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (cmd == "--version" || cmd == "-v" || cmd == "version") {
        if (cmd == "version" && sa::wants_help(rest)) {
            std::fputs(kVersionHelp, stdout);
            return 0;
        }
        std::printf("%s\n", SA_VERSION);
        return 0;
    }
    // `--version` anywhere prints the version, like the original, unless
    // --help asks for the subcommand's help.
    if (!sa::wants_help(rest) && std::find(rest.begin(), rest.end(), "--version") != rest.end()) {
        std::printf("%s\n", SA_VERSION);
        return 0;
    }
    if (cmd == "run") return sa::run_command(rest);
    if (cmd == "check-config") return check_config(rest);
    if (cmd == "start") return sa::start_command(rest);
    if (cmd == "serve") return sa::serve_command(rest);
    std::fprintf(stderr, "semaphore-agent: unknown command '%s'\n\n%s", cmd.c_str(), kMainHelp);
    return 2;
}
