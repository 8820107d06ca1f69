#include "daemon/cli/args.hpp"

namespace sa {

bool wants_help(const std::vector<std::string>& args) {
    for (const auto& a : args)
        if (a == "--help" || a == "-h") return true;
    return false;
}

bool ArgReader::next() {
    if (started_) i_++;
    started_ = true;
    if (i_ >= args_.size()) return false;
    const std::string& a = args_[i_];
    // Only long options carry inline values: a job file may contain '='.
    size_t eq = a.rfind("--", 0) == 0 ? a.find('=') : std::string::npos;
    has_inline_ = eq != std::string::npos;
    name_ = has_inline_ ? a.substr(0, eq) : a;
    inline_ = has_inline_ ? a.substr(eq + 1) : std::string();
    return true;
}

Result<std::string> ArgReader::value() {
    if (has_inline_) return inline_;
    if (i_ + 1 >= args_.size()) return err(name_ + ": needs a value");
    return args_[++i_];
}

}  // namespace sa
