#include <doctest/doctest.h>

#include "daemon/cli/argv_scrub.hpp"

#include <string>
#include <vector>

using namespace sa;

namespace {

// A kernel-like argument area: the strings back to back, NUL-terminated.
struct Args {
    std::string area;
    std::vector<char*> argv;
    explicit Args(std::vector<std::string> items) {
        for (auto& s : items) area += s + '\0';
        size_t at = 0;
        for (auto& s : items) {
            argv.push_back(area.data() + at);
            at += s.size() + 1;
        }
    }
    void scrub() { scrub_secret_args(static_cast<int>(argv.size()), argv.data(), {"--token", "--auth-token-secret"}); }
    // What /proc/PID/cmdline shows, trailing NULs dropped, NULs as spaces.
    std::string shown() const {
        std::string s = area;
        while (!s.empty() && s.back() == '\0') s.pop_back();
        for (char& c : s) if (c == '\0') c = ' ';
        return s;
    }
};

}  // namespace

TEST_SUITE("argv") {
    TEST_CASE("--token VALUE and --token=VALUE are masked, the rest stays") {
        Args a({"/opt/semaphore/agent/agent", "start", "--endpoint", "x.semaphoreci.com", "--token",
                "s3cr3t-registration-token", "--name", "box-0001"});
        a.scrub();
        CHECK(a.shown() == "/opt/semaphore/agent/agent start --endpoint x.semaphoreci.com --token ******** --name box-0001");
        CHECK(std::string(a.argv[7]) == "box-0001");  // pointers follow the rewrite
        Args b({"agent", "start", "--token=s3cr3t-registration-token", "--no-https"});
        b.scrub();
        CHECK(b.shown() == "agent start --token=******** --no-https");
        CHECK(b.area.find("s3cr3t") == std::string::npos);
    }

    TEST_CASE("serve's JWT secret is masked too; nothing to mask leaves the area as it was") {
        Args a({"agent", "serve", "--auth-token-secret", "a-long-jwt-secret", "--port", "8000"});
        a.scrub();
        CHECK(a.shown() == "agent serve --auth-token-secret ******** --port 8000");
        Args b({"agent", "run", "job.yaml"});
        std::string before = b.area;
        b.scrub();
        CHECK(b.area == before);
    }

    TEST_CASE("a secret shorter than the mask is starred in place") {
        Args a({"agent", "start", "--token", "abc", "--name", "box-0001"});
        a.scrub();
        CHECK(a.shown() == "agent start --token *** --name box-0001");
    }
}
