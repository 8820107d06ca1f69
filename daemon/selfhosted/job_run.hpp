// One job as the Listener sees it: started, maybe stopped, finished with a
// result. WorkerJobRun is the real one (a worker process, through
// JobRunner); the Listener unit tests put a fake in its place so that they
// start no process.
#pragma once

#include "common/job_usage.hpp"
#include "common/result.hpp"
#include "daemon/job/job_runner.hpp"
#include "daemon/job/spool.hpp"

#include <functional>
#include <memory>
#include <string>

namespace sa {

class JobRun {
public:
    virtual ~JobRun() = default;
    // As JobRunner::start: on_finished runs once, from the loop.
    virtual Status start(WorkerRequest req, JobRunner::EventFn on_event,
                         JobRunner::FinishedFn on_finished) = 0;
    virtual void stop() = 0;
    virtual bool running() const = 0;
    // The job's event spool; none when the job keeps no log on disk.
    virtual const Spool* spool() const = 0;
    virtual const std::string& cgroup_problem() const = 0;
    virtual JobUsage usage() const = 0;
};

// Makes the run of the next job.
using JobRunFactory = std::function<std::unique_ptr<JobRun>()>;

class WorkerJobRun final : public JobRun {
public:
    WorkerJobRun(uv_loop_t* loop, AgentLog& log) : runner_(loop, log) {}
    Status start(WorkerRequest req, JobRunner::EventFn on_event,
                 JobRunner::FinishedFn on_finished) override {
        return runner_.start(std::move(req), std::move(on_event), std::move(on_finished));
    }
    void stop() override { runner_.stop(); }
    bool running() const override { return runner_.running(); }
    const Spool* spool() const override { return runner_.spool(); }
    const std::string& cgroup_problem() const override { return runner_.cgroup_problem(); }
    JobUsage usage() const override { return runner_.usage(); }

private:
    JobRunner runner_;
};

}  // namespace sa
