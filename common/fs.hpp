#pragma once

#include <string>

namespace sa {

// rm -rf without following symlinks; best effort.
void remove_tree(const std::string& path);

// Closes every descriptor from `first` up. Async-signal-safe: it runs in
// forked children before exec.
void close_from(int first);

}  // namespace sa
