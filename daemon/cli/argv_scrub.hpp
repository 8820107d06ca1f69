// Hides secrets given on the command line from /proc/PID/cmdline, which any
// user on the machine (a job's user among them) can read through `ps`.
#pragma once

#include <string_view>
#include <vector>

namespace sa {

constexpr std::string_view kArgvMask = "********";

// After the arguments were copied: every value of one of `secret_flags`
// ("--token VALUE" or "--token=VALUE") becomes kArgvMask in the process's
// argument area, so `ps` shows `--token ********`. argv[0] and the other
// arguments stay as they were (fleets find agents by `agent start`). The
// argv pointers are updated to the rewritten strings. When the area cannot
// be rewritten in one piece, each secret byte becomes '*' in place.
void scrub_secret_args(int argc, char** argv, const std::vector<std::string_view>& secret_flags);

}  // namespace sa
