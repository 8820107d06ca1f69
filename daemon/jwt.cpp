#include "jwt.hpp"

#include "base64.hpp"
#include "json.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace sa {

namespace {

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
    return std::string(reinterpret_cast<char*>(out), len);
}

Result<JsonPtr> decode_part(std::string_view part, const char* what) {
    auto raw = base64url_decode(part);
    if (!raw) return err(std::string("token ") + what + " is not base64url");
    json_error_t e;
    JsonPtr j(json_loadb(raw->data(), raw->size(), 0, &e));
    if (!j || !json_is_object(j.get())) return err(std::string("token ") + what + " is not a JSON object");
    return j;
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
    json_t* exp = json_object_get(payload->get(), "exp");
    if (exp) {
        if (!json_is_number(exp)) return err("token exp is not a number");
        if (static_cast<long long>(json_number_value(exp)) <= now) return err("token has expired");
    }
    return Ok{};
}

std::string sign_jwt_hs256(std::string_view payload_json, std::string_view secret) {
    std::string t = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(payload_json);
    return t + "." + base64url_encode(hmac_sha256(secret, t));
}

}  // namespace sa
