"""7. Serve mode under a large log (issue 17): a job writes a 1 GB log (200 MB with
BENCH_QUICK=1), then two clients fetch `GET /jobs/ID/log` at once while a third polls
`GET /is_alive` on a keep-alive connection. Reported: the agent's peak VmRSS while it
serves (sampled every 20 ms), and the loop's longest stall, as the longest gap between
two /is_alive answers. Bars: VmRSS under 64 MB, and no stall over 250 ms.
Baselines: the agent's VmRSS idle with the job done, and the poller's median gap."""
import hashlib
import os
import statistics
import threading
import time

from common import (Result, Sandbox, build_dir, fmt_mb, kb_to_mb, main_for, proc_status, quick, report,
                    say)  # first: it puts tests/integration on the path

import harness  # noqa: E402
from serve_client import Receiver, Serve  # noqa: E402

BAR_MB = 64.0
BAR_STALL_S = 0.25


def _fetch(srv, out, i):
    c = srv.connection(timeout=120)
    try:
        c.request("GET", "/jobs/bench-log/log", headers={"Authorization": "Bearer " + srv.token()})
        r = c.getresponse()
        length = int(r.getheader("Content-Length") or -1)
        h = hashlib.sha256()
        got = 0
        while True:
            data = r.read(1 << 20)
            if not data:
                break
            h.update(data)
            got += len(data)
        out[i] = (r.status, length, got, h.hexdigest())
    except Exception as e:  # reported by run()
        out[i] = ("error %r" % e, -1, 0, "")
    finally:
        c.close()


def _poll(srv, gaps, done):
    c = srv.connection(timeout=120)
    try:
        prev = time.monotonic()
        while not done.is_set():
            r = srv.request("GET", "/is_alive", token=None, conn=c)
            now = time.monotonic()
            gaps.append(now - prev if r.status == 200 else float("inf"))
            prev = now
            done.wait(0.005)  # the poller's pace
    finally:
        c.close()


def run():
    harness.set_build_dir(build_dir())
    mb = int(os.environ.get("BENCH_SERVE_MB") or (200 if quick() else 1000))
    say("== 7. serve: a %d MB log to two clients at once, /is_alive polled meanwhile" % mb)
    sb = Sandbox()
    recv = Receiver()
    srv = None
    try:
        srv = Serve(sb)
        job = {"job_id": "bench-log", "callbacks": {"finished": recv.url("/finished")},
               "commands": [{"directive": "head -c %dM /dev/zero | tr '\\0' a | fold -w 2000" % mb}]}
        t0 = time.monotonic()
        r = srv.post_job(job)
        if r.status != 200:
            raise RuntimeError("POST /jobs: %r" % r)
        deadline = time.monotonic() + 900
        while not recv.find("/finished") and time.monotonic() < deadline:
            time.sleep(0.2)  # polling for the callback
        if not recv.find("/finished"):
            raise RuntimeError("the job did not finish:\n" + srv.dump())
        say("  the job wrote its log in %.1f s" % (time.monotonic() - t0))
        pid = srv.proc.pid
        idle = proc_status(pid)["VmRSS"]
        peak = [idle]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                st = proc_status(pid)
                if st:
                    peak[0] = max(peak[0], st["VmRSS"])
                sampling.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        gaps, done = [], threading.Event()
        poller = threading.Thread(target=_poll, args=(srv, gaps, done), daemon=True)
        poller.start()
        out = [None, None]
        t1 = time.monotonic()
        fetchers = [threading.Thread(target=_fetch, args=(srv, out, i), daemon=True) for i in range(2)]
        for t in fetchers:
            t.start()
        for t in fetchers:
            t.join(900)
        elapsed = time.monotonic() - t1
        done.set()
        poller.join(30)
        sampling.set()
        sampler.join(5)
        for i, o in enumerate(out):
            if not o or o[0] != 200 or o[1] != o[2]:
                raise RuntimeError("client %d: %r\n%s" % (i, o, srv.dump()))
        if out[0][3] != out[1][3]:
            raise RuntimeError("the two clients got different bytes")
        longest = max(gaps)
        say("  %d bytes to each client in %.1f s (%.0f MB/s in all); VmRSS idle %s, peak %s; "
            "/is_alive: %d answers, median gap %.1f ms, longest %.1f ms" % (
                out[0][2], elapsed, 2 * out[0][2] / 1e6 / elapsed, fmt_mb(idle), fmt_mb(peak[0]),
                len(gaps), statistics.median(gaps) * 1000, longest * 1000))
    finally:
        if srv is not None:
            srv.stop()
        recv.stop()
        sb.close()
    return [
        report(Result("7 serve", "%d MB log to 2 clients: agent peak VmRSS" % mb, "idle " + fmt_mb(idle),
                      fmt_mb(peak[0]), peak[0] / idle, "< %.0f MB" % BAR_MB, kb_to_mb(peak[0]) < BAR_MB)),
        report(Result("7 serve", "%d MB log to 2 clients: longest /is_alive gap" % mb,
                      "median %.1f ms" % (statistics.median(gaps) * 1000), "%.1f ms" % (longest * 1000),
                      longest / statistics.median(gaps), "< %.0f ms" % (BAR_STALL_S * 1000),
                      longest < BAR_STALL_S)),
        report(Result("7 serve", "%d MB log to 2 clients: throughput, both together" % mb, "-",
                      "%.0f MB/s" % (2 * out[0][2] / 1e6 / elapsed), None, "", None)),
    ]


if __name__ == "__main__":
    main_for(run)
