#include "daemon/selfhosted/control_socket.hpp"

#include "common/control_protocol.hpp"
#include "daemon/loop/stream_write.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sa {

struct ControlServer::Client {
    ControlServer* server;
    UvHandle<uv_pipe_t> pipe;
    std::string buf;
    char readbuf[4096];
};

ControlServer::ControlServer(uv_loop_t* loop, AgentLog& log, Handler handler)
    : loop_(loop), log_(log), handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
    clients_.clear();
    server_.reset();
    if (!path_.empty()) ::unlink(path_.c_str());
}

Status ControlServer::listen(const std::string& path) {
    // A socket left by a crashed agent would make bind fail: only replace
    // something that is a socket.
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return err("control-socket: " + path + " exists and is not a socket");
        ::unlink(path.c_str());
    }
    uv_pipe_init(loop_, server_.get(), 0);
    server_.initialized(this);
    mode_t old = ::umask(~control::kSocketMode & 0777);  // created with the protocol's mode
    int rc = uv_pipe_bind(server_.get(), path.c_str());
    ::umask(old);
    if (rc != 0) return err("control-socket: cannot bind " + path + ": " + uv_strerror(rc));
    ::chmod(path.c_str(), control::kSocketMode);
    path_ = path;
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(server_.get()), 16, [](uv_stream_t* s, int status) {
        auto* self = static_cast<ControlServer*>(s->data);
        if (self && status == 0) self->accept_one();
    });
    if (rc != 0) return err("control-socket: cannot listen on " + path + ": " + uv_strerror(rc));
    return Ok{};
}

void ControlServer::accept_one() {
    auto c = std::make_unique<Client>();
    c->server = this;
    uv_pipe_init(loop_, c->pipe.get(), 0);
    c->pipe.initialized(c.get());
    if (uv_accept(reinterpret_cast<uv_stream_t*>(server_.get()),
                  reinterpret_cast<uv_stream_t*>(c->pipe.get())) != 0)
        return;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(c->pipe.get()),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
            auto* cl = static_cast<Client*>(h->data);
            *b = uv_buf_init(cl->readbuf, sizeof cl->readbuf);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
            auto* cl = static_cast<Client*>(s->data);
            if (!cl) return;
            ControlServer* self = cl->server;
            if (n < 0) return self->drop(cl);
            cl->buf.append(b->base, static_cast<size_t>(n));
            size_t nl;
            while ((nl = cl->buf.find('\n')) != std::string::npos) {
                std::string line = cl->buf.substr(0, nl);
                cl->buf.erase(0, nl + 1);
                self->on_line(*cl, line);
            }
            if (cl->buf.size() > kMaxLine) {
                self->log_.warn("control socket: request line too long; closing the connection");
                self->drop(cl);
            }
        });
    clients_.push_back(std::move(c));
}

void ControlServer::on_line(Client& c, const std::string& line) {
    json_error_t e;
    JsonPtr req(json_loadb(line.data(), line.size(), 0, &e));
    JsonPtr reply;
    if (!req || !json_is_object(req.get())) {
        reply = control::refusal(std::string("request is not a JSON object: ") + (req ? "" : e.text));
    } else {
        reply = handler_(req.get());
    }
    // A client that went away meanwhile fails the write; there is nobody to tell.
    (void)write_owned(reinterpret_cast<uv_stream_t*>(c.pipe.get()), json_dump(reply.get()) + "\n");
}

void ControlServer::drop(Client* c) {
    auto it = std::find_if(clients_.begin(), clients_.end(), [c](auto& p) { return p.get() == c; });
    if (it != clients_.end()) clients_.erase(it);  // UvHandle closes the pipe
}

}  // namespace sa
