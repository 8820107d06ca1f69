#include <doctest/doctest.h>

#include "base64.hpp"

#include <string>

using namespace sa;

TEST_SUITE("base64") {
    TEST_CASE("RFC 4648 vectors") {
        const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
        const char* enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
        for (int i = 0; i < 7; i++) {
            CHECK(base64_encode(plain[i]) == enc[i]);
            auto d = base64_decode(enc[i]);
            REQUIRE(d);
            CHECK(*d == plain[i]);
        }
    }

    TEST_CASE("every byte value round-trips") {
        std::string all;
        for (int i = 0; i < 256; i++) all.push_back(static_cast<char>(i));
        CHECK(*base64_decode(base64_encode(all)) == all);
        CHECK(*base64url_decode(base64url_encode(all)) == all);
    }

    TEST_CASE("whitespace from wrapped output is skipped") {
        CHECK(*base64_decode("Zm9v\nYmFy\r\n") == "foobar");
        CHECK(*base64_decode(" Zm9vYg==\t") == "foob");
    }

    TEST_CASE("bad input is refused") {
        CHECK_FALSE(base64_decode("Zm9v!"));
        CHECK_FALSE(base64_decode("Z"));         // impossible length
        CHECK_FALSE(base64_decode("Zm9=v"));     // data after padding
        CHECK_FALSE(base64_decode("Zg==="));     // too much padding
        CHECK_FALSE(base64_decode("Zh=="));      // non-zero unused bits
        CHECK_FALSE(base64_decode("Zm9v-_"));    // url alphabet in the standard decoder
    }

    TEST_CASE("url-safe variant") {
        CHECK(base64url_encode("\xfb\xff") == "-_8");
        CHECK(*base64url_decode("-_8") == "\xfb\xff");
        CHECK_FALSE(base64url_decode("+/8"));
        CHECK_FALSE(base64url_decode("Zg=="));  // no padding in this alphabet's uses (JWT)
        CHECK(base64url_encode(std::string(15, 'x')).size() == 20);  // random agent names
    }
}
