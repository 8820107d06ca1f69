#include <doctest/doctest.h>

#include "common/agent_log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

using namespace sa;

namespace {

// Sets (or unsets) a variable for one scope.
struct ScopedEnv {
    std::string name;
    std::optional<std::string> old;
    ScopedEnv(const char* n, const char* value) : name(n) {
        if (const char* o = std::getenv(n)) old = o;
        if (value) setenv(n, value, 1);
        else unsetenv(n);
    }
    ~ScopedEnv() {
        if (old) setenv(name.c_str(), old->c_str(), 1);
        else unsetenv(name.c_str());
    }
};

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/sa-agent-log-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::string read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_SUITE("agent_log") {
    TEST_CASE("line format") {
        // 2026-01-02 03:04:05.006 UTC
        CHECK(format_log_line(1767323045006LL, "agent-1", "hello") == "Jan  2 03:04:05.006 agent-1 : hello\n");
    }

    TEST_CASE("the default log file: $TMPDIR/agent_log, else /tmp/agent_log") {
        {
            ScopedEnv e("TMPDIR", "/var/tmp/x/");
            CHECK(default_log_file_path() == "/var/tmp/x/agent_log");
        }
        {
            ScopedEnv e("TMPDIR", "");
            CHECK(default_log_file_path() == "/tmp/agent_log");
        }
        {
            ScopedEnv e("TMPDIR", nullptr);
            CHECK(default_log_file_path() == "/tmp/agent_log");
        }
    }

    TEST_CASE("open_private_file: 0600, appends, refuses links and other users' files") {
        TempDir d;
        std::string p = d.path + "/agent_log";
        {
            AgentLog log;
            REQUIRE(log.open_private_file(p));
            log.info("first");
        }
        struct stat st {};
        REQUIRE(stat(p.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
        chmod(p.c_str(), 0644);
        {
            AgentLog log;
            REQUIRE(log.open_private_file(p));
            log.info("second");
        }
        REQUIRE(stat(p.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
        std::string text = read_all(p);
        CHECK(text.find("agent : first\n") != std::string::npos);
        CHECK(text.find("agent : second\n") != std::string::npos);

        std::string target = d.path + "/target";
        std::ofstream(target) << "keep\n";
        std::string link = d.path + "/link";
        REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
        AgentLog log;
        auto st_link = log.open_private_file(link);
        CHECK_FALSE(st_link);
        CHECK(read_all(target) == "keep\n");

        // A FIFO (with no reader) neither blocks nor is written to.
        std::string fifo = d.path + "/fifo";
        REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
        CHECK_FALSE(log.open_private_file(fifo));

        if (geteuid() == 0) {
            std::string theirs = d.path + "/theirs";
            std::ofstream(theirs) << "";
            REQUIRE(chown(theirs.c_str(), 65534, 65534) == 0);
            auto st_theirs = log.open_private_file(theirs);
            REQUIRE_FALSE(st_theirs);
            CHECK(st_theirs.message() == theirs + ": owned by another user");
        }
    }
}
