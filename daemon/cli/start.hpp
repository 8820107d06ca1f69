#pragma once

#include <string>
#include <vector>

namespace sa {

// `semaphore-agent start`: the self-hosted agent. Returns the exit status:
// 0 after a shutdown, 1 for UNABLE_TO_SYNC or a failed registration, 78 for
// a configuration it cannot use.
int start_command(const std::vector<std::string>& args);

}  // namespace sa
