#include "daemon/selfhosted/pusher.hpp"

#include "common/random.hpp"

namespace sa {

Pusher::Pusher(uv_loop_t* loop, HttpClient& http, AgentLog& log, std::string spool_path,
               std::string url, std::string token, RefreshFn refresh)
    : loop_(loop), http_(http), log_(log), url_(std::move(url)), token_(std::move(token)),
      refresh_(std::move(refresh)), spool_path_(std::move(spool_path)), timer_(loop), deadline_(loop) {}

Pusher::~Pusher() {
    *alive_ = false;  // a token refresh still under way must not call back into us
    if (in_flight_) http_.cancel(request_id_);
}

void Pusher::start() { schedule(1500); }

void Pusher::schedule(uint64_t ms) {
    timer_.start(ms, [this] { push_once(); });
}

bool Pusher::next_batch(std::string& body, long long& events) {
    if (!reader_) {
        auto r = SpoolReader::open(spool_path_);
        if (!r) return false;  // not written yet
        reader_.emplace(std::move(r.value()));
    }
    // Whole lines only, and at most kMaxEvents of them. An event longer than
    // a batch (a worker's event frame may be 256 KiB) goes in a read of up
    // to the protocol's 1 MiB.
    auto n = reader_->read_batch(offset_, {kMaxEvents, kMaxBytes, kMaxLineBytes}, body);
    if (!n || *n == 0) return false;
    events = *n;
    return true;
}

void Pusher::push_once() {
    if (in_flight_ || trimmed_ || refreshing_) return;
    std::string body;
    long long events = 0;
    if (!next_batch(body, events)) {
        if (flushing_) finish_flush();
        else schedule(random_between(1500, 3000));
        return;
    }
    HttpRequest req;
    req.method = "POST";
    req.url = url_ + (url_.find('?') == std::string::npos ? "?" : "&") +
              "start_from=" + std::to_string(index_);
    req.headers = {"Content-Type: text/plain", "Authorization: Bearer " + token_};
    long long bytes = static_cast<long long>(body.size());
    req.body = std::move(body);
    in_flight_ = true;
    request_id_ = http_.send(std::move(req), [this, events, bytes](HttpResponse r) {
        in_flight_ = false;
        on_response(std::move(r), events, bytes);
    });
}

void Pusher::on_response(HttpResponse r, long long batch_events, long long batch_bytes) {
    if (r.ok()) {
        offset_ += batch_bytes;
        index_ += batch_events;
        failures_ = 0;
        schedule(flushing_ || backlog(batch_events) ? 0 : random_between(1500, 3000));
        return;
    }
    if (r.status == 401) {
        // Counted as a failure: a refresh that fails, or a new token that is
        // refused again, backs off instead of asking the API in a tight loop.
        failures_++;
        errors_++;
        log_.info("Log token expired: refreshing it");
        refreshing_ = true;
        refresh_([this, alive = alive_](std::string token) {
            if (!*alive) return;
            refreshing_ = false;
            bool got = !token.empty();
            if (got) token_ = std::move(token);
            schedule(got && failures_ == 1 ? 0 : backoff());
        });
        return;
    }
    if (r.status == 422) {
        log_.warn("The job log reached its size limit: it is trimmed, no more lines are pushed");
        trimmed_ = true;
        if (flushing_) finish_flush();
        return;
    }
    failures_++;
    errors_++;
    log_.warn("Pushing job logs failed (" + r.describe() + "); retrying");
    schedule(backoff());
}

// A full batch is already waiting: the job writes faster than one batch per
// interval. The next one goes at once, so the live log keeps up with the job
// instead of falling minutes behind and being sent in one burst when the job
// ends. The batches stay full, so the API gets no more requests than it
// would have; only earlier, and never faster than a flush sends them.
bool Pusher::backlog(long long last_batch_events) const {
    if (static_cast<size_t>(last_batch_events) >= kMaxEvents) return true;
    auto size = reader_ ? reader_->size() : Result<long long>(0LL);
    return size && *size - offset_ >= static_cast<long long>(kMaxBytes);
}

uint64_t Pusher::backoff() const { return failures_ > 5 ? 3000 : 500u * failures_; }

void Pusher::flush(long long timeout_ms, std::function<void()> done) {
    flushing_ = true;
    on_flushed_ = std::move(done);
    deadline_.start(static_cast<uint64_t>(timeout_ms), [this] {
        log_.warn("Gave up flushing the job log after the flush timeout");
        finish_flush();
    });
    if (trimmed_) return finish_flush();
    if (!in_flight_ && !refreshing_) schedule(0);
}

void Pusher::finish_flush() {
    if (!on_flushed_) return;
    timer_.stop();
    deadline_.stop();
    auto cb = std::move(on_flushed_);
    on_flushed_ = nullptr;
    cb();
}

}  // namespace sa
