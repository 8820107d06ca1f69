#include <doctest/doctest.h>

#include "common/utf8.hpp"

#include <string>

using namespace sa;

TEST_SUITE("utf8") {

TEST_CASE("valid sequences of every length pass unchanged") {
    std::string ok = "a\xC2\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xED\x9F\xBF\xEE\x80\x80\xF4\x8F\xBF\xBF";
    CHECK(utf8_replace_invalid(ok, "?") == ok);
    CHECK(utf8_sequence("\xC2\xA9", 0) == 2);
    CHECK(utf8_sequence("\xE2\x82\xAC", 0) == 3);
    CHECK(utf8_sequence("\xF4\x8F\xBF\xBF", 0) == 4);  // U+10FFFF, the last code point
}

TEST_CASE("overlong forms, surrogates and code points above U+10FFFF are refused") {
    // Each of these the old cmd_output check passed through as valid.
    const char* bad[] = {
        "\xC0\xAF",          // '/' in two bytes
        "\xC1\xBF",          // overlong
        "\xE0\x80\xAF",      // '/' in three bytes
        "\xF0\x80\x80\xAF",  // '/' in four bytes
        "\xED\xA0\x80",      // U+D800, a surrogate
        "\xED\xBF\xBF",      // U+DFFF
        "\xF4\x90\x80\x80",  // U+110000
        "\xF7\xBF\xBF\xBF",  // U+1FFFFF
    };
    for (const char* b : bad) {
        std::string s(b);
        CAPTURE(s);
        CHECK(utf8_sequence(s, 0) == 0);
        CHECK(utf8_replace_invalid(s, "?") == std::string(s.size(), '?'));
    }
}

TEST_CASE("stray, truncated and impossible bytes are replaced one by one") {
    CHECK(utf8_replace_invalid("a\x80z", "?") == "a?z");
    CHECK(utf8_replace_invalid("a\xE2\x82", "?") == "a??");  // cut short at the end
    CHECK(utf8_replace_invalid("\xE2(\xA1", "?") == "?(?");
    CHECK(utf8_replace_invalid("\xFF\xFE", "\xEF\xBF\xBD") == "\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(utf8_replace_invalid("", "?").empty());
}

}
