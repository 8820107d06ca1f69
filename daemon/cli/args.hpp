// The command line as every subcommand walks it. `--key=value` carries its
// value inline, `--key value` takes the next argument, and `--help` or `-h`
// anywhere asks for the help. Which options exist, and the error texts a
// user sees, stay with each subcommand (its integration tests check them):
// this only walks the arguments.
#pragma once

#include "common/result.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace sa {

// True when --help or -h is one of the arguments (a value included: the
// user asking for help wins over everything else on the line).
bool wants_help(const std::vector<std::string>& args);

class ArgReader {
public:
    explicit ArgReader(const std::vector<std::string>& args) : args_(args) {}

    // Moves to the next argument; false once there is none.
    bool next();

    // The argument as given.
    const std::string& arg() const { return args_[i_]; }
    // For `--key=value` the part before '=', else the whole argument.
    const std::string& name() const { return name_; }
    bool has_inline_value() const { return has_inline_; }
    // The option's value: the inline one, else the next argument (which it
    // consumes); "NAME: needs a value" when there is none.
    Result<std::string> value();

private:
    const std::vector<std::string>& args_;
    std::size_t i_ = 0;
    bool started_ = false;
    std::string name_, inline_;
    bool has_inline_ = false;
};

}  // namespace sa
