// The control socket agentctl talks to: a UNIX stream socket (mode 0660),
// one JSON request per line in, one JSON reply per line out. A bad request
// gets an error reply; nothing a client sends can disturb the agent.
#pragma once

#include "common/agent_log.hpp"
#include "common/control_protocol.hpp"
#include "common/json.hpp"
#include "common/result.hpp"
#include "daemon/loop/uv_handle.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sa {

class ControlServer {
public:
    // Gets the parsed request object; returns the reply object (owned).
    using Handler = std::function<JsonPtr(const json_t* request)>;

    ControlServer(uv_loop_t* loop, AgentLog& log, Handler handler);
    ~ControlServer();
    Status listen(const std::string& path);

    // Longest request line accepted; a client sending more is cut off.
    static constexpr size_t kMaxLine = control::kMaxRequestLine;

private:
    struct Client;
    void accept_one();
    void on_line(Client& c, const std::string& line);
    void drop(Client* c);

    uv_loop_t* loop_;
    AgentLog& log_;
    Handler handler_;
    std::string path_;
    UvHandle<uv_pipe_t> server_;
    std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace sa
