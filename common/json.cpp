#include "common/json.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace sa {

std::string json_dump(const json_t* j) {
    if (!j) return {};
    char* s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) return {};
    std::string out(s);
    std::free(s);
    return out;
}

namespace {

// Index of the first byte at or after i that JSON must escape (a control
// byte, '"' or '\\'), or n. Eight bytes a step: every byte of job output
// passes here on its way into a cmd_output event (issue 20: a byte loop
// was three quarters of the worker's instructions).
size_t plain_run_end(const unsigned char* p, size_t i, size_t n) {
    constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    constexpr uint64_t quotes = ones * '"', backslashes = ones * '\\';
    while (i + 8 <= n) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        uint64_t q = w ^ quotes, b = w ^ backslashes;
        // A byte below 0x20, or equal to '"' or '\\' (zero after the xor).
        uint64_t hit = ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b);
        if (hit & highs) break;
        i += 8;
    }
    while (i < n && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\') i++;
    return i;
}

}  // namespace

void json_append_string(std::string& out, std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    out.push_back('"');
    size_t i = 0;
    while (i < s.size()) {
        size_t end = plain_run_end(p, i, s.size());
        out.append(s.data() + i, end - i);
        if (end == s.size()) break;
        unsigned char c = p[end];
        i = end + 1;
        char esc = 0;
        switch (c) {
        case '"': esc = '"'; break;
        case '\\': esc = '\\'; break;
        case '\n': esc = 'n'; break;
        case '\r': esc = 'r'; break;
        case '\t': esc = 't'; break;
        case '\b': esc = 'b'; break;
        case '\f': esc = 'f'; break;
        default: break;
        }
        if (esc) {
            const char two[2] = {'\\', esc};
            out.append(two, 2);
        } else {
            const char six[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out.append(six, 6);
        }
    }
    out.push_back('"');
}

}  // namespace sa
