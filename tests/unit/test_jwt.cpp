#include <doctest/doctest.h>

#include "base64.hpp"
#include "jwt.hpp"

#include <string>

using namespace sa;

namespace {

const long long kNow = 1800000000;

std::string forge(const std::string& header_json, const std::string& payload_json, const std::string& sig) {
    return base64url_encode(header_json) + "." + base64url_encode(payload_json) + "." + sig;
}

std::string why(const std::string& token) {
    auto st = verify_jwt_hs256(token, "secret", kNow);
    return st ? "" : st.message();
}

}  // namespace

TEST_SUITE("jwt") {
    TEST_CASE("a token we signed is accepted, with or without exp") {
        CHECK(why(sign_jwt_hs256("{}", "secret")) == "");
        CHECK(why(sign_jwt_hs256(R"({"exp":1800000100})", "secret")) == "");
    }

    TEST_CASE("expired, wrong secret, tampered payload") {
        CHECK(why(sign_jwt_hs256(R"({"exp":1799999999})", "secret")) == "token has expired");
        CHECK(why(sign_jwt_hs256("{}", "other")) == "token signature is wrong");
        std::string t = sign_jwt_hs256(R"({"sub":"a"})", "secret");
        std::string other = sign_jwt_hs256(R"({"sub":"b"})", "secret");
        std::string swapped = t.substr(0, t.find('.')) + other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                              t.substr(t.rfind('.'));
        CHECK(why(swapped) == "token signature is wrong");
    }

    TEST_CASE("every algorithm but HS256 is refused, none included") {
        CHECK(why(forge(R"({"alg":"none"})", "{}", "")).find("algorithm none") != std::string::npos);
        CHECK(why(forge(R"({"alg":"HS512"})", "{}", "AAAA")).find("HS512") != std::string::npos);
        CHECK(why(forge(R"({"alg":"RS256"})", "{}", "AAAA")).find("RS256") != std::string::npos);
        CHECK(why(forge(R"({"typ":"JWT"})", "{}", "AAAA")).find("not accepted") != std::string::npos);
    }

    TEST_CASE("malformed tokens") {
        CHECK(why("") != "");
        CHECK(why("abc") == "token is not a JWT (header.payload.signature)");
        CHECK(why("a.b") == "token is not a JWT (header.payload.signature)");
        CHECK(why("a.b.c.d") == "token is not a JWT (header.payload.signature)");
        CHECK(why("!!!.e30.AAAA") == "token header is not base64url");
        CHECK(why(base64url_encode("not json") + ".e30.AAAA") == "token header is not a JSON object");
        std::string good = sign_jwt_hs256("{}", "secret");
        CHECK(why(good + "x") != "");
    }
}
