// The config file parser: arbitrary YAML through the real loader.
#include "common/config.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static int fd = memfd_create("config.yaml", 0);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    auto env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    auto cfg = sa::load_config({"--config-file", path}, env);
    if (cfg) {
        (void)sa::validate_config(*cfg);
        (void)sa::describe_config(*cfg);
    }
    return 0;
}
