// Strict UTF-8 checking for text that must be valid UTF-8 (JSON for the
// agent log, cmd_output events) but may quote bytes from anywhere.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sa {

// Length of the valid UTF-8 sequence at s[i] (i < s.size()), or 0 when it is
// not one: a stray continuation byte, a truncated sequence, an overlong
// form, a surrogate (U+D800..U+DFFF) or a code point above U+10FFFF.
size_t utf8_sequence(std::string_view s, size_t i);

// s with every byte that does not start a valid sequence replaced by
// `replacement` (one replacement per byte).
std::string utf8_replace_invalid(std::string_view s, std::string_view replacement);

}  // namespace sa
