#include "spool.hpp"

#include <fcntl.h>
#include <sys/uio.h>
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

Status Spool::append(std::string_view line) {
    struct iovec iov[2] = {{const_cast<char*>(line.data()), line.size()},
                           {const_cast<char*>("\n"), 1}};
    size_t want = line.size() + 1, done = 0;
    while (done < want) {
        ssize_t n = ::writev(fd_.get(), iov, 2);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return err("spool " + path_ + ": " + std::strerror(errno));
        done += static_cast<size_t>(n);
        // Rare partial write: advance the iovecs past what went out.
        size_t skip = static_cast<size_t>(n);
        for (auto& v : iov) {
            size_t k = skip < v.iov_len ? skip : v.iov_len;
            v.iov_base = static_cast<char*>(v.iov_base) + k;
            v.iov_len -= k;
            skip -= k;
        }
    }
    bytes_ += static_cast<long long>(want);
    lines_++;
    return Ok{};
}

}  // namespace sa
