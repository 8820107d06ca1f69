#include <doctest/doctest.h>

#include "common/shell_quote.hpp"

using sa::shell_quote;

TEST_SUITE("shell_quote") {
    TEST_CASE("safe values stay bare") {
        CHECK(shell_quote("abc") == "abc");
        CHECK(shell_quote("a-b_c@d%e+f=g:h,i.j/k") == "a-b_c@d%e+f=g:h,i.j/k");
    }
    TEST_CASE("empty and unsafe values are single-quoted") {
        CHECK(shell_quote("") == "''");
        CHECK(shell_quote("hello world") == "'hello world'");
        CHECK(shell_quote("$HOME") == "'$HOME'");
        CHECK(shell_quote("a\nb") == "'a\nb'");
        CHECK(shell_quote("\"q\"") == "'\"q\"'");
    }
    TEST_CASE("single quotes are closed, quoted and reopened") {
        CHECK(shell_quote("it's") == "'it'\"'\"'s'");
        CHECK(shell_quote("'") == "''\"'\"''");
    }
    TEST_CASE("shell names") {
        CHECK(sa::is_shell_name("FOO_1"));
        CHECK(sa::is_shell_name("_x"));
        CHECK_FALSE(sa::is_shell_name("1A"));
        CHECK_FALSE(sa::is_shell_name(""));
        CHECK_FALSE(sa::is_shell_name("A-B"));
        CHECK_FALSE(sa::is_shell_name("A B"));
    }
}
