// libyaml -> jansson: a YAML document becomes the JSON value of the same
// shape, so job files and config files share the JSON validators.
// Scalars: plain `true/false` become booleans, plain integers become
// integers, `null`/`~`/empty plain scalars become null, everything else
// (and every quoted scalar) stays a string. Anchors/aliases are refused.
#pragma once

#include "common/json.hpp"
#include "common/result.hpp"

#include <string_view>

namespace sa {

Result<JsonPtr> yaml_to_json(std::string_view text);

}  // namespace sa
