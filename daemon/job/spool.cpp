#include "daemon/job/spool.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sa {

Result<Spool> Spool::create(const std::string& path) {
    Spool s;
    s.fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600));
    if (!s.fd_.valid()) return err("spool " + path + ": " + std::strerror(errno));
    s.path_ = path;
    return s;
}

Result<Spool> Spool::create_in_memory() {
    Spool s;
    s.fd_.reset(::memfd_create("events.jsonl", MFD_CLOEXEC));
    if (!s.fd_.valid()) return err(std::string("spool in memory: ") + std::strerror(errno));
    s.path_ = "/proc/self/fd/" + std::to_string(s.fd_.get());
    return s;
}

Status Spool::append(std::string_view line) {
    pending_.append(line);
    pending_.push_back('\n');
    index_.add_line(static_cast<long long>(line.size()) + 1);
    if (pending_.size() >= (256u << 10)) return flush();
    return Ok{};
}

Status Spool::flush() {
    size_t done = 0;
    while (done < pending_.size()) {
        ssize_t n = ::write(fd_.get(), pending_.data() + done, pending_.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            pending_.clear();
            // A partial write left part of a line: cut it off (shrinking
            // needs no space).
            if (done > 0) (void)::ftruncate(fd_.get(), written_);
            errno = e;
            return err("spool " + path_ + ": " + std::strerror(n < 0 ? errno : ENOSPC));
        }
        done += static_cast<size_t>(n);
    }
    written_ += static_cast<long long>(done);
    pending_.clear();
    return Ok{};
}

}  // namespace sa
