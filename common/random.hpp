#pragma once

#include <cstdint>
#include <string>

namespace sa {

// n cryptographically random bytes (getrandom(2)); aborts only if the kernel refuses.
std::string random_bytes(size_t n);
// A random lowercase hex string of 2*n_bytes characters.
std::string random_hex(size_t n_bytes);
// Uniform-enough integer in [lo, hi) for jittered intervals (not for secrets).
uint64_t random_between(uint64_t lo, uint64_t hi);

}  // namespace sa
