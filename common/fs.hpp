#pragma once

#include <string>

namespace sa {

// rm -rf without following symlinks; best effort.
void remove_tree(const std::string& path);

}  // namespace sa
