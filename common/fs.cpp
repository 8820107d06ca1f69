#include "common/fs.hpp"

#include <ftw.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sa {

void remove_tree(const std::string& path) {
    nftw(
        path.c_str(),
        [](const char* p, const struct stat*, int type, struct FTW*) {
            if (type == FTW_DP) ::rmdir(p);
            else ::unlink(p);
            return 0;
        },
        16, FTW_DEPTH | FTW_PHYS);
}

void close_from(int first) {
    if (syscall(SYS_close_range, first, ~0U, 0) == 0) return;
    // Kernels before 5.9: one by one, up to the descriptor limit.
    struct rlimit rl;
    long last = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? static_cast<long>(rl.rlim_cur) : 65536;
    for (long fd = first; fd < last; fd++) close(static_cast<int>(fd));
}

}  // namespace sa
