#include <doctest/doctest.h>

#include "common/base64.hpp"
#include "daemon/serve/jwt.hpp"

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
        CHECK(why(base64url_encode("not json") + ".e30.AAAA").rfind("token header is not valid JSON: ", 0) == 0);
        CHECK(why(base64url_encode("[1]") + ".e30.AAAA") == "token header is not a JSON object");
        std::string good = sign_jwt_hs256("{}", "secret");
        CHECK(why(good + "x") != "");
    }

    // Issue 17, fault 7: exp was cast from double to long long, undefined for
    // 1e300 (on x86 it became LLONG_MIN, and the token "had expired").
    TEST_CASE("numeric claims of any size are compared without a cast") {
        CHECK(why(sign_jwt_hs256(R"({"exp":1e300})", "secret")) == "");
        CHECK(why(sign_jwt_hs256(R"({"exp":1.7976931348623157e308})", "secret")) == "");
        CHECK(why(sign_jwt_hs256(R"({"exp":100000000000000000000000000000})", "secret")) == "");
        CHECK(why(sign_jwt_hs256(R"({"exp":9223372036854775808})", "secret")) == "");
        CHECK(why(sign_jwt_hs256(R"({"exp":1800000000.5})", "secret")) == "");
        CHECK(why(sign_jwt_hs256(R"({"exp":1800000000})", "secret")) == "token has expired");
        CHECK(why(sign_jwt_hs256(R"({"exp":-1e300})", "secret")) == "token has expired");
        CHECK(why(sign_jwt_hs256(R"({"exp":-9223372036854775809})", "secret")) == "token has expired");
        CHECK(why(sign_jwt_hs256(R"({"exp":0})", "secret")) == "token has expired");
    }

    TEST_CASE("non-numeric and out-of-range claims are refused with a message naming the claim") {
        CHECK(why(sign_jwt_hs256(R"({"exp":"1900000000"})", "secret")) == "token exp is not a number");
        CHECK(why(sign_jwt_hs256(R"({"exp":null})", "secret")) == "token exp is not a number");
        CHECK(why(sign_jwt_hs256(R"({"exp":true})", "secret")) == "token exp is not a number");
        CHECK(why(sign_jwt_hs256(R"({"exp":[1]})", "secret")) == "token exp is not a number");
        CHECK(why(sign_jwt_hs256(R"({"nbf":"soon"})", "secret")) == "token nbf is not a number");
        CHECK(why(sign_jwt_hs256(R"({"iat":{}})", "secret")) == "token iat is not a number");
        // Beyond a double: the payload cannot be read, and the message says why.
        std::string huge = why(sign_jwt_hs256(R"({"exp":1e400})", "secret"));
        CHECK(huge.rfind("token payload is not valid JSON: ", 0) == 0);
        CHECK(huge.find("overflow") != std::string::npos);
    }

    TEST_CASE("nbf in the future is refused, iat is only type-checked") {
        CHECK(why(sign_jwt_hs256(R"({"nbf":1800000001})", "secret")) == "token is not valid yet (nbf)");
        CHECK(why(sign_jwt_hs256(R"({"nbf":1e300})", "secret")) == "token is not valid yet (nbf)");
        CHECK(why(sign_jwt_hs256(R"({"nbf":1800000000})", "secret")) == "");
        CHECK(why(sign_jwt_hs256(R"({"nbf":-1e300,"iat":1e300})", "secret")) == "");
    }

    TEST_CASE("an empty secret still signs and verifies (no null key)") {
        auto st = verify_jwt_hs256(sign_jwt_hs256("{}", ""), "", kNow);
        CHECK(st.ok());
        CHECK(why(sign_jwt_hs256("{}", "")) == "token signature is wrong");
    }
}
