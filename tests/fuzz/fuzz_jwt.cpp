// The JWT checker on arbitrary tokens never crashes, and a token we signed
// ourselves always passes.
#include "daemon/serve/jwt.hpp"

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string token(reinterpret_cast<const char*>(data), size);
    (void)sa::verify_jwt_hs256(token, "fuzz-secret", 1800000000);
    // A token we signed ourselves always passes.
    std::string payload = "{\"n\":" + std::to_string(size) + "}";
    if (!sa::verify_jwt_hs256(sa::sign_jwt_hs256(payload, "fuzz-secret"), "fuzz-secret", 1800000000)) std::abort();
    return 0;
}
