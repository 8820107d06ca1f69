#include "daemon/job/spool_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sa {

namespace {
constexpr size_t kBlock = 64 * 1024;  // a scan's read size
}

Result<SpoolReader> SpoolReader::open(const std::string& path, std::string error_prefix) {
    if (error_prefix.empty()) error_prefix = "spool " + path + ": ";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return err(error_prefix + std::strerror(errno));
    return SpoolReader(std::move(fd), std::move(error_prefix));
}

Result<size_t> SpoolReader::pread_some(char* buf, size_t len, long long at) const {
    for (;;) {
        ssize_t n = ::pread(fd_.get(), buf, len, at);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno != EINTR) return err(error_prefix_ + std::strerror(errno));
    }
}

Result<long long> SpoolReader::size() const {
    struct stat sb {};
    if (::fstat(fd_.get(), &sb) != 0) return err(error_prefix_ + std::strerror(errno));
    return static_cast<long long>(sb.st_size);
}

Result<long long> SpoolReader::read_batch(long long from, const BatchLimits& limits, std::string& out) const {
    // A first read of max_bytes; if it holds no whole line and was not cut
    // short by the end of the file, the line is longer than a batch: a
    // second read of max_line_bytes takes it.
    for (size_t want = limits.max_bytes;; want = limits.max_line_bytes) {
        out.resize(want);
        auto n = pread_some(out.data(), want, from);
        if (!n) {
            out.clear();
            return err(n.message());
        }
        out.resize(*n);
        size_t end = 0;
        long long lines = 0;
        for (size_t pos = 0; pos < out.size() && lines < static_cast<long long>(limits.max_lines);) {
            const void* nl = std::memchr(out.data() + pos, '\n', out.size() - pos);
            if (!nl) break;
            end = static_cast<size_t>(static_cast<const char*>(nl) - out.data()) + 1;
            pos = end;
            lines++;
        }
        out.resize(end);
        if (lines > 0 || *n < want || want >= limits.max_line_bytes) return lines;
    }
}

Result<long long> SpoolReader::offset_of_line(const SpoolIndex& index, long long n, long long end) const {
    // The next checkpoint is past line n, so the scan reads at most
    // SpoolIndex::kBytes plus one line.
    SpoolIndex::Checkpoint cp = index.before(n);
    long long offset = cp.offset, skip = n - cp.line;
    std::string block(kBlock, '\0');
    while (skip > 0 && offset < end) {
        auto got = pread_some(block.data(), static_cast<size_t>(std::min<long long>(kBlock, end - offset)), offset);
        if (!got) return err(got.message());
        if (*got == 0) return err(error_prefix_ + "shorter than the events it recorded");
        size_t pos = 0;
        for (; skip > 0; skip--) {
            const void* nl = std::memchr(block.data() + pos, '\n', *got - pos);
            if (!nl) break;
            pos = static_cast<size_t>(static_cast<const char*>(nl) - block.data()) + 1;
        }
        offset += skip > 0 ? static_cast<long long>(*got) : static_cast<long long>(pos);
    }
    return std::min(offset, end);
}

Status SpoolReader::read_exact(long long at, size_t want, std::string& out) const {
    out.resize(want);
    size_t got = 0;
    while (got < want) {
        auto n = pread_some(out.data() + got, want - got, at + static_cast<long long>(got));
        if (!n) return err(n.message());
        if (*n == 0) return err(error_prefix_ + "shorter than the events it recorded");
        got += *n;
    }
    return Ok{};
}

Status SpoolReader::for_each_line(const std::function<void(std::string_view)>& fn, LastLine last) const {
    std::string block(kBlock, '\0'), carry;  // carry: a line begun in an earlier block
    long long at = 0;
    for (;;) {
        auto got = pread_some(block.data(), block.size(), at);
        if (!got) return err(got.message());
        if (*got == 0) {
            if (last == LastLine::Deliver && !carry.empty()) fn(carry);
            return Ok{};
        }
        at += static_cast<long long>(*got);
        std::string_view rest(block.data(), *got);
        for (size_t nl; (nl = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(nl + 1)) {
            if (carry.empty()) {
                fn(rest.substr(0, nl));
            } else {
                carry.append(rest.substr(0, nl));
                fn(carry);
                carry.clear();
            }
        }
        carry.append(rest);
    }
}

}  // namespace sa
