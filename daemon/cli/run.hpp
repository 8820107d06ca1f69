#pragma once

#include <string>
#include <vector>

namespace sa {

// `semaphore-agent run [options] JOB_FILE`: one job, locally, through the
// same supervisor and worker as `start`. Returns the process exit status:
// 0 passed, 1 failed, 130 stopped, 2 for a job file or option it cannot use.
int run_command(const std::vector<std::string>& args);

}  // namespace sa
