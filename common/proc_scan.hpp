// Finding a job's processes through /proc, for hosts where no cgroup is
// available to do it properly: the descendants of a process, and every
// process whose environment carries the job's random marker variable.
#pragma once

#include <sys/types.h>

#include <string_view>
#include <vector>

namespace sa {

// Every live process whose parent chain leads to root (root excluded).
std::vector<pid_t> find_descendants(pid_t root);
// Every process whose environment holds exactly the entry `env_entry`
// ("NAME=VALUE"). Processes we may not read are skipped.
std::vector<pid_t> find_with_env(std::string_view env_entry);

// Kills everything found under root or carrying env_entry: SIGTERM, then
// SIGKILL once grace_ms have passed. Processes are frozen (SIGSTOP) before
// the final SIGKILL sweep so a fork loop cannot outrun it. `reap` is called
// while waiting so the caller can collect exited children. Returns the number
// of processes that were signalled.
int kill_job_processes(pid_t root, std::string_view env_entry, int grace_ms, void (*reap)(void*),
                       void* reap_arg);

}  // namespace sa
