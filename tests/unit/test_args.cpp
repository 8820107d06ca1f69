#include <doctest/doctest.h>

#include "daemon/cli/args.hpp"

#include <string>
#include <vector>

using namespace sa;

TEST_SUITE("argv") {
    TEST_CASE("--key=value carries its value inline; --key value takes the next argument") {
        std::vector<std::string> args{"--port=8000", "--host", "0.0.0.0", "job.yml"};
        ArgReader r(args);
        REQUIRE(r.next());
        CHECK(r.name() == "--port");
        CHECK(r.arg() == "--port=8000");
        CHECK(r.has_inline_value());
        CHECK(r.value().value() == "8000");
        REQUIRE(r.next());
        CHECK(r.name() == "--host");
        CHECK_FALSE(r.has_inline_value());
        CHECK(r.value().value() == "0.0.0.0");  // consumed: the next one is the job file
        REQUIRE(r.next());
        CHECK(r.name() == "job.yml");
        CHECK_FALSE(r.next());
        CHECK_FALSE(r.next());  // stays at the end
    }

    TEST_CASE("only long options split at '=': a positional argument keeps its '='") {
        std::vector<std::string> args{"a=b.yml", "-x=1", "--files=/h:/d=e", "--empty="};
        ArgReader r(args);
        REQUIRE(r.next());
        CHECK(r.name() == "a=b.yml");
        CHECK_FALSE(r.has_inline_value());
        REQUIRE(r.next());
        CHECK(r.name() == "-x=1");
        REQUIRE(r.next());
        CHECK(r.name() == "--files");
        CHECK(r.value().value() == "/h:/d=e");  // split at the first '=' only
        REQUIRE(r.next());
        CHECK(r.name() == "--empty");
        CHECK(r.has_inline_value());
        CHECK(r.value().value() == "");
    }

    TEST_CASE("a last option without its value: NAME: needs a value") {
        std::vector<std::string> args{"--port"};
        ArgReader r(args);
        REQUIRE(r.next());
        auto v = r.value();
        REQUIRE_FALSE(v.ok());
        CHECK(v.message() == "--port: needs a value");
        CHECK_FALSE(r.next());
    }

    TEST_CASE("--help or -h anywhere, values included, asks for the help") {
        CHECK(wants_help({"run", "--json", "-h"}));
        CHECK(wants_help({"--pre-job-hook-path", "--help"}));
        CHECK_FALSE(wants_help({"--helpful", "-hh", "--help=1"}));
        CHECK_FALSE(wants_help({}));
    }
}
