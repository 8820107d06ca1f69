#include "worker/container_executor.hpp"

#include "common/fs.hpp"
#include "common/shell_quote.hpp"

namespace sa {

namespace {

// 0644 despite the service's umask: the container's user may be anyone.
constexpr WriteOptions kShared{.mode = 0644, .mode_use = ModeUse::Exact};

// A path in the container: `~` stays unquoted so the container's shell
// expands it to the container user's home.
std::string container_path(const std::string& p) {
    if (p == "~") return "~";
    if (p.rfind("~/", 0) == 0) return "~/" + shell_quote(p.substr(2));
    return shell_quote(p);
}

}  // namespace

// The env file goes through the mount; sourcing it is silent, and debug
// sessions (`docker exec ... bash --login`) get it from ~/.bash_profile.
int ContainerExecutor::export_env(const std::string& file_text) {
    std::string path = tmp_ + "/.env";
    if (auto st = write_file(path, file_text, kShared); !st) {
        runner_.say("Failed to write the environment file: " + st.reason() + "\n");
        return 255;
    }
    std::string q = shell_quote(path), ignored;
    int code = runner_.capture("source " + q + "\n", ignored);
    if (code == 0)
        runner_.capture("echo " + shell_quote("source " + q) + " >> ~/.bash_profile\n", ignored);
    return code;
}

// The content goes through the mounted temp directory and is copied into
// place by the container's shell, silently.
int ContainerExecutor::inject_file(const JobFile& f) {
    runner_.say("Injecting " + f.path + " with file mode " + f.mode + "\n");
    if (!f.content_ok) {
        runner_.say("Failed to decode the content of the file.\n");
        return 1;
    }
    std::string tmp = tmp_ + "/file";
    if (auto st = write_file(tmp, f.content, kShared); !st) {
        runner_.say("Failed to write '" + tmp + "': " + st.reason() + "\n");
        return 255;
    }
    std::string dest = f.path[0] == '/' || f.path[0] == '~' ? f.path : "~/" + f.path;
    size_t slash = dest.rfind('/');
    std::string dir = slash == std::string::npos ? dest : slash == 0 ? "/" : dest.substr(0, slash);
    std::string ignored;
    if (int c = runner_.capture("mkdir -p " + container_path(dir) + "\n", ignored); c != 0) {
        runner_.say("Failed to create destination path " + dest + "\n");
        return c;
    }
    if (int c = runner_.capture("cp " + shell_quote(tmp) + " " + container_path(dest) + "\n", ignored); c != 0) {
        runner_.say("Failed to move to destination path " + tmp + " " + dest + "\n");
        return c;
    }
    if (int c = runner_.capture("chmod " + shell_quote(f.mode) + " " + container_path(dest) + "\n", ignored); c != 0) {
        runner_.say("Failed to set file mode to " + f.mode + "\n");
        return c;
    }
    return 0;
}

}  // namespace sa
