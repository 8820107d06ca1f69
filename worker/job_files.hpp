// Where the job's files go on the host, and the SSH keys of hosted jobs.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sa {

// Appends the job's SSH keys to ~/.ssh/authorized_keys (hosted mode); the
// error text for the job log, or empty.
std::string inject_authorized_keys(const std::vector<std::string>& keys, const std::string& home,
                                   uid_t uid, gid_t gid);
// Where a job file goes: absolute as given, `~` and relative paths under home.
std::string resolve_job_path(const std::string& path, const std::string& home);
// Parses an octal mode string ("0644", "755"); false if it is not one.
bool parse_file_mode(const std::string& s, unsigned& mode);

}  // namespace sa
