// Drives the supervisor's real log pusher (daemon/pusher.cpp over daemon/http_client.cpp,
// libcurl multi on libuv) on a pre-made spool, the way the job runner does at the end of
// a job: Pusher::flush() pushes as fast as the API answers until the spool is out.
//
//   push_bench SPOOL URL TOKEN
//
// Prints one JSON line: events pushed, wall seconds from flush() to its callback, and the
// CPU this process used in that window (getrusage, all threads: libuv loop + libcurl)
// and its peak resident memory (VmHWM).
// Built and run by bench_push.py; not part of the product.
#include "common/agent_log.hpp"
#include "daemon/http/http_client.hpp"
#include "daemon/selfhosted/pusher.hpp"

#include <curl/curl.h>
#include <sys/resource.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace {

// VmHWM of this process in kB (ru_maxrss would include the forking parent's RSS).
long vm_hwm_kb() {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    std::fclose(f);
    return kb;
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: push_bench SPOOL URL TOKEN\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    uv_loop_t* loop = uv_default_loop();
    long long events = 0;
    double wall = 0, cpu = 0;
    bool done = false;
    {
        sa::AgentLog log;
        sa::HttpClient http(loop, "SemaphoreAgent/bench");
        sa::Pusher pusher(loop, http, log, argv[1], argv[2], argv[3],
                          [](std::function<void(std::string)> cb) { cb(""); });
        double cpu0 = cpu_seconds();
        auto t0 = std::chrono::steady_clock::now();
        pusher.flush(600000, [&] {
            wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            cpu = cpu_seconds() - cpu0;
            events = pusher.pushed_events();
            done = true;
            uv_stop(loop);
        });
        uv_run(loop, UV_RUN_DEFAULT);
        std::printf("{\"events\":%lld,\"seconds\":%.6f,\"cpu\":%.6f,\"hwm_kb\":%ld,\"done\":%s}\n",
                    events, wall, cpu, vm_hwm_kb(), done ? "true" : "false");
    }
    uv_run(loop, UV_RUN_NOWAIT);  // close callbacks of the handles just released
    curl_global_cleanup();
    return done ? 0 : 1;
}
