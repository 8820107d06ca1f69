// Pushes a job's event spool to the log URL (protocol.md section 6).
//
// It keeps the byte offset and the event index of what the API has, reads
// the next batch (at most 2000 events, about 1 MiB) from that offset with a
// SpoolReader, and POSTs it as `?start_from=INDEX`. Nothing rescans the spool, so
// the cost is linear in its size and memory stays at one batch.
#pragma once

#include "common/agent_log.hpp"
#include "daemon/http/http_client.hpp"
#include "daemon/job/spool_reader.hpp"
#include "daemon/loop/timer.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sa {

class Pusher {
public:
    static constexpr size_t kMaxEvents = 2000;
    // The protocol allows 1 MiB a batch; 256 KiB holds 2000 typical events and
    // keeps the supervisor's peak memory lower while a big log is pushed.
    static constexpr size_t kMaxBytes = 256u << 10;
    static constexpr size_t kMaxLineBytes = 1u << 20;  // the protocol's batch limit

    // refresh: asks the API for a new log token; calls back with it ("" on failure).
    using RefreshFn = std::function<void(std::function<void(std::string)>)>;

    Pusher(uv_loop_t* loop, HttpClient& http, AgentLog& log, std::string spool_path,
           std::string url, std::string token, RefreshFn refresh);
    ~Pusher();

    // Begins periodic pushing: every 1.5-3 s, and batch after batch while a
    // full batch is waiting.
    void start();
    // The job is over: push as fast as possible until everything is out,
    // the log is trimmed, or timeout_ms passed; then call done once.
    void flush(long long timeout_ms, std::function<void()> done);

    bool trimmed() const { return trimmed_; }
    long long pushed_events() const { return index_; }
    long long pushed_bytes() const { return offset_; }
    // Pushes that failed (any reason but the log's size limit), all told.
    long long errors() const { return errors_; }

private:
    void schedule(uint64_t ms);
    void push_once();
    void on_response(HttpResponse r, long long batch_events, long long batch_bytes);
    void finish_flush();
    uint64_t backoff() const;
    bool backlog(long long last_batch_events) const;
    // Reads the next batch from the spool; false when nothing new.
    bool next_batch(std::string& body, long long& events);

    uv_loop_t* loop_;
    HttpClient& http_;
    AgentLog& log_;
    std::string url_, token_;
    RefreshFn refresh_;
    std::string spool_path_;
    std::optional<SpoolReader> reader_;  // once the spool exists
    Timer timer_, deadline_;
    long long offset_ = 0;  // bytes of the spool the API has
    long long index_ = 0;   // events the API has
    bool in_flight_ = false, trimmed_ = false, flushing_ = false, refreshing_ = false;
    std::function<void()> on_flushed_;
    unsigned failures_ = 0;
    long long errors_ = 0;
    uint64_t request_id_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sa
