// Ownership and small helpers for jansson values.
#pragma once

#include <jansson.h>

#include <memory>
#include <string>
#include <string_view>

namespace sa {

struct JsonDecref {
    void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

// Serialises compactly; the empty string when j is null.
std::string json_dump(const json_t* j);

// Appends s as a JSON string literal (with quotes). s must be valid UTF-8;
// control characters are escaped, everything else is copied as is.
void json_append_string(std::string& out, std::string_view s);

}  // namespace sa
