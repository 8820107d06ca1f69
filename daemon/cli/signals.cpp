#include "daemon/cli/signals.hpp"

#include <signal.h>

namespace sa {

void ignore_sigpipe() { ::signal(SIGPIPE, SIG_IGN); }

void SignalSet::on(int signum, std::function<void(int)> fn) {
    auto w = std::make_unique<Watch>();
    w->fn = std::move(fn);
    if (uv_signal_init(loop_, w->handle.get()) != 0) return;
    w->handle.initialized(w.get());
    uv_signal_start(
        w->handle.get(),
        [](uv_signal_t* s, int sig) {
            if (auto* self = static_cast<Watch*>(s->data)) self->fn(sig);
        },
        signum);
    watches_.push_back(std::move(w));
}

}  // namespace sa
