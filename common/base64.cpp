#include "common/base64.hpp"

#include <array>
#include <cstdint>

namespace sa {

namespace {

constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Decode table classes. Every non-alphabet class has bit 6 or 7 set, so one OR
// over four lookups tells whether a quad is plain alphabet (the fast path).
constexpr uint8_t kPad = 64;
constexpr uint8_t kSpace = 65;
constexpr uint8_t kBad = 255;

using Table = std::array<uint8_t, 256>;

// The standard table knows padding and the whitespace `base64` wraps lines
// with; the URL table knows neither (JWT segments and agent names never have them).
constexpr Table make_table(const char* alphabet, bool standard) {
    Table t{};
    for (auto& v : t) v = kBad;
    for (int i = 0; i < 64; i++) t[static_cast<unsigned char>(alphabet[i])] = static_cast<uint8_t>(i);
    if (standard) {
        t['='] = kPad;
        t['\n'] = t['\r'] = t[' '] = t['\t'] = kSpace;
    }
    return t;
}

constexpr Table kStdTable = make_table(kStd, true);
constexpr Table kUrlTable = make_table(kUrl, false);

std::string encode(std::string_view in, const char* alphabet, bool pad) {
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const size_t n = in.size(), whole = n / 3 * 3, rest = n - whole;
    std::string out(n / 3 * 4 + (rest == 0 ? 0 : pad ? 4 : rest + 1), '=');
    char* o = out.data();
    for (size_t i = 0; i < whole; i += 3, o += 4) {
        uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8) | p[i + 2];
        o[0] = alphabet[v >> 18];
        o[1] = alphabet[(v >> 12) & 63];
        o[2] = alphabet[(v >> 6) & 63];
        o[3] = alphabet[v & 63];
    }
    if (rest != 0) {  // the '=' the string was filled with stays where padding goes
        uint32_t v = (uint32_t(p[whole]) << 16) | (rest == 2 ? uint32_t(p[whole + 1]) << 8 : 0);
        o[0] = alphabet[v >> 18];
        o[1] = alphabet[(v >> 12) & 63];
        if (rest == 2) o[2] = alphabet[(v >> 6) & 63];
    }
    return out;
}

// Decoding state: the output cursor and the sextets of the quad in progress.
struct Decoder {
    const Table& table;
    const unsigned char* p;
    const unsigned char* end;
    char* o;
    uint8_t quad[4] = {};
    int have = 0;

    void emit(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
        uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
        o[0] = static_cast<char>(v >> 16);
        o[1] = static_cast<char>(v >> 8);
        o[2] = static_cast<char>(v);
        o += 3;
    }

    // Whole quads of alphabet characters, four lookups and three stores each;
    // stops at the first whitespace, padding or bad character.
    void fast() {
        while (end - p >= 4) {
            uint32_t a = table[p[0]], b = table[p[1]], c = table[p[2]], d = table[p[3]];
            if ((a | b | c | d) & 0xC0) return;
            emit(a, b, c, d);
            p += 4;
        }
    }

    // The trailing partial quad (2 or 3 sextets): its unused bits must be zero,
    // so that every byte string has exactly one encoding.
    bool tail() {
        if (have == 1) return false;  // 6 bits cannot make a byte
        if (have == 2) {
            if (quad[1] & 0x0F) return false;
            *o++ = static_cast<char>((quad[0] << 2) | (quad[1] >> 4));
        } else if (have == 3) {
            if (quad[2] & 0x03) return false;
            *o++ = static_cast<char>((quad[0] << 2) | (quad[1] >> 4));
            *o++ = static_cast<char>((quad[1] << 4) | (quad[2] >> 2));
        }
        return true;
    }

    // After the first '=': only padding and whitespace may follow, and the
    // padding must complete the quad exactly.
    bool padding() {
        int pads = 1;
        for (; p < end; p++) {
            uint8_t v = table[*p];
            if (v == kPad) pads++;
            else if (v != kSpace) return false;
        }
        return have >= 2 && have + pads == 4 && tail();
    }

    bool run() {
        while (p < end) {
            if (have == 0) {
                fast();
                if (p == end) break;
            }
            uint8_t v = table[*p++];
            if (v < 64) {
                quad[have++] = v;
                if (have == 4) {
                    emit(quad[0], quad[1], quad[2], quad[3]);
                    have = 0;
                }
            } else if (v == kPad) {
                return padding();
            } else if (v != kSpace) {
                return false;
            }
        }
        return tail();
    }
};

std::optional<std::string> decode(std::string_view in, const Table& table) {
    std::string out(in.size() / 4 * 3 + 3, '\0');
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    Decoder d{table, p, p + in.size(), out.data()};
    if (!d.run()) return std::nullopt;
    out.resize(static_cast<size_t>(d.o - out.data()));
    return out;
}

}  // namespace

std::string base64_encode(std::string_view in) { return encode(in, kStd, true); }
std::optional<std::string> base64_decode(std::string_view in) { return decode(in, kStdTable); }
std::string base64url_encode(std::string_view in) { return encode(in, kUrl, false); }
std::optional<std::string> base64url_decode(std::string_view in) { return decode(in, kUrlTable); }

}  // namespace sa
