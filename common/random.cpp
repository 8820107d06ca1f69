#include "common/random.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace sa {

std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out.data() + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            std::abort();  // no entropy source at all: nothing sane to do
        }
        got += static_cast<size_t>(r);
    }
    return out;
}

std::string random_hex(size_t n_bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string raw = random_bytes(n_bytes), out;
    out.reserve(n_bytes * 2);
    for (unsigned char c : raw) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

uint64_t random_between(uint64_t lo, uint64_t hi) {
    if (hi <= lo) return lo;
    uint64_t r;
    std::string b = random_bytes(sizeof r);
    std::memcpy(&r, b.data(), sizeof r);
    return lo + r % (hi - lo);
}

}  // namespace sa
