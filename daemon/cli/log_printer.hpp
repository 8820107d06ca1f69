// Human-readable rendering of a job's events for `semaphore-agent run`:
// a header per step with its directive, the output, the exit code and
// duration, and the result at the end. Colour only on a terminal.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace sa {

class LogPrinter {
public:
    LogPrinter(FILE* out, bool colour) : out_(out), colour_(colour) {}
    void event(std::string_view line);

private:
    const char* c(const char* code) const { return colour_ ? code : ""; }
    FILE* out_;
    bool colour_;
    bool at_line_start_ = true;
};

}  // namespace sa
