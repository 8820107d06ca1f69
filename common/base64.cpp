#include "base64.hpp"

#include <array>
#include <cstdint>

namespace sa {

namespace {

constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// 0-63 for alphabet characters, 64 for padding, 65 for whitespace, 255 otherwise.
constexpr std::array<uint8_t, 256> make_table(const char* alphabet, bool whitespace) {
    std::array<uint8_t, 256> t{};
    for (auto& v : t) v = 255;
    for (int i = 0; i < 64; i++) t[static_cast<unsigned char>(alphabet[i])] = static_cast<uint8_t>(i);
    t['='] = 64;
    if (whitespace) t['\n'] = t['\r'] = t[' '] = t['\t'] = 65;
    return t;
}

constexpr auto kStdTable = make_table(kStd, true);
constexpr auto kUrlTable = make_table(kUrl, false);

std::string encode(std::string_view in, const char* alphabet, bool pad) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    size_t i = 0, n = in.size();
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8) | p[i + 2];
        out.push_back(alphabet[v >> 18]);
        out.push_back(alphabet[(v >> 12) & 63]);
        out.push_back(alphabet[(v >> 6) & 63]);
        out.push_back(alphabet[v & 63]);
    }
    if (n - i == 1) {
        uint32_t v = uint32_t(p[i]) << 16;
        out.push_back(alphabet[v >> 18]);
        out.push_back(alphabet[(v >> 12) & 63]);
        if (pad) out += "==";
    } else if (n - i == 2) {
        uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8);
        out.push_back(alphabet[v >> 18]);
        out.push_back(alphabet[(v >> 12) & 63]);
        out.push_back(alphabet[(v >> 6) & 63]);
        if (pad) out.push_back('=');
    }
    return out;
}

// Strict decoder: padding only at the end, unused bits must be zero, a
// length of 1 mod 4 is impossible.
std::optional<std::string> decode(std::string_view in, const std::array<uint8_t, 256>& table,
                                  bool padding_allowed) {
    std::string out;
    out.reserve(in.size() / 4 * 3 + 3);
    uint32_t acc = 0;
    int bits = 0, count = 0, pads = 0;
    for (unsigned char c : in) {
        uint8_t v = table[c];
        if (v == 65) continue;
        if (v == 255) return std::nullopt;
        if (v == 64) {
            if (!padding_allowed) return std::nullopt;
            pads++;
            continue;
        }
        if (pads) return std::nullopt;  // data after padding
        acc = (acc << 6) | v;
        bits += 6;
        count++;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    if (count % 4 == 1) return std::nullopt;
    if (pads && (count + pads) % 4 != 0) return std::nullopt;
    if (pads > 2) return std::nullopt;
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

}  // namespace

std::string base64_encode(std::string_view in) { return encode(in, kStd, true); }
std::optional<std::string> base64_decode(std::string_view in) { return decode(in, kStdTable, true); }
std::string base64url_encode(std::string_view in) { return encode(in, kUrl, false); }
std::optional<std::string> base64url_decode(std::string_view in) {
    return decode(in, kUrlTable, false);
}

}  // namespace sa
