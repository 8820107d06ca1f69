#include "worker/job_files.hpp"

#include "common/fs.hpp"

#include <sys/stat.h>

namespace sa {

std::string inject_authorized_keys(const std::vector<std::string>& keys, const std::string& home,
                                   uid_t uid, gid_t gid) {
    if (keys.empty()) return "";
    std::string dir = home + "/.ssh";
    if (!make_dirs(dir, 0750, uid, gid)) return "Failed to inject authorized keys\n";
    ::chmod(dir.c_str(), 0700);
    std::string text;
    for (const auto& k : keys) text += k + "\n";
    if (!write_file(dir + "/authorized_keys", text, {.how = WriteMode::Append, .mode = 0600}))
        return "Failed to inject authorized keys\n";
    return "";
}

std::string resolve_job_path(const std::string& path, const std::string& home) {
    if (!path.empty() && path[0] == '/') return path;
    if (path == "~") return home;
    if (path.rfind("~/", 0) == 0) return home + path.substr(1);
    return home + "/" + path;
}

bool parse_file_mode(const std::string& s, unsigned& mode) {
    if (s.empty() || s.size() > 5) return false;
    unsigned m = 0;
    for (char c : s) {
        if (c < '0' || c > '7') return false;
        m = m * 8 + static_cast<unsigned>(c - '0');
    }
    if (m > 07777) return false;
    mode = m;
    return true;
}

}  // namespace sa
