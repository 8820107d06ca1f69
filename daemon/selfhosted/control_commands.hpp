// The answers to agentctl's commands (status, metrics, health, drain) over
// the control socket: what each command asks of the Listener, in the
// protocol's reply shapes (common/control_protocol.hpp). ControlServer
// carries the lines; this file decides what they say.
#pragma once

#include "common/json.hpp"

namespace sa {

class Listener;

// The reply to one parsed request object; a missing or unknown command is
// refused, naming the field.
JsonPtr answer_control_command(Listener& listener, const json_t* request);

}  // namespace sa
