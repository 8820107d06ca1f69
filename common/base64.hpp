#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sa {

std::string base64_encode(std::string_view in);
// Standard alphabet; padding optional; whitespace (newlines from `base64`) skipped.
// nullopt for any other character or a bad length.
std::optional<std::string> base64_decode(std::string_view in);
// URL-safe alphabet, no padding (for random agent names and JWT).
std::string base64url_encode(std::string_view in);
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace sa
