// One step of a job as the log shows it: cmd_started, the body's output,
// cmd_finished with the body's exit code and both times.
#pragma once

#include "worker/supervisor_link.hpp"

#include <functional>
#include <string_view>

namespace sa {

// Runs body between the two events; returns its exit code. The events are
// queued, not flushed: the next wait flushes them with whatever follows.
int step(SupervisorLink& link, std::string_view directive, const std::function<int()>& body);

}  // namespace sa
