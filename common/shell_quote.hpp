#pragma once

#include <string>
#include <string_view>

namespace sa {

// Quotes a value for `export NAME=VALUE` the way the original agent does:
// unchanged when it only holds [A-Za-z0-9_@%+=:,./-] (and is not empty),
// otherwise single-quoted with each ' written as '"'"'.
std::string shell_quote(std::string_view value);

// True for a valid shell variable name: [A-Za-z_][A-Za-z0-9_]*.
bool is_shell_name(std::string_view name);

}  // namespace sa
