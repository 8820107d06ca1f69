#include "daemon/serve/jwt.hpp"

#include "common/base64.hpp"
#include "common/json.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cmath>

namespace sa {

namespace {

// EVP_Q_mac takes the key's length as a size_t (HMAC() wants an int).
std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t len = 0;
    static const unsigned char empty = 0;  // a null key pointer is refused, even at length 0
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr,
                   key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof out, &len))
        return {};  // never equal to a 32-byte signature
    return std::string(reinterpret_cast<char*>(out), len);
}

// Integers are decoded as doubles: a huge integer claim is then a number to
// compare, not a parse error, and every comparison is between doubles.
Result<JsonPtr> decode_part(std::string_view part, const char* what) {
    auto raw = base64url_decode(part);
    if (!raw) return err(std::string("token ") + what + " is not base64url");
    json_error_t e;
    JsonPtr j(json_loadb(raw->data(), raw->size(), JSON_DECODE_INT_AS_REAL, &e));
    if (!j) return err(std::string("token ") + what + " is not valid JSON: " + e.text);
    if (!json_is_object(j.get())) return err(std::string("token ") + what + " is not a JSON object");
    return j;
}

// A NumericDate claim (RFC 7519): absent, or a finite number of seconds.
// Compared as a double with `now` (exact up to 2^53): no float-to-integer
// cast, whose result is undefined for 1e300.
enum class Claim { Absent, Present };
Result<Claim> numeric_claim(json_t* payload, const char* name, double& value) {
    json_t* v = json_object_get(payload, name);
    if (!v) return Claim::Absent;
    if (!json_is_number(v)) return err(std::string("token ") + name + " is not a number");
    value = json_number_value(v);
    if (!std::isfinite(value)) return err(std::string("token ") + name + " is out of range");
    return Claim::Present;
}

}  // namespace

Status verify_jwt_hs256(std::string_view token, std::string_view secret, long long now) {
    size_t a = token.find('.');
    size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
    if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos)
        return err("token is not a JWT (header.payload.signature)");
    std::string_view h = token.substr(0, a), p = token.substr(a + 1, b - a - 1),
                     s = token.substr(b + 1);
    auto header = decode_part(h, "header");
    if (!header) return header.error();
    const char* alg = json_string_value(json_object_get(header->get(), "alg"));
    // Only the algorithm we sign with: `none` and the rest are refused before
    // anything else is looked at.
    if (!alg || std::string_view(alg) != "HS256")
        return err(std::string("token algorithm ") + (alg ? alg : "(none given)") + " is not accepted");
    auto sig = base64url_decode(s);
    if (!sig) return err("token signature is not base64url");
    std::string expected = hmac_sha256(secret, token.substr(0, b));
    if (sig->size() != expected.size() || CRYPTO_memcmp(sig->data(), expected.data(), expected.size()) != 0)
        return err("token signature is wrong");
    auto payload = decode_part(p, "payload");
    if (!payload) return payload.error();
    const double now_d = static_cast<double>(now);
    double exp = 0, nbf = 0, iat = 0;
    auto has_exp = numeric_claim(payload->get(), "exp", exp);
    if (!has_exp) return has_exp.error();
    if (*has_exp == Claim::Present && exp <= now_d) return err("token has expired");
    auto has_nbf = numeric_claim(payload->get(), "nbf", nbf);
    if (!has_nbf) return has_nbf.error();
    if (*has_nbf == Claim::Present && nbf > now_d) return err("token is not valid yet (nbf)");
    // iat is informational; only its type is checked.
    if (auto has_iat = numeric_claim(payload->get(), "iat", iat); !has_iat) return has_iat.error();
    return Ok{};
}

std::string sign_jwt_hs256(std::string_view payload_json, std::string_view secret) {
    std::string t = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(payload_json);
    return t + "." + base64url_encode(hmac_sha256(secret, t));
}

}  // namespace sa
