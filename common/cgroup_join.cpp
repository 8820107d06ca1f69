// join_cgroups_raw apart from cgroup.cpp: the worker needs only this, and
// linking cgroup.cpp would bring the C++ streams it uses (and their locale
// start-up code, ~0.2 MB resident) into every job's worker.
#include "common/cgroup.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace sa {

bool join_cgroups_raw(const char* const* procs_files, pid_t pid) {
    char buf[24];
    int n = 0;
    char tmp[24];
    do {
        tmp[n++] = static_cast<char>('0' + pid % 10);
        pid /= 10;
    } while (pid > 0);
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    for (const char* const* f = procs_files; *f; f++) {
        int fd = ::open(*f, O_WRONLY | O_CLOEXEC);
        if (fd < 0) return false;
        bool ok = ::write(fd, buf, static_cast<size_t>(n)) == n;
        ::close(fd);
        if (!ok) return false;
    }
    return true;
}

}  // namespace sa
