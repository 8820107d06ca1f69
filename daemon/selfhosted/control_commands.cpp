#include "daemon/selfhosted/control_commands.hpp"

#include "common/control_protocol.hpp"
#include "daemon/metrics/metrics.hpp"
#include "daemon/selfhosted/listener.hpp"

#include <string>

namespace sa {

JsonPtr answer_control_command(Listener& listener, const json_t* request) {
    const char* name = json_string_value(json_object_get(request, control::kCommandKey));
    std::string command = name ? name : "";
    auto cmd = control::parse_command(command);
    if (!cmd)
        return control::refusal(command.empty() ? "command: missing" : "command: unknown '" + command + "'");
    switch (*cmd) {
        case control::Command::Status: return listener.status_json();
        case control::Command::Metrics:
            return control::metrics_answer(listener.metrics_text(MetricsFormat::Prometheus));
        case control::Command::Health: {
            Health h = listener.health();
            return control::health_answer(h.ok, h.reason);
        }
        case control::Command::Drain:
            listener.drain();
            return control::drain_answer("draining: the agent finishes its job, then disconnects");
    }
    return control::refusal("command: unknown '" + command + "'");  // not reached: every command is above
}

}  // namespace sa
