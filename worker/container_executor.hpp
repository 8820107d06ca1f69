// The container executor's side of the steps (docker compose jobs): env and
// job files go through the job's temp directory, mounted at the same path in
// the main container, and the container's shell puts them in place.
// ComposeJob starts the containers and the shell; this runs in it.
#pragma once

#include "worker/command_runner.hpp"
#include "worker/executor.hpp"

#include <string>

namespace sa {

class ContainerExecutor : public Executor {
public:
    // tmp: the host directory mounted at the same path in the container.
    ContainerExecutor(CommandRunner& runner, std::string tmp) : runner_(runner), tmp_(std::move(tmp)) {}

    // Compose jobs get their keys and jump point before the containers
    // start (ComposeJob::prepare): a failure there fails the job before any step.
    std::string prepare_hosted() override { return ""; }
    int export_env(const std::string& file_text) override;
    int inject_file(const JobFile& f) override;

private:
    CommandRunner& runner_;
    std::string tmp_;
};

}  // namespace sa
