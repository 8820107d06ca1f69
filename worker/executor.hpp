// What differs between where a job's commands run (the host's shell, a
// container, later a Kubernetes pod): how the exported variables reach the
// shell, how job files get into place, and what hosted mode prepares for
// debug sessions. JobScript drives the steps through this interface and
// never asks which executor it has.
#pragma once

#include "common/job_request.hpp"

#include <string>

namespace sa {

class Executor {
public:
    virtual ~Executor() = default;

    // Hosted (serve) mode, before the first step: the job's SSH keys and the
    // jump point `sem` enters the job through. The error for the job log,
    // or "".
    virtual std::string prepare_hosted() = 0;
    // Makes the variables the shell's, inside the "Exporting environment
    // variables" step (its messages are said already). file_text holds one
    // `export NAME=VALUE` line a variable. Returns the step's exit code.
    virtual int export_env(const std::string& file_text) = 0;
    // Puts one job file in place, with its messages. Returns its exit code.
    virtual int inject_file(const JobFile& f) = 0;
};

}  // namespace sa
