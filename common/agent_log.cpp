#include "common/agent_log.hpp"

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace sa {

bool parse_log_level(std::string_view s, LogLevel& out) {
    static const struct {
        const char* name;
        LogLevel level;
    } levels[] = {{"trace", LogLevel::Trace}, {"debug", LogLevel::Debug},
                  {"info", LogLevel::Info},   {"warn", LogLevel::Warn},
                  {"warning", LogLevel::Warn}, {"error", LogLevel::Error},
                  {"fatal", LogLevel::Fatal}, {"panic", LogLevel::Panic}};
    for (const auto& l : levels) {
        if (s.size() == std::char_traits<char>::length(l.name) &&
            strncasecmp(s.data(), l.name, s.size()) == 0) {
            out = l.level;
            return true;
        }
    }
    return false;
}

std::string format_log_line(long long ms, std::string_view name, std::string_view message) {
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t secs = static_cast<time_t>(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s %2d %02d:%02d:%02d.%03d ", months[tm.tm_mon], tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    std::string line(prefix);
    line += name;
    line += " : ";
    line += message;
    line += '\n';
    return line;
}

bool AgentLog::open_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return false;
    file_fd_.reset(fd);
    return true;
}

std::string default_log_file_path() {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = tmp && *tmp ? tmp : "/tmp";
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return dir + "/agent_log";
}

Status AgentLog::open_private_file(const std::string& path) {
    // O_NONBLOCK: a FIFO planted there must not hang the agent in open()
    // (it is refused below; on a regular file the flag changes nothing).
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
                       0600));
    if (!fd.valid()) return err(path + ": " + std::strerror(errno));
    struct stat st {};
    std::string problem;
    if (fstat(fd.get(), &st) != 0) problem = std::strerror(errno);
    else if (!S_ISREG(st.st_mode)) problem = "not a regular file";
    else if (st.st_uid != geteuid()) problem = "owned by another user";
    else if ((st.st_mode & 07777) != 0600 && fchmod(fd.get(), 0600) != 0) problem = std::strerror(errno);
    if (!problem.empty()) return err(path + ": " + problem);
    file_fd_ = std::move(fd);
    return Ok{};
}

static void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = ::write(fd, s.data(), s.size());
        if (n <= 0) return;  // a log that cannot be written must not stop the agent
        s.remove_prefix(static_cast<size_t>(n));
    }
}

void AgentLog::log(LogLevel l, std::string_view message, std::string_view reason) {
    if (l < level_) return;
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    long long ms = static_cast<long long>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
    bool json = format_ == LogFormat::Json;
    std::string line = json ? format_json_log_line(ms, l, name_, message, {job_id_, state_, reason})
                            : format_log_line(ms, name_, message);
    if (journal_) {
        // syslog priorities: 7 debug, 6 info, 4 warning, 3 err, 2 crit
        static const char prio[] = {'7', '7', '6', '4', '3', '2', '2'};
        std::string j = "<";
        j += prio[static_cast<int>(l)];
        j += '>';
        if (json) {
            j += line;  // the journal strips the prefix: the message is the object
        } else {
            j += name_;
            j += " : ";
            j += message;
            j += '\n';
        }
        write_all(2, j);
    } else {
        write_all(2, line);
    }
    if (file_fd_.valid()) write_all(file_fd_.get(), line);
    if (recent_cap_ > 0) {
        recent_ += line;
        if (recent_.size() > recent_cap_) {
            // Drop whole lines from the front.
            size_t cut = recent_.find('\n', recent_.size() - recent_cap_);
            recent_.erase(0, cut == std::string::npos ? recent_.size() : cut + 1);
        }
    }
}

}  // namespace sa
