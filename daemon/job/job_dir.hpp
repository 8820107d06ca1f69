// The job's private directory (0700): spool, command file, environment file.
#pragma once

#include "common/result.hpp"

#include <string>

namespace sa {

class JobDir {
public:
    // Creates base/semaphore-job-XXXXXX with mode 0700.
    static Result<JobDir> create(const std::string& base);
    JobDir(JobDir&& o) noexcept : path_(std::move(o.path_)), keep_(o.keep_) { o.path_.clear(); }
    JobDir(const JobDir&) = delete;
    ~JobDir();  // removes the directory and everything in it, unless kept

    const std::string& path() const { return path_; }
    void keep() { keep_ = true; }

private:
    JobDir() = default;
    std::string path_;
    bool keep_ = false;
};

// $TMPDIR, else /tmp.
std::string default_job_base();

}  // namespace sa
