#include "worker/step.hpp"

#include "common/event.hpp"

namespace sa {

int step(SupervisorLink& link, std::string_view directive, const std::function<int()>& body) {
    long long started = unix_now();
    link.send_event(event_cmd_started(started, directive));
    int code = body();
    long long finished = unix_now();
    link.send_event(event_cmd_finished(finished, directive, code, started, finished));
    return code;
}

}  // namespace sa
