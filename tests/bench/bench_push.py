"""4. Log push: a spool of 100k and of 1M events pushed to the fake API.

(a) The supervisor's own pusher on a pre-made spool. push_bench.cpp links the real
    daemon/selfhosted/pusher.cpp and daemon/http/http_client.cpp (libcurl multi on libuv) and calls
    Pusher::flush(), which is what the job runner does when a job ends. Figures: events/s
    and the pusher's CPU per event (getrusage of its process). Bar: over 100,000 events/s,
    with CPU per event at 1M within 1.5x of that at 100k (linear cost).
    Baseline: a minimal Python client (http.client, one keep-alive connection) posting the
    same batches (2000 events, about 1 MiB) to the same fake API: the API's own ceiling.
(b) End to end through `semaphore-agent start`: a job of BENCH_PUSH_COMMANDS `true`
    commands (two events each, so about as many events as commands x 2). While a job runs
    the pusher sends one batch every 1.5-3 s; when it ends it flushes the rest back to
    back. Figure: events/s of that flush and supervisor CPU per event in it.

The fake API here counts lines and checks start_from and the batch's first event instead
of storing parsed events, so that 1M events do not measure Python's json module.
"""
import json
import os
import subprocess
import sys
import time

from common import (ROOT, Result, Sandbox, agent_bin, build_dir, cpu_exact_seconds, fast_fake_api,
                    main_for, quick, report, say, worker_of)

BAR_RATE = 100_000
MAX_EVENTS = 2000
MAX_BYTES = 1 << 20


def counting_api_class():
    from fake_api import FakeApi

    class CountingApi(FakeApi):
        """Same routes and start_from semantics; pushed lines are counted, not stored."""

        def __init__(self):
            super().__init__()
            self.pushed = {}       # job id -> events the API has
            self.pushes = []       # (monotonic time, start_from, lines in body, new events)
            self.bad = []
            self.check_seq = False  # pre-made spools: line i says "line i"

        def _push(self, req):
            if req.headers.get("Authorization") != "Bearer " + self.log_token:
                return 401, {"message": "log token expired"}
            job_id = req.path.rsplit("/", 1)[1]
            start = int(req.query.get("start_from", ["-1"])[0])
            have = self.pushed.get(job_id, 0)
            body = req.raw
            n = body.count("\n")
            req.raw = ""  # do not keep a million events in the request log
            if start > have or start < 0:
                return 400, {"message": "gap: start_from %d but have %d" % (start, have)}
            first = body[:body.find("\n")]
            try:
                ev = json.loads(first)
                if self.check_seq:
                    if ev["output"] != "line %07d\n" % start:
                        self.bad.append((start, first))
            except ValueError:
                self.bad.append((start, first))
            new = max(0, start + n - have)
            self.pushed[job_id] = have + new
            self.pushes.append((req.time, start, n, new))
            return 200, {}

    return CountingApi


def event_line(i):
    return '{"event":"cmd_output","timestamp":1764000000,"output":"line %07d\\n"}' % i


def make_spool(path, n):
    with open(path, "w") as f:
        step = 100_000
        for s in range(0, n, step):
            f.write("\n".join(event_line(i) for i in range(s, min(n, s + step))))
            f.write("\n")
    return os.path.getsize(path)


# --- the pusher driver (C++) -------------------------------------------------------

def push_bench_bin():
    """Builds push_bench next to the build dir's other binaries when its inputs changed."""
    b = build_dir()
    out_dir = os.path.join(b, "bench")
    out = os.path.join(out_dir, "push_bench")
    lib = os.path.join(b, "common", "libsa_common.a")
    srcs = [os.path.join(ROOT, "tests", "bench", "push_bench.cpp"),
            os.path.join(ROOT, "daemon", "selfhosted", "pusher.cpp"),
            os.path.join(ROOT, "daemon", "job", "spool_reader.cpp"),
            os.path.join(ROOT, "daemon", "http", "http_client.cpp"),
            os.path.join(ROOT, "daemon", "http", "ca_bundle.cpp")]
    deps = srcs + [lib] + [os.path.join(dirpath, f) for d in ("daemon", "common")
                           for dirpath, _, names in os.walk(os.path.join(ROOT, d))
                           for f in names if f.endswith(".hpp")]
    if os.path.exists(out) and all(os.path.getmtime(d) <= os.path.getmtime(out) for d in deps):
        return out
    os.makedirs(out_dir, exist_ok=True)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libuv", "libcurl", "jansson",
                            "yaml-0.1", "openssl"], check=True, capture_output=True, text=True).stdout.split()
    cmd = (["g++", "-O2", "-g", "-std=c++20", "-D_GNU_SOURCE", "-I" + ROOT, "-I" + b] + srcs + [lib] + flags + ["-o", out])
    say("  building %s" % out)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("push_bench does not build (has the Pusher API changed?):\n" + r.stderr[-3000:])
    return out


def python_baseline(spool, url_host, port, path, token):
    """Posts the spool in the pusher's batches from a separate Python process."""
    code = r"""
import http.client, sys, time
spool, host, port, path, token, maxev, maxb = sys.argv[1:8]
maxev, maxb = int(maxev), int(maxb)
batches, cur, size, idx, starts = [], [], 0, 0, []
with open(spool, "rb") as f:
    for line in f:
        if cur and (len(cur) >= maxev or size + len(line) > maxb):
            batches.append(b"".join(cur)); starts.append(idx); idx += len(cur); cur, size = [], 0
        cur.append(line); size += len(line)
if cur:
    batches.append(b"".join(cur)); starts.append(idx); idx += len(cur)
c = http.client.HTTPConnection(host, int(port))
t0 = time.monotonic(); c0 = time.process_time()
for b, s in zip(batches, starts):
    c.request("POST", "%s?start_from=%d" % (path, s), b,
              {"Authorization": "Bearer " + token, "Content-Type": "text/plain"})
    r = c.getresponse(); r.read()
    if r.status != 200: raise SystemExit("HTTP %d" % r.status)
print("%d %.6f %.6f" % (idx, time.monotonic() - t0, time.process_time() - c0))
"""
    out = subprocess.run([sys.executable, "-c", code, spool, url_host, str(port), path, token,
                          str(MAX_EVENTS), str(MAX_BYTES)], check=True, capture_output=True, text=True)
    n, secs, cpu = out.stdout.split()
    return int(n), float(secs), float(cpu)


def premade(n, sb, api, binary):
    spool = sb.path("spool-%d.jsonl" % n)
    size = make_spool(spool, n)
    api.check_seq = True
    # Baseline first (warms the fake API the same way for both).
    job_b = "base-%d" % n
    bn, bsecs, bcpu = python_baseline(spool, "127.0.0.1", api.port, "/logs/" + job_b, api.log_token)
    assert api.pushed.get(job_b) == n == bn, (api.pushed.get(job_b), n, bn)
    job = "agent-%d" % n
    url = "http://%s/logs/%s" % (api.endpoint, job)
    r = subprocess.run([binary, spool, url, api.log_token], capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0:
        raise RuntimeError("push_bench failed:\n%s%s" % (r.stdout, r.stderr))
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["events"] != n or api.pushed.get(job) != n:
        raise RuntimeError("pusher pushed %s events, API has %s, expected %d" % (
            res["events"], api.pushed.get(job), n))
    if api.bad:
        raise RuntimeError("batches did not start where start_from said: %r" % api.bad[:3])
    rate, brate = n / res["seconds"], bn / bsecs
    say("  %7d events (%.1f MB): baseline python client %.3f s = %.0f ev/s (client CPU %.2f s);"
        " pusher %.3f s = %.0f ev/s, CPU %.3f s = %.2f us/event, VmHWM %.1f MB" % (
            n, size / 1e6, bsecs, brate, bcpu, res["seconds"], rate, res["cpu"],
            res["cpu"] / n * 1e6, res["hwm_kb"] * 1.024 / 1000))
    os.unlink(spool)
    return rate, brate, res["cpu"] / n, bcpu / bn


def wait_exit(pid, timeout=600):
    """Blocks until pid (not our child) exits: a pidfd becomes readable then."""
    import select
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        if not p.poll(timeout * 1000):
            raise RuntimeError("process %d still running after %ss" % (pid, timeout))
    finally:
        os.close(fd)


def end_to_end(ncmds):
    """A job of ncmds `true` commands through `start`; the flush after its end is measured."""
    sb = Sandbox()
    api = fast_fake_api(counting_api_class())
    api.next_sync_after = 200
    proc = None
    try:
        api.add_job("e2e", {"commands": [{"directive": "true"}] * ncmds})
        proc = subprocess.Popen([agent_bin(), "start", "--endpoint", api.endpoint, "--no-https",
                                 "--token", "reg-token", "--name", "bench-agent-01",
                                 "--disconnect-after-job"],
                                stdout=open(sb.path("agent.log"), "wb"), stderr=subprocess.STDOUT,
                                env=sb.env(), cwd=sb.root)
        deadline = time.monotonic() + 30
        w = None
        while w is None and time.monotonic() < deadline and proc.poll() is None:
            w = worker_of(proc.pid)
            time.sleep(0.005)
        if w is None:
            raise RuntimeError("no worker appeared:\n" + open(sb.path("agent.log")).read())
        t_run = time.monotonic()
        wait_exit(w)
        t_end = time.monotonic()
        cpu0 = cpu_exact_seconds(proc.pid)
        pushed0 = api.pushed.get("e2e", 0)
        api.wait_for(lambda: [s for s in api.syncs() if s and s.get("state") == "finished-job"],
                     120, "finished-job")
        cpu1 = cpu_exact_seconds(proc.pid)
        pushes = [p for p in api.pushes if p[0] >= t_end]
        t_last = pushes[-1][0] if pushes else t_end
        total = api.pushed.get("e2e", 0)
        proc.wait(timeout=60)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        api.stop()
        sb.close()
    flushed = total - pushed0
    secs = max(t_last - t_end, 1e-6)
    say("  end to end: %d commands ran in %.1f s, %d events; %d pushed while running, %d flushed after"
        " the job in %.3f s (%d requests) = %.0f ev/s, supervisor CPU %.1f ms = %.2f us/event" % (
            ncmds, t_end - t_run, total, pushed0, flushed, secs, len(pushes), flushed / secs,
            (cpu1 - cpu0) * 1e3, (cpu1 - cpu0) / max(flushed, 1) * 1e6))
    say("  supervisor CPU over the whole job (frames in, spool, pushes, syncs): %.1f ms = %.2f us/event" % (
        cpu1 * 1e3, cpu1 / max(total, 1) * 1e6))
    return flushed, secs, (cpu1 - cpu0)


def run():
    sizes = [10_000, 100_000] if quick() else [100_000, 1_000_000]
    ncmds = int(os.environ.get("BENCH_PUSH_COMMANDS", "5000" if quick() else "25000"))
    say("== 4. log push: pre-made spools of %s events, and a %d-command job through start" % (
        " and ".join(str(s) for s in sizes), ncmds))
    binary = push_bench_bin()
    sb = Sandbox()
    api = fast_fake_api(counting_api_class())
    results = []
    try:
        figs = {n: premade(n, sb, api, binary) for n in sizes}
    finally:
        api.stop()
        sb.close()
    for n in sizes:
        rate, brate, cpe, bcpe = figs[n]
        results.append(report(Result(
            "4 log push", "%dk-event spool, pusher events/s" % (n // 1000),
            "py client %.0f ev/s" % brate, "%.0f ev/s" % rate, rate / brate,
            "> %d ev/s" % BAR_RATE, rate > BAR_RATE)))
    small, big = sizes
    lin = figs[big][2] / figs[small][2]
    results.append(report(Result(
        "4 log push", "pusher CPU/event, %dk vs %dk" % (big // 1000, small // 1000),
        "%.2f us/ev" % (figs[small][2] * 1e6), "%.2f us/ev" % (figs[big][2] * 1e6), lin,
        "linear (<= 1.5x)", lin <= 1.5)))
    flushed, secs, cpu = end_to_end(ncmds)
    results.append(report(Result(
        "4 log push", "e2e start: flush of %d events after the job" % flushed,
        "-", "%.0f ev/s, %.2f us/ev CPU" % (flushed / secs, cpu / max(flushed, 1) * 1e6), None,
        "> %d ev/s" % BAR_RATE, flushed / secs > BAR_RATE)))
    return results


if __name__ == "__main__":
    main_for(run)
