"""6. Job start latency: to the job_started event and to the first command's output.

(a) `semaphore-agent run --json JOB`: from spawning the process to reading the
    job_started line, and the first cmd_output line, on its stdout (time.monotonic).
(b) `semaphore-agent start` against the fake API: from the moment the fake API answers a
    /sync with run-job to the moment job_started, and then the first cmd_output, appear in
    the job's spool (polled every 0.5 ms). This includes the agent's GET of the job.
Baseline: spawning `bash --login -c true` to its exit, the same way and in the same
environment: the shell start-up every job pays. Bar (issue 8 defines it from the run-job
answer, so on (b)): figure - baseline < 20 ms. (a) also counts the agent's own exec and the
loading of its libraries (libcurl and its dependencies, ~6 ms here): shown without a bar.
Diagnostics (no bar): an interactive login bash in a PTY (what the worker runs: it also
reads bash.bashrc and sets up readline) to the output of a command typed ahead; and `run`
with --job-cgroup-parent none, to show what moving the shell into its job cgroup costs."""
import glob
import json
import os
import subprocess
import time

from common import (Result, Sandbox, agent_bin, fast_fake_api, main_for, median, report, reps, say,
                    wait_quiet)

BAR_S = 0.020
MARK = "first-output"


def bash_login(sb):
    t0 = time.monotonic()
    subprocess.run(["bash", "--login", "-c", "true"], env=sb.env(), cwd=sb.home, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def bash_interactive_pty(sb):
    """An interactive login bash in a fresh PTY, as the worker runs it (profile, bashrc,
    readline): from fork to the output of a command typed ahead."""
    import pty
    import select
    env = sb.env()
    t0 = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(sb.home)
        os.execvpe("bash", ["bash", "--login"], env)
    os.write(fd, b"echo $((6*7))-ready\n")
    buf = b""
    deadline = t0 + 10
    while b"42-ready" not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                break
    t = time.monotonic() - t0
    os.write(fd, b"exit\n")
    os.close(fd)
    os.waitpid(pid, 0)
    if b"42-ready" not in buf:
        raise RuntimeError("interactive bash did not answer: %r" % buf[-300:])
    return t


def run_once(sb, job, args=()):
    t0 = time.monotonic()
    p = subprocess.Popen([agent_bin(), "run", "--json"] + list(args) + [job], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=sb.env(), cwd=sb.root)
    t_started = t_output = None
    first_output = None
    for line in p.stdout:
        ev = json.loads(line)
        if ev["event"] == "job_started" and t_started is None:
            t_started = time.monotonic() - t0
        elif ev["event"] == "cmd_output" and t_output is None:
            t_output = time.monotonic() - t0
            first_output = ev["output"]
    p.wait()
    if t_started is None or t_output is None or MARK not in first_output:
        raise RuntimeError("unexpected event log (first output %r)" % first_output)
    return t_started, t_output


def start_mode(n):
    from fake_api import FakeApi

    class TimedApi(FakeApi):
        def __init__(self):
            super().__init__()
            self.run_job_at = {}

        def _sync_answer(self, body):
            a = super()._sync_answer(body)
            if a.get("action") == "run-job":
                self.run_job_at[a["job_id"]] = time.monotonic()
            return a

    sb = Sandbox()
    api = fast_fake_api(TimedApi)
    api.next_sync_after = 100
    proc = None
    out = []
    try:
        proc = subprocess.Popen([agent_bin(), "start", "--endpoint", api.endpoint, "--no-https",
                                 "--token", "reg-token", "--name", "bench-agent-01"],
                                stdout=open(sb.path("agent.log"), "wb"), stderr=subprocess.STDOUT,
                                env=sb.env(), cwd=sb.root)
        api.wait_for(lambda: api.find("/sync"), 10, "first sync")
        for i in range(n + 1):  # the first job is a warm-up
            jid = "lat-%d" % i
            wait_quiet(30, sample=0.5, warn=False)
            api.add_job(jid, {"commands": [{"directive": "echo " + MARK}]})
            t_started = t_output = None
            deadline = time.monotonic() + 30
            spool = None
            while t_output is None and time.monotonic() < deadline:
                if spool is None:
                    found = glob.glob(os.path.join(sb.tmp, "semaphore-job-*", "events.jsonl"))
                    spool = found[0] if found else None
                if spool is not None:
                    try:
                        with open(spool, "rb") as f:
                            data = f.read()
                    except OSError:
                        data = b""
                    now = time.monotonic()
                    if t_started is None and b'"job_started"' in data:
                        t_started = now
                    if t_output is None and b'"cmd_output"' in data:
                        t_output = now
                time.sleep(0.0005)
            if t_output is None:
                raise RuntimeError("job %s produced no output in time" % jid)
            api.wait_for(lambda: [s for s in api.syncs() if s and s.get("state") == "finished-job"
                                  and s.get("job_id") == jid], 30, "job %s finished" % jid)
            api.wait_for(lambda: not glob.glob(os.path.join(sb.tmp, "semaphore-job-*")), 30,
                         "job dir removed")
            if i > 0:
                out.append((t_started - api.run_job_at[jid], t_output - api.run_job_at[jid]))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        api.stop()
        sb.close()
    return out


def run():
    n = reps(9)
    say("== 6. job start latency, %d repetitions" % n)
    sb = Sandbox()
    try:
        job = sb.job_file(["echo " + MARK])
        bash_login(sb)
        run_once(sb, job)  # warm-up
        base, started, output, nocg, inter = [], [], [], [], []
        for i in range(n):
            wait_quiet(30, sample=0.5, warn=False)
            base.append(bash_login(sb))
            inter.append(bash_interactive_pty(sb))
            s, o = run_once(sb, job)
            started.append(s)
            output.append(o)
            # Diagnostic: the same without a job cgroup (moving the shell into one is not free).
            nocg.append(run_once(sb, job, ["--job-cgroup-parent", "none"]))
        say("  bash --login -c true: %s ms" % " ".join("%.1f" % (x * 1e3) for x in base))
        say("  interactive bash --login in a PTY, to a typed-ahead command's output: %s ms" % " ".join(
            "%.1f" % (x * 1e3) for x in inter))
        say("  run: job_started %s ms; first output %s ms" % (
            " ".join("%.1f" % (x * 1e3) for x in started), " ".join("%.1f" % (x * 1e3) for x in output)))
        say("  run --job-cgroup-parent none: job_started %s ms; first output %s ms" % (
            " ".join("%.1f" % (x[0] * 1e3) for x in nocg), " ".join("%.1f" % (x[1] * 1e3) for x in nocg)))
    finally:
        sb.close()
    st = start_mode(n)
    say("  start: job_started %s ms; first output %s ms (after the run-job answer)" % (
        " ".join("%.1f" % (x[0] * 1e3) for x in st), " ".join("%.1f" % (x[1] * 1e3) for x in st)))
    b = median(base)
    rows = []
    for what, xs in (("run: spawn -> job_started", started), ("run: spawn -> first output", output),
                     ("start: run-job -> job_started", [x[0] for x in st]),
                     ("start: run-job -> first output", [x[1] for x in st])):
        m = median(xs)
        barred = what.startswith("start:")
        rows.append(report(Result(
            "6 start latency", what + " (median)", "bash --login %.1f ms" % (b * 1e3),
            "%.1f ms (+%.1f)" % (m * 1e3, (m - b) * 1e3), m / b,
            "< bash + 20 ms" if barred else "", (m - b < BAR_S) if barred else None)))
    bi = median(inter)
    for what, xs in (("run: spawn -> first output", output),
                     ("start: run-job -> first output", [x[1] for x in st])):
        m = median(xs)
        rows.append(report(Result(
            "6 start latency", what + " vs interactive bash (diagnostic)",
            "bash -i in pty %.1f ms" % (bi * 1e3), "%.1f ms (+%.1f)" % (m * 1e3, (m - bi) * 1e3),
            m / bi, "", None)))
    m = median([x[1] for x in nocg])
    rows.append(report(Result(
        "6 start latency", "run, no job cgroup: spawn -> first output (diagnostic)",
        "bash --login %.1f ms" % (b * 1e3), "%.1f ms (+%.1f)" % (m * 1e3, (m - b) * 1e3), m / b, "", None)))
    return rows


if __name__ == "__main__":
    main_for(run)
