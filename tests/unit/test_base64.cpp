#include <doctest/doctest.h>

#include "common/base64.hpp"

#include <optional>
#include <string>

using namespace sa;

namespace {

std::string all_bytes() {
    std::string s;
    for (int i = 0; i < 256; i++) s.push_back(static_cast<char>(i));
    return s;
}

// Python's base64.b64encode(bytes(range(256))) and its url-safe, unpadded form.
const char* kAllStd =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZH"
    "SElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6P"
    "kJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX"
    "2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==";
const char* kAllUrl =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-P0BBQkNERUZH"
    "SElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn-AgYKDhIWGh4iJiouMjY6P"
    "kJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq-wsbKztLW2t7i5uru8vb6_wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX"
    "2Nna29zd3t_g4eLj5OXm5-jp6uvs7e7v8PHy8_T19vf4-fr7_P3-_w";

}  // namespace

TEST_SUITE("base64") {
    TEST_CASE("RFC 4648 section 10 vectors, both ways") {
        const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
        const char* enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
        const char* url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
        for (int i = 0; i < 7; i++) {
            CAPTURE(i);
            CHECK(base64_encode(plain[i]) == enc[i]);
            CHECK(base64_decode(enc[i]) == std::optional<std::string>(plain[i]));
            CHECK(base64url_encode(plain[i]) == url[i]);
            CHECK(base64url_decode(url[i]) == std::optional<std::string>(plain[i]));
        }
    }

    TEST_CASE("padding is optional in the standard decoder") {
        CHECK(base64_decode("Zg") == std::optional<std::string>("f"));
        CHECK(base64_decode("Zm8") == std::optional<std::string>("fo"));
        CHECK(base64_decode("Zm9vYmE") == std::optional<std::string>("fooba"));
    }

    TEST_CASE("bytes 0..255") {
        const std::string all = all_bytes();
        CHECK(base64_encode(all) == kAllStd);
        CHECK(base64url_encode(all) == kAllUrl);
        CHECK(base64_decode(kAllStd) == std::optional<std::string>(all));
        CHECK(base64url_decode(kAllUrl) == std::optional<std::string>(all));
        // Every length, so each tail (0, 1, 2 leftover bytes) meets every byte.
        for (size_t n = 0; n <= all.size(); n++) {
            CAPTURE(n);
            std::string s = all.substr(all.size() - n);
            REQUIRE(base64_decode(base64_encode(s)) == std::optional<std::string>(s));
            REQUIRE(base64url_decode(base64url_encode(s)) == std::optional<std::string>(s));
        }
    }

    TEST_CASE("whitespace is skipped by the standard decoder") {
        CHECK(base64_decode("Zm9v\nYmFy\n") == std::optional<std::string>("foobar"));
        CHECK(base64_decode("Zm9v\r\nYmFy\r\n") == std::optional<std::string>("foobar"));
        CHECK(base64_decode(" Z m 9 v Y g = = \t") == std::optional<std::string>("foob"));
        CHECK(base64_decode("Zg=\n=\n") == std::optional<std::string>("f"));
        CHECK(base64_decode("\n\n") == std::optional<std::string>(""));
        // `base64` wraps at 76 columns.
        std::string wrapped;
        std::string enc = base64_encode(all_bytes());
        for (size_t i = 0; i < enc.size(); i += 76) wrapped += enc.substr(i, 76) + "\n";
        CHECK(base64_decode(wrapped) == std::optional<std::string>(all_bytes()));
    }

    TEST_CASE("bad characters are refused") {
        CHECK_FALSE(base64_decode("Zm9v!"));
        CHECK_FALSE(base64_decode("Zm9v-_"));  // url alphabet in the standard decoder
        CHECK_FALSE(base64_decode("Zm.v"));
        CHECK_FALSE(base64_decode("Zm9\v"));   // only \n \r space \t are whitespace
        CHECK_FALSE(base64_decode(std::string("Zm\0v", 4)));
        CHECK_FALSE(base64_decode("Zm9\xc3\xa9"));
        CHECK_FALSE(base64_decode("%%%"));
    }

    TEST_CASE("bad padding and impossible lengths are refused") {
        CHECK_FALSE(base64_decode("Z"));         // 6 bits cannot make a byte
        CHECK_FALSE(base64_decode("Zm9vY"));
        CHECK_FALSE(base64_decode("Z==="));
        CHECK_FALSE(base64_decode("Zg="));       // incomplete padding
        CHECK_FALSE(base64_decode("Zm8=="));     // too much padding
        CHECK_FALSE(base64_decode("Zg==="));
        CHECK_FALSE(base64_decode("Zm9v="));
        CHECK_FALSE(base64_decode("===="));
        CHECK_FALSE(base64_decode("="));
        CHECK_FALSE(base64_decode("=Zg"));
        CHECK_FALSE(base64_decode("Zm9=v"));     // data after padding
        CHECK_FALSE(base64_decode("Zg==Zg=="));
        CHECK_FALSE(base64_decode("Zh=="));      // non-zero unused bits: not canonical
        CHECK_FALSE(base64_decode("Zm9="));
        CHECK_FALSE(base64_decode("Zh"));
    }

    TEST_CASE("url-safe variant") {
        CHECK(base64url_encode("\xfb\xff") == "-_8");
        CHECK(base64url_decode("-_8") == std::optional<std::string>("\xfb\xff"));
        CHECK(base64_encode("\xfb\xff") == "+/8=");
        CHECK_FALSE(base64url_decode("+/8"));   // standard alphabet refused
        CHECK_FALSE(base64url_decode("Zg=="));  // JWT segments carry no padding
        CHECK_FALSE(base64url_decode("Zm9v\nYmFy"));  // nor whitespace
        CHECK_FALSE(base64url_decode("Z"));
        CHECK_FALSE(base64url_decode("Zh"));
        CHECK(base64url_encode(std::string(15, 'x')).size() == 20);  // random agent names
    }
}
