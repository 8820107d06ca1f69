"""1b. Throughput under `start` while pushing (issue 20): a job printing 100 MB and 1 GB
(`yes | head -c`, 100-byte lines, the CMD of bench_throughput.py and compare_throughput.py)
handed out by the fake API to `semaphore-agent start --disconnect-after-job`, against
`script -q -c CMD /dev/null` in the same repetition. Best of BENCH_REPS (5).

How it is measured:
- wall: from the fake API receiving the agent's `GET /jobs/ID` (the job's fetch, right
  after the run-job answer) to it receiving the `finished-job` sync, which the agent
  sends once the last batch of the log is pushed (Listener: job end -> Pusher::flush ->
  report_finished). Also shown split: fetch -> worker exit (the job ran; a pidfd on the
  worker), and worker exit -> finished-job (the pushes left after the job).
- CPU: user + sys of the whole agent tree (supervisor, worker, bash and the job's
  processes, all reaped down the chain), from wait4() on the agent once it has
  disconnected and exited, less the supervisor's CPU before the job was fetched
  (start-up, registration, first sync; /proc/PID/schedstat at the fetch). The
  disconnect after the job (one request) stays in.
- The fake API runs as threads of this Python process: its CPU is not in the agent's
  rusage. Its /logs route is a lean one (bytes and lines counted, start_from checked, no
  JSON parsed) so that it answers a 256 KiB batch fast; it still shares the 2 cores, so
  the flush phase of the wall time includes its service time.
- script(1): wait4() rusage of script and its tree; wall from spawn to exit.
"""
import os
import select
import subprocess
import threading
import time

from common import (Result, Sandbox, agent_bin, fast_fake_api, main_for, median, quick, report,
                    reps, run_timed, say, wait_quiet)

BAR_WALL = 1.1
BAR_CPU = 1.3
CLK_TCK = os.sysconf("SC_CLK_TCK")


def output_cmd(nbytes):
    return "yes %s | head -c %d" % ("x" * 99, nbytes)


def lean_api_class():
    from fake_api import FakeApi

    class LeanLogApi(FakeApi):
        """FakeApi whose /logs route counts lines and bytes instead of parsing events."""

        def __init__(self):
            super().__init__()
            self.pushed = {}   # job id -> (events, bytes) the API has
            self.push_times = {}  # job id -> monotonic time of the last push
            self.bad = []

        def _handle(self, h, method):
            if not (method == "POST" and h.path.startswith("/logs/")):
                return super()._handle(h, method)
            length = int(h.headers.get("Content-Length") or 0)
            body = h.rfile.read(length) if length else b""
            path, _, query = h.path.partition("?")
            job_id = path.rsplit("/", 1)[1]
            start = -1
            for kv in query.split("&"):
                if kv.startswith("start_from="):
                    start = int(kv.split("=", 1)[1])
            with self.lock:
                if h.headers.get("Authorization") != "Bearer " + self.log_token:
                    code = 401
                else:
                    have, nbytes = self.pushed.get(job_id, (0, 0))
                    if start > have or start < 0:
                        code = 400
                        self.bad.append((job_id, start, have))
                    else:
                        code = 200
                        lines = body.split(b"\n")[:-1]  # every line ends with \n
                        skip = have - start
                        new = lines[skip:] if skip < len(lines) else []
                        self.pushed[job_id] = (have + len(new), nbytes + sum(len(l) + 1 for l in new))
                        self.push_times[job_id] = time.monotonic()
                self.lock.notify_all()
            self._reply(h, code, {} if code == 200 else {"message": "push refused"})

    return LeanLogApi


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


def schedstat_seconds(pid):
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


class WorkerWatch(threading.Thread):
    """Finds the supervisor's worker once the job is fetched; records when it exits."""

    def __init__(self, sup_pid):
        super().__init__(daemon=True)
        self.sup_pid, self.exit_time, self.go = sup_pid, None, threading.Event()

    def run(self):
        self.go.wait(120)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            w = [c for c in children(self.sup_pid) if exe(c).endswith("semaphore-agent-worker")]
            if w:
                try:
                    fd = os.pidfd_open(w[0])
                except ProcessLookupError:
                    break
                select.select([fd], [], [], 900)
                os.close(fd)
                break
            time.sleep(0.001)
        self.exit_time = time.monotonic()


def start_once(api, sb, job_id, cmd, nbytes):
    """One job through `start`: (wall, run part, flush part, cpu, user, sys, pushes)."""
    api.add_job(job_id, {"commands": [{"directive": cmd}]})
    log = open(sb.path("agent-%s.log" % job_id), "wb")
    proc = subprocess.Popen([agent_bin(), "start", "--endpoint", api.endpoint, "--no-https",
                             "--token", "reg-token", "--name", "bench-agent-01",
                             "--disconnect-after-job"],
                            stdout=log, stderr=subprocess.STDOUT, env=sb.env(), cwd=sb.root)
    log.close()
    watch = WorkerWatch(proc.pid)
    watch.start()
    try:
        fetch = api.wait_for(lambda: api.find("/jobs/" + job_id, "GET"), 60, "the job's fetch")[0]
        pre_cpu = schedstat_seconds(proc.pid)
        watch.go.set()

        def finished():
            return [r for r in api.find("/sync") if r.time >= fetch.time and r.json
                    and r.json.get("state") == "finished-job"]
        fin = api.wait_for(finished, 900, "the finished-job sync")[0]
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
    watch.join(10)
    out = open(sb.path("agent-%s.log" % job_id), errors="replace").read()
    if proc.returncode != 0:
        raise RuntimeError("agent exited %s:\n%s" % (proc.returncode, out[-3000:]))
    events, pbytes = api.pushed.get(job_id, (0, 0))
    if api.bad or pbytes < nbytes:
        raise RuntimeError("pushed %d bytes in %d events for %d bytes of output (refused: %r):\n%s"
                           % (pbytes, events, nbytes, api.bad[:3], out[-3000:]))
    wall = fin.time - fetch.time
    t_exit = watch.exit_time or fin.time
    cpu = ru.ru_utime + ru.ru_stime - pre_cpu
    return dict(wall=wall, run=t_exit - fetch.time, flush=fin.time - t_exit, cpu=cpu,
                user=ru.ru_utime, sys=ru.ru_stime, events=events, pushed=pbytes)


def measure(nbytes, n):
    cmd = output_cmd(nbytes)
    mb = nbytes / 1e6
    say("== 1b. throughput under start (pushing): %d MB, best of %d, CMD: %s" % (mb, n, cmd))
    sb = Sandbox()
    api = fast_fake_api(lean_api_class())
    api.next_sync_after = 200
    s_runs, a_runs = [], []
    try:
        env = sb.env()
        script_argv = ["script", "-q", "-c", cmd, "/dev/null"]
        run_timed(script_argv, env=env, cwd=sb.root)  # warm-up: page cache, binaries
        start_once(api, sb, "warm-up", output_cmd(10**6), 10**6)
        for i in range(n):
            busy = wait_quiet(30, sample=0.5, warn=False)
            ws, rs = run_timed(script_argv, env=env, cwd=sb.root)
            s_runs.append(dict(wall=ws, cpu=rs.ru_utime + rs.ru_stime, user=rs.ru_utime, sys=rs.ru_stime))
            a = start_once(api, sb, "job-%d" % i, cmd, nbytes)
            a_runs.append(a)
            say("  rep %d: script %.3f s (cpu %.2f)   start %.3f s = job %.3f + push after %.3f"
                " (cpu %.2f: user %.2f sys %.2f; %d events, %.1f MB pushed)   this rep: wall %.2fx cpu %.2fx"
                "   (machine %.0f%% busy before)" % (
                    i + 1, ws, s_runs[-1]["cpu"], a["wall"], a["run"], a["flush"], a["cpu"],
                    a["user"], a["sys"], a["events"], a["pushed"] / 1e6, a["wall"] / ws,
                    a["cpu"] / s_runs[-1]["cpu"], busy * 100))
    finally:
        api.stop()
        sb.close()
    bs = min(s_runs, key=lambda r: r["wall"])
    ba = min(a_runs, key=lambda r: r["wall"])
    bsc = min(r["cpu"] for r in s_runs)
    bac = min(r["cpu"] for r in a_runs)
    say("  best: script %.3f s cpu %.2f s (least cpu %.2f) | start %.3f s (job %.3f + push after %.3f)"
        " cpu %.2f s (least cpu %.2f)" % (bs["wall"], bs["cpu"], bsc, ba["wall"], ba["run"], ba["flush"],
                                         ba["cpu"], bac))
    wall_r, cpu_r = ba["wall"] / bs["wall"], ba["cpu"] / bs["cpu"]
    # On a loaded machine the pair of one repetition shares the load of its moment: the
    # median of those ratios is printed beside the best-of figures (the bar's).
    say("  median of the per-repetition ratios: wall %.2fx, cpu %.2fx; least cpu %.2fx" % (
        median([a["wall"] / s["wall"] for a, s in zip(a_runs, s_runs)]),
        median([a["cpu"] / s["cpu"] for a, s in zip(a_runs, s_runs)]), bac / bsc))
    return [
        report(Result("1b start throughput", "%d MB under start, fetch -> finished-job (best of %d)" % (mb, n),
                      "script %.3f s" % bs["wall"],
                      "start %.3f s (job %.3f + push after %.3f)" % (ba["wall"], ba["run"], ba["flush"]),
                      wall_r, "<= %.1fx script" % BAR_WALL, wall_r <= BAR_WALL)),
        report(Result("1b start throughput", "%d MB under start, CPU of the tree (of the best runs)" % mb,
                      "script %.2f s" % bs["cpu"], "agent %.2f s" % ba["cpu"],
                      cpu_r, "<= %.1fx script" % BAR_CPU, cpu_r <= BAR_CPU)),
    ]


def run():
    sizes = [20_000_000, 100_000_000] if quick() else [100_000_000, 1_000_000_000]
    n = reps(5)
    out = []
    for s in sizes:
        out.extend(measure(s, n))
    return out


if __name__ == "__main__":
    main_for(run)
