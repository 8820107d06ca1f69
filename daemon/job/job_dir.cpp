#include "daemon/job/job_dir.hpp"

#include "common/fs.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace sa {

std::string default_job_base() {
    const char* t = std::getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

Result<JobDir> JobDir::create(const std::string& base) {
    std::string tmpl = base + "/semaphore-job-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data()))  // mkdtemp creates it 0700
        return err("cannot create a job directory under " + base + ": " + std::strerror(errno));
    JobDir d;
    d.path_ = buf.data();
    return d;
}

JobDir::~JobDir() {
    if (!path_.empty() && !keep_) remove_tree(path_);
}


}  // namespace sa
