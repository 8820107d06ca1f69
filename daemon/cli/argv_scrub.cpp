#include "daemon/cli/argv_scrub.hpp"

#include <cstring>
#include <string>

namespace sa {

namespace {

// Where the secret of argument i starts (its offset in argv[i]), or npos.
size_t secret_offset(std::string_view arg, bool follows_flag,
                     const std::vector<std::string_view>& flags) {
    if (follows_flag) return 0;
    for (auto f : flags)
        if (arg.size() > f.size() && arg.compare(0, f.size(), f) == 0 && arg[f.size()] == '=')
            return f.size() + 1;
    return std::string_view::npos;
}

bool is_flag(std::string_view arg, const std::vector<std::string_view>& flags) {
    for (auto f : flags)
        if (arg == f) return true;
    return false;
}

}  // namespace

void scrub_secret_args(int argc, char** argv, const std::vector<std::string_view>& secret_flags) {
    if (argc < 2) return;
    // The kernel lays the arguments out back to back; /proc/PID/cmdline
    // shows that area, so a masked copy of the whole list is written over it.
    bool contiguous = true;
    for (int i = 1; i < argc; i++)
        contiguous = contiguous && argv[i] == argv[i - 1] + std::strlen(argv[i - 1]) + 1;
    char* area = argv[0];
    size_t area_size = static_cast<size_t>(argv[argc - 1] + std::strlen(argv[argc - 1]) + 1 - area);

    std::string rebuilt;
    std::vector<size_t> starts;
    bool changed = false, follows_flag = false;
    for (int i = 0; i < argc; i++) {
        std::string_view a = argv[i];
        starts.push_back(rebuilt.size());
        size_t at = i == 0 ? std::string_view::npos : secret_offset(a, follows_flag, secret_flags);
        if (at != std::string_view::npos && at < a.size()) {
            rebuilt.append(a.substr(0, at)).append(kArgvMask);
            changed = true;
        } else {
            rebuilt.append(a);
        }
        rebuilt.push_back('\0');
        follows_flag = i > 0 && is_flag(a, secret_flags);
    }
    if (!changed) return;
    if (contiguous && rebuilt.size() <= area_size) {
        std::memcpy(area, rebuilt.data(), rebuilt.size());
        // What is left of the area reads as empty trailing arguments.
        std::memset(area + rebuilt.size(), 0, area_size - rebuilt.size());
        for (int i = 0; i < argc; i++) argv[i] = area + starts[static_cast<size_t>(i)];
        return;
    }
    // A secret shorter than the mask, or an unusual layout: mask in place.
    follows_flag = false;
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        size_t at = secret_offset(a, follows_flag, secret_flags);
        if (at != std::string_view::npos) std::memset(argv[i] + at, '*', a.size() - at);
        follows_flag = is_flag(a, secret_flags);
    }
}

}  // namespace sa
