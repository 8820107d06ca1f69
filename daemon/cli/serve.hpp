#pragma once

#include <string>
#include <vector>

namespace sa {

// `semaphore-agent serve`: the hosted mode. Returns the exit status
// (2 for options it cannot use).
int serve_command(const std::vector<std::string>& args);

}  // namespace sa
