#include <doctest/doctest.h>

#include "common/agent_log.hpp"

#include <jansson.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

using namespace sa;

namespace {

json_t* parse(const std::string& line) {
    REQUIRE(!line.empty());
    REQUIRE(line.back() == '\n');
    REQUIRE(line.find('\n') == line.size() - 1);  // one line
    json_error_t e;
    json_t* j = json_loadb(line.data(), line.size() - 1, 0, &e);
    REQUIRE_MESSAGE(j != nullptr, "not JSON: " << line << " (" << e.text << ")");
    return j;
}

std::string field(json_t* j, const char* k) {
    const char* v = json_string_value(json_object_get(j, k));
    return v ? v : "<absent>";
}

}  // namespace

TEST_SUITE("agent_log") {
    TEST_CASE("JSON line: time in RFC 3339 UTC with milliseconds, level, agent, msg, in order") {
        std::string line = format_json_log_line(1767323045006LL, LogLevel::Warn, "agent-1", "hello", {});
        CHECK(line == "{\"time\":\"2026-01-02T03:04:05.006Z\",\"level\":\"warn\",\"agent\":\"agent-1\",\"msg\":\"hello\"}\n");
    }

    TEST_CASE("JSON line: job_id, state and reason only when they apply") {
        json_t* j = parse(format_json_log_line(0, LogLevel::Info, "a", "Job x finished", {"x", "running-job", "passed"}));
        CHECK(field(j, "time") == "1970-01-01T00:00:00.000Z");
        CHECK(field(j, "job_id") == "x");
        CHECK(field(j, "state") == "running-job");
        CHECK(field(j, "reason") == "passed");
        json_decref(j);
        j = parse(format_json_log_line(0, LogLevel::Error, "a", "m", {"", "waiting-for-jobs", ""}));
        CHECK(json_object_get(j, "job_id") == nullptr);
        CHECK(json_object_get(j, "reason") == nullptr);
        CHECK(field(j, "level") == "error");
        json_decref(j);
    }

    TEST_CASE("JSON line: quotes, newlines, control bytes and invalid UTF-8 stay one valid line") {
        std::string msg = "a \"quoted\" \\ path\nsecond line\t\x01 caf\xc3\xa9 bad\xff\xfe end \xed\xa0\x80";
        json_t* j = parse(format_json_log_line(0, LogLevel::Info, "n\"ame", msg, {}));
        std::string m = field(j, "msg");
        CHECK(m.find("a \"quoted\" \\ path\nsecond line\t\x01 caf\xc3\xa9 bad") == 0);
        CHECK(m.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD for the bad bytes
        CHECK(field(j, "agent") == "n\"ame");
        json_decref(j);
    }

    TEST_CASE("AgentLog in JSON: context fields follow set_job_id/set_state; text is unchanged") {
        char tmpl[] = "/tmp/sa-agent-log-json-XXXXXX";
        int fd = mkstemp(tmpl);
        REQUIRE(fd >= 0);
        ::close(fd);
        {
            AgentLog log;
            log.set_name("agent-9");
            REQUIRE(log.open_file(tmpl));
            log.info("text line");
            log.set_format(LogFormat::Json);
            log.set_state("running-job");
            log.set_job_id("job-7");
            log.log(LogLevel::Info, "Shutting down: IDLE", "IDLE");
            log.set_job_id("");
            log.debug("hidden at info level");
        }
        std::ifstream f(tmpl);
        std::string l1, l2, l3;
        std::getline(f, l1);
        std::getline(f, l2);
        CHECK(!std::getline(f, l3));
        CHECK(l1.find(" agent-9 : text line") == 19);  // "Jan  2 03:04:05.006 " prefix, as before
        json_t* j = parse(l2 + "\n");
        CHECK(field(j, "job_id") == "job-7");
        CHECK(field(j, "state") == "running-job");
        CHECK(field(j, "reason") == "IDLE");
        CHECK(field(j, "msg") == "Shutting down: IDLE");
        json_decref(j);
        std::remove(tmpl);
    }
}
