"""3. Idle cost of `semaphore-agent start` against the fake API at a 5 s sync interval.

The window starts once the agent has registered and synced once (so start-up is not
counted) and lasts BENCH_IDLE_SECONDS (60; 15 with BENCH_QUICK=1). Figures: VmRSS of
every agent process at the end (bar: under 6 MB), CPU time over the window from
/proc/PID/stat utime+stime (bar: under 50 ms; schedstat gives the same in ns), and the
context switches per sync (the agent should wake only for its timers).
Baselines: VmRSS of `sleep` (the floor of any dynamically linked process) and the CPU of a
minimal Python client making the same sync calls over one keep-alive connection.
A third agent idles in the same window with metrics-listen on, scraped (GET /metrics) every
SCRAPE_S seconds as Prometheus would; its VmRSS and CPU are reported beside the first's."""
import http.client
import os
import socket
import subprocess
import sys
import threading
import time

from common import (Result, Sandbox, agent_bin, cpu_exact_seconds, cpu_ticks_seconds, descendants,
                    fast_fake_api, fmt_mb, kb_to_mb, main_for, proc_status, quick, report, rss_by_mapping, say,
                    smaps_rollup)

BAR_RSS_MB = 6.0
BAR_CPU_S = 0.050
SYNC_MS = 5000
SCRAPE_S = 15.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scraper(threading.Thread):
    """GET /metrics every SCRAPE_S seconds over one keep-alive connection."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.scrapes, self.errors = port, threading.Event(), 0, 0

    def run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stop.is_set():
            try:
                c.request("GET", "/metrics")
                r = c.getresponse()
                r.read()
                self.scrapes += r.status == 200
            except (OSError, http.client.HTTPException):
                self.errors += 1
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            self.stop.wait(SCRAPE_S)

# A minimal client doing the agent's idle work: register, then one /sync every 5 s.
BASELINE_CLIENT = r"""
import http.client, json, sys, time, os
host, port, token, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
c = http.client.HTTPConnection(host, port)
def post(path, body, tok):
    c.request("POST", "/api/v1/self_hosted_agents" + path, json.dumps(body),
              {"Authorization": "Token " + tok, "Content-Type": "application/json"})
    r = c.getresponse(); return json.loads(r.read())
tok = post("/register", {"name": "bench-baseline-01", "version": "x"}, token)["token"]
post("/sync", {"state": "waiting-for-jobs"}, tok)
t0 = time.process_time()
end = time.monotonic() + seconds
while True:
    left = end - time.monotonic()
    if left <= 0: break
    time.sleep(min(left, 5.0))
    if time.monotonic() < end: post("/sync", {"state": "waiting-for-jobs"}, tok)
print("%.6f" % (time.process_time() - t0))
"""


# The floor the bar sits on: a C program that links Debian's libcurl (which
# the agent must use), calls curl_global_init as any libcurl user does, and
# reports its own VmRSS. Nothing of the agent's is in it.
CURL_FLOOR_C = r"""
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) fputs(line + 6, stdout);
    curl_multi_cleanup(m);
    return 0;
}
"""


# A lower floor still: OpenSSL alone (no libcurl), set up as any TLS client that
# checks certificates must be: a client SSL_CTX holding the system's CA store.
# Were the agent to drop libcurl for its own HTTP code, this is what it would sit on.
OPENSSL_FLOOR_C = r"""
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_set_default_verify_paths(ctx) != 1) return 1;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) fputs(line + 6, stdout);
    SSL_CTX_free(ctx);
    return 0;
}
"""


def floor_kb(sb, name, source, libs):
    """VmRSS of a floor program, or None when it cannot be built here."""
    src, exe = sb.path(name + ".c"), sb.path(name)
    with open(src, "w") as f:
        f.write(source)
    try:
        subprocess.run(["cc", "-O2", src, "-o", exe] + libs, check=True, capture_output=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
        return int(out.split()[0])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None


def idle_seconds():
    v = os.environ.get("BENCH_IDLE_SECONDS")
    return float(v) if v else (15.0 if quick() else 60.0)


def agent_syncs(api):
    return [r for r in api.find("/sync") if r.headers.get("User-Agent")]


def agent_pids(root):
    return [root] + descendants(root)


def run():
    from fake_api import REG_TOKEN
    secs = idle_seconds()
    say("== 3. idle `start` at a %d s sync interval, window %.0f s" % (SYNC_MS // 1000, secs))
    sb = Sandbox()
    api = fast_fake_api()
    api.next_sync_after = SYNC_MS
    # A second agent idles in the same window over HTTPS, as in production: its
    # libcurl then also holds the CA store and a TLS session. Figures only, no bar.
    tls_api = fast_fake_api(tls=True)
    tls_api.next_sync_after = SYNC_MS
    # Its own fake API, so that its syncs do not count as the first agent's.
    m_api = fast_fake_api()
    m_api.next_sync_after = SYNC_MS
    proc = tls_proc = m_proc = None
    scraper = None
    m_rss_kb = 0
    m_cpu = 0.0
    base = None
    curl_kb = ssl_kb = None
    tls_rss_kb = tls_pss_kb = 0
    try:
        log = open(sb.path("agent.log"), "wb")
        proc = subprocess.Popen([agent_bin(), "start", "--endpoint", api.endpoint, "--no-https",
                                 "--token", REG_TOKEN, "--name", "bench-agent-01"],
                                stdout=log, stderr=subprocess.STDOUT, env=sb.env(), cwd=sb.root)
        tls_log = open(sb.path("agent-tls.log"), "wb")
        tls_proc = subprocess.Popen([agent_bin(), "start", "--endpoint", tls_api.endpoint,
                                     "--token", REG_TOKEN, "--name", "bench-agent-02"],
                                    stdout=tls_log, stderr=subprocess.STDOUT,
                                    env=sb.env(SSL_CERT_FILE=tls_api.ca_file), cwd=sb.root)
        m_port = free_port()
        m_log = open(sb.path("agent-metrics.log"), "wb")
        m_proc = subprocess.Popen([agent_bin(), "start", "--endpoint", m_api.endpoint, "--no-https",
                                   "--token", REG_TOKEN, "--name", "bench-agent-03",
                                   "--metrics-listen", "127.0.0.1:%d" % m_port],
                                  stdout=m_log, stderr=subprocess.STDOUT, env=sb.env(), cwd=sb.root)
        api.wait_for(lambda: api.find("/sync"), 10, "the agent's first sync")
        m_api.wait_for(lambda: m_api.find("/sync"), 10, "the metrics agent's first sync")
        tls_api.wait_for(lambda: tls_api.find("/sync"), 10, "the HTTPS agent's first sync")
        # The baseline client runs in the same window, against the same fake API; its
        # requests carry no User-Agent, the agent's do.
        base = subprocess.Popen([sys.executable, "-c", BASELINE_CLIENT, "127.0.0.1", str(api.port),
                                 REG_TOKEN, str(secs)], stdout=subprocess.PIPE, env=sb.env())
        time.sleep(0.2)  # let the answer to the first sync be handled
        pids = agent_pids(proc.pid)
        m_c0 = cpu_exact_seconds(m_proc.pid) or 0
        scraper = Scraper(m_port)
        scraper.start()
        c0 = {p: (cpu_ticks_seconds(p) or 0, cpu_exact_seconds(p) or 0, proc_status(p) or {})
              for p in pids}
        syncs0 = len(agent_syncs(api))
        t0 = time.monotonic()
        time.sleep(secs)
        t1 = time.monotonic()
        if proc.poll() is not None:
            raise RuntimeError("agent exited during the idle window:\n" + open(sb.path("agent.log")).read())
        pids_end = agent_pids(proc.pid)
        if m_proc.poll() is not None:
            raise RuntimeError("the metrics agent exited during the idle window:\n" +
                               open(sb.path("agent-metrics.log")).read())
        m_cpu = (cpu_exact_seconds(m_proc.pid) or 0) - m_c0
        m_rss_kb = sum((proc_status(p) or {}).get("VmRSS", 0) for p in agent_pids(m_proc.pid))
        scraper.stop.set()
        if tls_proc.poll() is not None:
            raise RuntimeError("the HTTPS agent exited during the idle window:\n" +
                               open(sb.path("agent-tls.log")).read())
        for p in agent_pids(tls_proc.pid):
            tls_rss_kb += (proc_status(p) or {}).get("VmRSS", 0)
            tls_pss_kb += smaps_rollup(p).get("Pss", 0)
        rss_kb = 0
        parts = {"RssAnon": 0, "RssFile": 0, "RssShmem": 0}
        ticks = exact = 0.0
        switches = 0
        for p in pids_end:
            st = proc_status(p) or {}
            rss_kb += st.get("VmRSS", 0)
            for k in parts:
                parts[k] += st.get(k, 0)
            t, e, s0 = c0.get(p, (0, 0, {}))
            ticks += (cpu_ticks_seconds(p) or 0) - t
            exact += (cpu_exact_seconds(p) or 0) - e
            switches += (st.get("voluntary_ctxt_switches", 0) + st.get("nonvoluntary_ctxt_switches", 0)
                         - s0.get("voluntary_ctxt_switches", 0) - s0.get("nonvoluntary_ctxt_switches", 0))
        total_cpu = cpu_ticks_seconds(proc.pid)
        pss = sum(smaps_rollup(p).get("Pss", 0) for p in pids_end)
        top = rss_by_mapping(proc.pid)
        syncs = len(agent_syncs(api)) - syncs0
        out, _ = base.communicate(timeout=secs + 30)
        base_cpu = float(out.decode().strip() or "nan")
        sleeper = subprocess.Popen(["sleep", "30"])
        time.sleep(0.2)
        sleep_rss = (proc_status(sleeper.pid) or {}).get("VmRSS", 0)
        sleeper.kill()
        sleeper.wait()
        curl_kb = floor_kb(sb, "curl_floor", CURL_FLOOR_C, ["-lcurl"])
        ssl_kb = floor_kb(sb, "openssl_floor", OPENSSL_FLOOR_C, ["-lssl", "-lcrypto"])
    finally:
        if scraper is not None:
            scraper.stop.set()
        for p in (proc, tls_proc, m_proc):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        if base is not None and base.poll() is None:
            base.kill()
            base.wait()
        api.stop()
        tls_api.stop()
        m_api.stop()
        sb.close()
    window = t1 - t0
    agent_window_syncs = max(1, syncs)
    say("  agent processes at the end: %d (pids %s); CPU since its start %.2f s (ticks)" % (
        len(pids_end), pids_end, total_cpu or 0))
    say("  VmRSS by kind: anonymous %s, file-backed (binaries, libraries) %s, shmem %s" % (
        fmt_mb(parts["RssAnon"]), fmt_mb(parts["RssFile"]), fmt_mb(parts["RssShmem"])))
    say("  PSS (shared pages split between their users): %s" % fmt_mb(pss))
    say("  biggest resident mappings of the supervisor: " + ", ".join(
        "%s %s" % (name, fmt_mb(kb)) for kb, name in top))
    say("  %d agent syncs in %.1f s; %d context switches of the agent (%.1f per sync)" % (
        syncs, window, switches, switches / agent_window_syncs))
    rss = Result("3 idle", "VmRSS of all agent processes after %.0f s" % secs,
                 "sleep %s" % fmt_mb(sleep_rss), fmt_mb(rss_kb), rss_kb / max(sleep_rss, 1),
                 "< %.0f MB" % BAR_RSS_MB, kb_to_mb(rss_kb) < BAR_RSS_MB)
    cpu = Result("3 idle", "CPU over %.0f s (schedstat; stat ticks %.0f ms)" % (secs, ticks * 1e3),
                 "py client %.1f ms" % (base_cpu * 1e3), "%.1f ms" % (exact * 1e3),
                 exact / base_cpu if base_cpu > 0 else None,
                 "< %.0f ms/min" % (BAR_CPU_S * 1e3), max(ticks, exact) * 60.0 / secs < BAR_CPU_S)
    pss_row = Result("3 idle", "PSS of all agent processes (libraries shared)", "-", fmt_mb(pss), None,
                     "", None)
    wake = Result("3 idle", "context switches per sync", "-",
                  "%.1f" % (switches / agent_window_syncs), None, "", None)
    rows = [report(rss)]
    if curl_kb:
        rows.append(report(Result(
            "3 idle", "VmRSS vs a C program that only links libcurl and inits it",
            "floor %s" % fmt_mb(curl_kb), fmt_mb(rss_kb), rss_kb / curl_kb,
            "", None)))
    if ssl_kb:
        rows.append(report(Result(
            "3 idle", "VmRSS vs a C program with only an OpenSSL client context and CA store",
            "floor %s" % fmt_mb(ssl_kb), fmt_mb(rss_kb), rss_kb / ssl_kb,
            "", None)))
        if kb_to_mb(ssl_kb) >= BAR_RSS_MB:
            say("  the %.0f MB bar is below the OpenSSL floor (%s): no agent that verifies TLS "
                "certificates with OpenSSL can meet it" % (BAR_RSS_MB, fmt_mb(ssl_kb)))
    tls_row = Result("3 idle", "the same over HTTPS: VmRSS (PSS %s)" % fmt_mb(tls_pss_kb),
                     "HTTP %s" % fmt_mb(rss_kb), fmt_mb(tls_rss_kb), tls_rss_kb / max(rss_kb, 1), "", None)
    say("  metrics agent: %d scrapes of /metrics (%d errors) in the window" % (
        scraper.scrapes if scraper else 0, scraper.errors if scraper else 0))
    m_rss_row = Result("3 idle", "metrics-listen on, scraped every %.0f s: VmRSS" % SCRAPE_S,
                       "off %s" % fmt_mb(rss_kb), fmt_mb(m_rss_kb), m_rss_kb / max(rss_kb, 1), "", None)
    m_cpu_row = Result("3 idle", "metrics-listen on, scraped every %.0f s: CPU over %.0f s" % (SCRAPE_S, secs),
                       "off %.1f ms" % (exact * 1e3), "%.1f ms" % (m_cpu * 1e3),
                       m_cpu / exact if exact > 0 else None, "", None)
    return rows + [report(pss_row), report(tls_row), report(cpu), report(wake), report(m_rss_row),
                   report(m_cpu_row)]


if __name__ == "__main__":
    main_for(run)
