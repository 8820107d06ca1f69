#include "daemon/loop/hook_process.hpp"

#include "common/unique_fd.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <cstring>

extern char** environ;

namespace sa {

HookProcess::~HookProcess() {
    if (proc_.live() && !exited_) uv_process_kill(proc_.get(), SIGKILL);
}

Status HookProcess::start(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env, std::function<void(int)> done) {
    done_ = std::move(done);
    std::vector<std::string> env_store;
    for (char** e = environ; *e; e++) env_store.emplace_back(*e);
    for (const auto& kv : extra_env) env_store.push_back(kv);
    std::vector<char*> env, args;
    for (auto& e : env_store) env.push_back(e.data());
    env.push_back(nullptr);
    std::vector<std::string> argv_store(argv);
    for (auto& a : argv_store) args.push_back(a.data());
    args.push_back(nullptr);

    // One socketpair for both stdout and stderr, so lines keep their order.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return err(std::string("socketpair: ") + std::strerror(errno));
    UniqueFd ours(sv[0]), theirs(sv[1]);  // the child's end is closed once it has it
    uv_pipe_init(loop_, out_.get(), 0);
    out_.initialized(this);
    if (int rc = uv_pipe_open(out_.get(), ours.get()); rc != 0)
        return err(std::string("cannot read the hook's output: ") + uv_strerror(rc));
    ours.release();  // the pipe handle closes it now
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = theirs.get();
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = theirs.get();
    uv_process_options_t po{};
    po.file = args[0];
    po.args = args.data();
    po.env = env.data();
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = [](uv_process_t* p, int64_t status, int sig) {
        auto* self = static_cast<HookProcess*>(p->data);
        if (!self) return;
        self->exited_ = true;
        self->status_ = sig ? 128 + sig : static_cast<int>(status);
        self->maybe_done();
    };
    int rc = uv_spawn(loop_, proc_.get(), &po);
    theirs.reset();
    proc_.initialized(this);
    if (rc != 0) return err(std::string("cannot start ") + argv[0] + ": " + uv_strerror(rc));
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(out_.get()),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
            auto* self = static_cast<HookProcess*>(h->data);
            *b = uv_buf_init(self->buf_, sizeof self->buf_);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
            auto* self = static_cast<HookProcess*>(s->data);
            if (!self) return;
            if (n > 0) self->take_output(b->base, static_cast<size_t>(n), false);
            if (n < 0) {
                uv_read_stop(s);
                self->take_output(nullptr, 0, true);
                self->eof_ = true;
                self->maybe_done();
            }
        });
    return Ok{};
}

void HookProcess::take_output(const char* data, size_t n, bool eof) {
    partial_.append(data ? data : "", n);
    size_t pos = 0, nl;
    while ((nl = partial_.find('\n', pos)) != std::string::npos) {
        log_.info(partial_.substr(pos, nl - pos));
        pos = nl + 1;
    }
    partial_.erase(0, pos);
    if (eof && !partial_.empty()) {
        log_.info(partial_);
        partial_.clear();
    }
}

void HookProcess::maybe_done() {
    if (!exited_ || !eof_ || !done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    done(status_);
}

}  // namespace sa
