"""Fleet operations of `start`: metrics-listen (GET /healthz, GET /metrics),
agentctl metrics/health, per-job resource accounting, and JSON agent logs.
Case list in meson.build (metrics_cases) must match CASES (meson_list_in_sync)."""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import check_meson_list, Failure, check, eq, fake_api_case, peer_closed, wait_for
from test_control import agentctl
from test_sandbox import CgroupParent
from test_start import Agent, cmds, expect_exit

CASES = {}
case = fake_api_case(CASES)


class Skip(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, headers=None, timeout=5):
    """(status, headers, body) of GET http://127.0.0.1:port/path."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def start_with_metrics(sb, api, extra=(), env=None):
    port = free_port()
    sock = sb.path("agent.sock")
    a = Agent(sb, api, ["--metrics-listen", "127.0.0.1:%d" % port, "--control-socket", sock] + list(extra),
              env=env)
    def listening():
        try:
            get(port, "/healthz", timeout=1)
            return True
        except OSError:
            return False
    wait_for(listening, 20, "the metrics listener", dump=a.output)
    return a, port, sock


def health(port):
    st, _, body = get(port, "/healthz")
    return st, body.strip()


def metric(text, name, labels=None):
    """The value of one sample in exposition text, or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        if labels and not all('%s="%s"' % kv in (m.group(2) or "") for kv in labels.items()):
            continue
        return float(m.group(3))
    return None


def shutdown(api, a):
    api.push_action("shutdown", shutdown_reason="requested")
    expect_exit(a, 0, "REQUESTED", timeout=40)


@case
def healthz_transitions(sb, api):
    api.set_down(True)
    env = sb.env(SEMAPHORE_AGENT_UNABLE_TO_SYNC_SECONDS="30")
    a, port, sock = start_with_metrics(sb, api, env=env)
    try:
        eq(health(port), (503, "not registered"), "before registering")
        eq(agentctl("health", sock=sock).returncode, 1, "agentctl health before registering")
        api.set_down(False)
        wait_for(lambda: health(port) == (200, "ok"), 20, "healthy once registered", dump=a.output)
        r = agentctl("health", sock=sock)
        eq((r.returncode, r.stdout.strip()), (0, "ok"), "agentctl health when healthy")
        # Syncs fail: healthy for a while (within the allowance), then not.
        # With UNABLE_TO_SYNC after 30 s the allowance is 15 s.
        api.set_down(True)
        t0 = time.monotonic()
        st = wait_for(lambda: (lambda h: h if h[0] == 503 else None)(health(port)), 30, "sync failing")
        took = time.monotonic() - t0
        check(st[1].startswith("sync failing since 20"), "reason names the time: %r" % (st,))
        check(10 <= took <= 25, "unhealthy after the allowance (15 s), took %.1f s" % took)
        r = agentctl("health", sock=sock)
        eq(r.returncode, 1, "agentctl health while syncs fail")
        check(r.stdout.startswith("sync failing since"), r.stdout)
        api.set_down(False)
        wait_for(lambda: health(port) == (200, "ok"), 20, "healthy again once syncs succeed")
        # Draining while a job runs: unhealthy, so the fleet stops sending traffic.
        api.add_job("h1", {"commands": cmds("echo begin", "sleep 3")})
        api.wait_for(lambda: any("begin" in (e.get("output") or "") for e in api.logs.get("h1", [])), 30, "job")
        eq(agentctl("drain", sock=sock).returncode, 0, "drain")
        eq(health(port), (503, "draining"), "draining")
        expect_exit(a, 0, "REQUESTED", timeout=40)
    finally:
        a.kill()


def job_then_metrics(sb, api, port):
    api.add_job("m1", {"commands": cmds("echo hello")})
    api.add_job("m2", {"commands": cmds("false")})
    wait_for(lambda: metric(get(port, "/metrics")[2], "semaphore_agent_jobs_total", {"result": "failed"}) == 1,
             40, "two jobs counted")


@case
def metrics_content_and_promtool(sb, api):
    promtool = shutil.which("promtool")
    if not promtool:
        raise Failure("promtool is not installed (apt-get install prometheus; `make deps` does)")
    a, port, sock = start_with_metrics(sb, api)
    try:
        job_then_metrics(sb, api, port)
        wait_for(lambda: metric(get(port, "/metrics")[2], "semaphore_agent_state", {"state": "waiting-for-jobs"}) == 1,
                 20, "the agent to wait for jobs again")
        st, hdr, text = get(port, "/metrics")
        eq(st, 200, "status")
        check(hdr["Content-Type"].startswith("text/plain; version=0.0.4"), hdr["Content-Type"])
        eq(metric(text, "semaphore_agent_info", {"name": "test-agent-001"}), 1.0, "info")
        eq(metric(text, "semaphore_agent_jobs_total", {"result": "passed"}), 1.0, "passed jobs")
        eq(metric(text, "semaphore_agent_job_duration_seconds_count"), 2.0, "durations observed")
        eq(metric(text, "semaphore_agent_state", {"state": "waiting-for-jobs"}), 1.0, "state")
        check(metric(text, "semaphore_agent_sync_requests_total", {"outcome": "ok"}) >= 2, "syncs")
        check(abs(metric(text, "semaphore_agent_last_sync_success_timestamp_seconds") - time.time()) < 30,
              "last sync time")
        for name in ("semaphore_agent_uptime_seconds", "semaphore_agent_log_push_lag_events",
                     "semaphore_agent_log_push_lag_bytes", "semaphore_agent_log_push_errors_total",
                     "semaphore_agent_job_oom_kills_total"):
            check(metric(text, name) is not None, name + " present:\n" + text)
        eq(metric(text, "semaphore_agent_interruptions_total", {"source": "spot"}), 0.0, "spot interruptions")
        # OpenMetrics on request.
        st, hdr, om = get(port, "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
        check(hdr["Content-Type"].startswith("application/openmetrics-text; version=1.0.0"), hdr["Content-Type"])
        check(om.endswith("# EOF\n"), "OpenMetrics ends with # EOF")
        check("# TYPE semaphore_agent_jobs counter" in om, "counter family without _total")
        # agentctl metrics prints the same families.
        r = agentctl("metrics", sock=sock)
        eq(r.returncode, 0, r.stderr)
        eq(metric(r.stdout, "semaphore_agent_jobs_total", {"result": "passed"}), 1.0, "agentctl metrics")
        for body in (text, r.stdout):
            p = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
            eq(p.returncode, 0, "promtool check metrics: " + p.stdout + p.stderr)
    finally:
        shutdown(api, a)


@case
def real_prometheus_scrapes(sb, api):
    prom = shutil.which("prometheus")
    if not prom:
        raise Failure("prometheus is not installed (apt-get install prometheus; `make deps` does)")
    a, port, sock = start_with_metrics(sb, api)
    pport = free_port()
    cfg = sb.write("prometheus.yml",
                   "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                   "scrape_configs:\n  - job_name: agent\n    static_configs:\n"
                   "      - targets: ['127.0.0.1:%d']\n" % port)
    plog = open(sb.path("prometheus.log"), "wb")
    p = subprocess.Popen([prom, "--config.file=" + cfg, "--storage.tsdb.path=" + sb.path("tsdb"),
                          "--web.listen-address=127.0.0.1:%d" % pport, "--web.enable-lifecycle"],
                         stdout=plog, stderr=subprocess.STDOUT)
    try:
        job_then_metrics(sb, api, port)

        def query():
            q = urllib.parse.urlencode({"query": 'semaphore_agent_jobs_total{result="passed"}'})
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?%s" % (pport, q), timeout=2) as r:
                    res = json.load(r)["data"]["result"]
            except (OSError, ValueError, KeyError):
                return None
            return res[0]["value"][1] if res else None
        def plogtext():
            with open(sb.path("prometheus.log"), "rb") as f:
                return f.read().decode(errors="replace")[-3000:]
        v = wait_for(lambda: query() == "1" and "1", 60, "Prometheus to have scraped the count", dump=plogtext)
        eq(v, "1", "the value read back through Prometheus")
        # And it saw the target healthy.
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % pport, timeout=5) as r:
            t = json.load(r)["data"]["activeTargets"]
        eq([x["health"] for x in t], ["up"], "target health")
        # Prometheus asks for OpenMetrics first: the families it recorded are
        # the OpenMetrics ones (counter without _total, info type), so the
        # OpenMetrics text was the one parsed.
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets/metadata?match_target=%%7Bjob%%3D%%22agent%%22%%7D"
                                    % pport, timeout=5) as r:
            meta = {m["metric"]: m["type"] for m in json.load(r)["data"]}
        eq((meta.get("semaphore_agent_jobs"), meta.get("semaphore_agent")), ("counter", "info"),
           "families as OpenMetrics names them: %r" % meta)
    finally:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        plog.close()
        shutdown(api, a)


def raw_request(port, data, timeout=5):
    """Sends bytes; returns what comes back until the server closes (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except socket.timeout:
            pass
        return out


def timed_health(port, timeout=5):
    t0 = time.monotonic()
    st, _, body = get(port, "/healthz", timeout=timeout)
    return (st, body.strip()), time.monotonic() - t0


@case
def bad_requests_and_slow_clients(sb, api):
    a, port, sock = start_with_metrics(sb, api)
    try:
        wait_for(lambda: health(port)[0] == 200, 20, "healthy")
        eq(get(port, "/nope")[0], 404, "unknown path")
        r = raw_request(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        check(r.startswith(b"HTTP/1.1 405 "), "POST gets 405: %r" % r[:80])
        r = raw_request(port, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        check(r.startswith(b"HTTP/1.1 431 "), "huge headers get 431: %r" % r[:80])
        r = raw_request(port, b"\x16\x03\x01 not http at all\r\n\r\n")
        check(r.startswith(b"HTTP/1.1 400 "), "garbage gets 400 and a close: %r" % r[:80])
        # Slow clients: connections that trickle a byte now and then, and one
        # that sends a request and never reads. /healthz answers promptly
        # meanwhile, and the slow ones are closed at the header deadline.
        # "Promptly" is "the loop never waits on them", not a speed: the bound
        # is a multiple of the latency measured here unloaded, with a floor a
        # loaded 2-core machine (or the sanitizer build) stays under but a
        # loop stalled on a client (up to its 5 s header deadline, or until
        # the non-reader reads) would not.
        idle_worst = max(timed_health(port)[1] for _ in range(10))
        bound = min(4.5, max(4.5 if os.environ.get("SA_SANITIZED") else 3.0, 10 * idle_worst))
        slow = []
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /metr")
            slow.append(s)
        hog = socket.create_connection(("127.0.0.1", port))
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200)  # pipelined, never read
        worst = 0.0
        t_end = time.monotonic() + 3
        while time.monotonic() < t_end:
            for s in slow:
                try:
                    s.sendall(b"i")
                except OSError:
                    pass
            st, took = timed_health(port, timeout=15)
            eq(st, (200, "ok"), "healthz while slow clients hold connections")
            worst = max(worst, took)
            time.sleep(0.1)
        print("healthz worst latency with 10 trickling clients and a pipelining non-reader: %.1f ms "
              "(unloaded %.1f ms; bound %.1f s)" % (worst * 1e3, idle_worst * 1e3, bound))
        check(worst < bound, "healthz answered within %.1f s while slow clients held connections (worst %.3f s, "
              "unloaded %.3f s)" % (bound, worst, idle_worst))
        # The trickling clients are cut off at the 5 s header deadline.
        wait_for(lambda: all(peer_closed(s) for s in slow), 10, "slow clients closed at the header deadline")
        for s in slow + [hog]:
            s.close()
        eq(health(port), (200, "ok"), "still healthy")
    finally:
        shutdown(api, a)


@case
def idle_connections_do_not_lock_out_healthz(sb, api):
    """Any local process can open connections and send nothing: at the limit (64) the
    longest idle one is closed to make room, so /healthz still answers, at once."""
    a, port, sock = start_with_metrics(sb, api)
    idle = []
    try:
        wait_for(lambda: health(port)[0] == 200, 20, "healthy")
        for _ in range(100):
            idle.append(socket.create_connection(("127.0.0.1", port)))
        # Locked out, healthz would wait for the 60 s idle timeout. The bound
        # leaves room for one SYN retransmission (1 s): on a loaded machine the
        # listen backlog (64) can be full for a moment while the agent accepts
        # the burst of 100, and the kernel then drops the SYN.
        for i in range(5):
            st, took = timed_health(port)
            eq(st, (200, "ok"), "healthz %d with 100 idle connections open" % i)
            check(took < 2.5, "healthz answered within 2.5 s (took %.3f s)" % took)
        # The oldest ones were closed, not the newest: at most 64 remain open.
        wait_for(lambda: sum(not peer_closed(s) for s in idle) <= 64, 10, "at most 64 connections open")
        check(peer_closed(idle[0]), "the oldest idle connection was closed")
    finally:
        for s in idle:
            s.close()
        shutdown(api, a)


@case
def job_resource_accounting_and_oom(sb, api):
    if os.geteuid() != 0:
        raise Skip("needs root (a job cgroup with a memory limit), as CI has")
    parent = CgroupParent()
    try:
        a, port, sock = start_with_metrics(sb, api, ["--job-memory-max", "64M", "--job-cgroup-parent", parent.path])
        try:
            api.add_job("busy", {"commands": cmds("echo begin; python3 -c 'x = bytearray(16 << 20); import time; time.sleep(3)'")})
            api.wait_for(lambda: any("begin" in (e.get("output") or "") for e in api.logs.get("busy", [])), 30, "job")
            # Live usage while it runs.
            def live():
                st = json.loads(agentctl("status", "--json", sock=sock).stdout)
                u = st.get("job_usage")
                return u if u and u["memory_peak_bytes"] >= 16 << 20 else None
            u = wait_for(live, 10, "live job usage in agentctl status")
            check(u["tasks_peak"] >= 1 and u["cpu_user_seconds"] >= 0, "live usage: %r" % u)
            wait_for(lambda: "Job busy finished: passed (" in a.output(), 30, "the job's end line")
            # Over the limit: the OOM killer ends it, and the log says so.
            api.add_job("oom", {"commands": cmds("python3 -c 'x = bytearray(400 * 1024 * 1024); print(len(x))'")})
            wait_for(lambda: "Job oom finished: failed (" in a.output(), 60, "the OOM job's end", dump=a.output)
            out = a.output()
            line = [l for l in out.splitlines() if "Job oom finished: failed (" in l][0]
            check(re.search(r"CPU \d+\.\d\d s user, \d+\.\d\d s system; peak memory \d+\.\d MiB; peak tasks [1-9]\d*; OOM kills [1-9]", line),
                  "usage on the end line: " + line)
            check("Job oom ran out of memory: the kernel's OOM killer killed" in out and
                  "job-memory-max 64M" in out, "the OOM kill in plain words:\n" + out)
            # Counted once the job is reported (after its log is pushed).
            wait_for(lambda: metric(get(port, "/metrics")[2], "semaphore_agent_jobs_total", {"result": "failed"}) == 1,
                     30, "the OOM job counted")
            text = get(port, "/metrics")[2]
            check(metric(text, "semaphore_agent_last_job_oom_kills") >= 1, "OOM kills metric:\n" + text)
            check(metric(text, "semaphore_agent_last_job_memory_peak_bytes") >= 32 << 20, "peak memory metric")
            check(metric(text, "semaphore_agent_job_oom_kills_total") >= 1, "OOM kills total")
            # The job log itself has no trace of the accounting.
            joined = "".join(e.get("output", "") for e in api.events("oom") if e["event"] == "cmd_output")
            check("OOM" not in joined and "peak memory" not in joined, "job log unchanged: %r" % joined)
        finally:
            shutdown(api, a)
    finally:
        parent.remove()


@case
def json_log_format(sb, api):
    logfile = sb.path("agent-json.log")
    env = sb.env(SEMAPHORE_AGENT_LOG_FORMAT="json", SEMAPHORE_AGENT_LOG_FILE_PATH=logfile)
    a = Agent(sb, api, [], env=env)
    try:
        api.add_job("j1", {"commands": cmds("echo hi")})
        api.wait_for(lambda: any(s["state"] == "finished-job" for s in api.syncs()), 30, "the job")
    finally:
        shutdown(api, a)
    with open(logfile) as f:
        lines = f.read().splitlines()
    check(len(lines) >= 5, "some log lines: %r" % lines)
    seen = set()
    for line in lines:
        try:
            o = json.loads(line)
        except ValueError:
            raise Failure("not JSON: %r" % line)
        for k in ("time", "level", "agent", "msg"):
            check(k in o, "%s in %r" % (k, o))
        check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["time"]), "RFC 3339 ms UTC: %r" % o["time"])
        check(o["level"] in ("debug", "info", "warn", "error"), o["level"])
        seen.update(k for k in ("job_id", "state", "reason") if k in o)
        if o["msg"].startswith("Job j1 finished"):
            eq((o.get("job_id"), o.get("reason")), ("j1", "passed"), "the job's end line fields")
        if o["msg"].startswith("Shutting down"):
            eq(o.get("reason"), "REQUESTED", "shutdown reason field")
    eq(seen, {"job_id", "state", "reason"}, "fields that apply appear")
    # The process's own stderr carries the same format.
    for line in a.output().splitlines():
        if line.startswith("{"):
            json.loads(line)


@case
def text_log_format_unchanged(sb, api):
    a = Agent(sb, api, ["--log-format", "text"])
    try:
        api.wait_for(lambda: api.syncs(), 20, "a sync")
    finally:
        shutdown(api, a)
    for line in a.output().splitlines():
        if line.startswith("hook says"):
            continue
        check(re.match(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{3} test-agent-001 : ", line),
              "text line format: %r" % line)


@case
def address_in_use_refused(sb, api):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        a = Agent(sb, api, ["--metrics-listen", "127.0.0.1:%d" % port])
        eq(a.wait(20), 78, "exit status when metrics-listen cannot be bound:\n" + a.output())
    check("metrics-listen: cannot listen on 127.0.0.1:%d" % port in a.output(), a.output())
    eq(api.find("/register"), [], "no registration without the listener")


@case
def meson_list_in_sync(sb, api):
    check_meson_list('test_metrics', CASES)
