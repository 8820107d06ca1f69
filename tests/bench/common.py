"""Shared helpers for the benchmarks (python3 stdlib only).

Every benchmark module defines run() returning a list of Result rows and can
be run on its own: `python3 tests/bench/bench_X.py [BUILD_DIR]`. run_all.py
runs them all and prints the summary table.

The build dir is SA_BUILD_DIR, else the first argument, else ./build.
Environment knobs:
  BENCH_REPS=N           repetitions of the timed benchmarks (default 5)
  BENCH_QUICK=1          smaller sizes and a 15 s idle window, for a quick look
  BENCH_IDLE_SECONDS=N   length of the idle window (default 60, 15 when quick)
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ next to tests/integration's files
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

CLK_TCK = os.sysconf("SC_CLK_TCK")

_build_dir = None


def set_build_dir(path):
    global _build_dir
    _build_dir = path


def build_dir():
    d = os.environ.get("SA_BUILD_DIR") or _build_dir or os.path.join(ROOT, "build")
    return os.path.abspath(d)


def agent_bin():
    p = os.path.join(build_dir(), "daemon", "semaphore-agent")
    if not os.access(p, os.X_OK):
        raise SystemExit("no agent binary at %s (build first, or pass the build dir)" % p)
    return p


def quick():
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


def reps(default=5):
    return int(os.environ.get("BENCH_REPS", "3" if quick() else str(default)))


def median(xs):
    return statistics.median(xs)


# --- results ------------------------------------------------------------------

class Result:
    """One row of the summary table.

    ratio is figure / baseline (None when there is no meaningful baseline).
    ok is True/False for a bar, None for an informational row."""

    def __init__(self, bench, what, baseline, figure, ratio=None, bar="", ok=None, unit=""):
        self.bench, self.what = bench, what
        self.baseline, self.figure, self.ratio = baseline, figure, ratio
        self.bar, self.ok, self.unit = bar, ok, unit

    def verdict(self):
        return {True: "PASS", False: "FAIL", None: "info"}[self.ok]

    def line(self):
        r = "" if self.ratio is None else "%.2fx" % self.ratio
        return "%s | %s | baseline %s | figure %s | ratio %s | bar %s | %s" % (
            self.bench, self.what, self.baseline, self.figure, r, self.bar or "-", self.verdict())

    def as_dict(self):
        return dict(bench=self.bench, what=self.what, baseline=self.baseline, figure=self.figure,
                    ratio=self.ratio, bar=self.bar, ok=self.ok)


def say(msg=""):
    print(msg, flush=True)


def report(r):
    """Prints one result as soon as it is known."""
    ratio = "" if r.ratio is None else "  ratio %.2fx" % r.ratio
    say("  -> %s: baseline %s | figure %s%s | bar %s: %s" % (
        r.what, r.baseline, r.figure, ratio, r.bar or "-", r.verdict()))
    return r


def table(results):
    cols = ["#", "benchmark", "baseline", "figure", "ratio", "bar", "verdict"]
    rows = []
    for r in results:
        rows.append([r.bench, r.what, r.baseline, r.figure,
                     "" if r.ratio is None else "%.2fx" % r.ratio, r.bar or "-", r.verdict()])
    widths = [max(len(str(x)) for x in [c] + [row[i] for row in rows]) for i, c in enumerate(cols)]
    out = []
    fmt = " | ".join("%%-%ds" % w for w in widths)
    out.append(fmt % tuple(cols))
    out.append("-+-".join("-" * w for w in widths))
    for row in rows:
        out.append(fmt % tuple(row))
    return "\n".join(out)


def main_for(run):
    """`python3 bench_X.py [BUILD_DIR]`"""
    if len(sys.argv) > 1:
        set_build_dir(sys.argv[1])
    results = run()
    say()
    say(table(results))


def cpu_busy(seconds=1.0):
    """Share of the machine's CPU time that was busy over `seconds`, from /proc/stat."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = snap()
    time.sleep(seconds)
    t1, i1 = snap()
    return 1.0 - (i1 - i0) / max(t1 - t0, 1)


def wait_quiet(limit=120, sample=1.0, warn=True):
    """Other work on this 2-core machine skews every figure: wait (up to limit seconds) until
    the machine is at most 15% busy over `sample` seconds. Returns the last busy share."""
    deadline = time.monotonic() + limit
    busy = cpu_busy(sample)
    while busy > 0.15 and time.monotonic() < deadline:
        busy = cpu_busy(sample)
    if busy > 0.15 and warn:
        say("  (warning: the machine is %.0f%% busy with other work; figures may be skewed)"
            % (busy * 100))
    return busy


# --- a private HOME and TMPDIR ------------------------------------------------------

class Sandbox:
    def __init__(self, prefix="sa-bench-"):
        self.root = tempfile.mkdtemp(prefix=prefix)
        self.home = os.path.join(self.root, "home")
        self.tmp = os.path.join(self.root, "tmp")
        os.makedirs(self.home)
        os.makedirs(self.tmp)

    def env(self, **extra):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("SEMAPHORE_AGENT_"):
                del e[k]
        e.update(HOME=self.home, TMPDIR=self.tmp, NO_COLOR="1", LC_ALL="C")
        e.update(extra)
        return e

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def job_file(self, commands, name="job.json", job_id="bench-job"):
        job = {"job_id": job_id, "commands": [{"directive": c} for c in commands]}
        p = self.path(name)
        with open(p, "w") as f:
            json.dump(job, f)
        return p

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


def run_timed(argv, env=None, stdout=subprocess.DEVNULL, cwd=None):
    """Runs argv to its end: (wall seconds, exit code, rusage of it and its reaped descendants)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env=env, cwd=cwd)
    # wait4 gives the rusage of the process and every descendant it waited for.
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if p.returncode != 0:
        raise RuntimeError("%s exited %s:\n%s" % (" ".join(argv), p.returncode, err[-2000:]))
    return wall, ru


# --- /proc --------------------------------------------------------------------------

def proc_status(pid):
    """VmRSS/VmHWM in kB and the context-switch counters, from /proc/PID/status."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    out[k] = int(v.split()[0])
                elif k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                    out[k] = int(v)
                elif k == "State":
                    out[k] = v.split()[0]
    except (OSError, ValueError):
        return None
    return out


def _stat_fields(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    return st[st.rfind(")") + 2:].split()  # field 3 (state) is index 0


def cpu_ticks_seconds(pid):
    """utime + stime from /proc/PID/stat (clock ticks, 10 ms granularity), in seconds."""
    f = _stat_fields(pid)
    if not f:
        return None
    return (int(f[11]) + int(f[12])) / CLK_TCK


def cpu_exact_seconds(pid):
    """CPU time of every live thread, from /proc/PID/task/*/schedstat (nanoseconds)."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for t in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def ppid_of(pid):
    f = _stat_fields(pid)
    return int(f[1]) if f else None


def comm_of(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def exe_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = _stat_fields(int(d))
            if f and int(f[1]) == pid:
                kids.append(int(d))
    return kids


def descendants(pid):
    """Every process below pid, by ppid."""
    by_parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = _stat_fields(int(d))
            if f:
                by_parent.setdefault(int(f[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in by_parent.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def worker_of(supervisor_pid):
    """The supervisor's worker child (semaphore-agent-worker), or None."""
    for c in children_of(supervisor_pid):
        if exe_of(c).endswith("semaphore-agent-worker") or comm_of(c).startswith("semaphore-agent"):
            return c
    return None


def fmt_mb(kb):
    """kB from /proc (KiB) as decimal megabytes (10^6 bytes): the stricter reading of a bar."""
    return "%.2f MB" % (kb * 1024 / 1e6)


def kb_to_mb(kb):
    return kb * 1024 / 1e6


def fmt_ms(s):
    return "%.2f ms" % (s * 1000.0)


def smaps_rollup(pid):
    """Pss, Pss_Anon, Pss_File ... in kB from /proc/PID/smaps_rollup."""
    out = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if v.strip().endswith("kB"):
                    out[k] = int(v.split()[0])
    except (OSError, ValueError):
        pass
    return out


def rss_by_mapping(pid, top=8):
    """[(kB, path)] of the biggest resident mappings, summed per file (or [heap], [anon])."""
    sizes = {}
    cur = None
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                first = line.split(None, 1)[0]
                if "-" in first and not first.endswith(":"):
                    parts = line.split()
                    cur = parts[5] if len(parts) > 5 else "[anon]"
                elif first == "Rss:" and cur is not None:
                    sizes[cur] = sizes.get(cur, 0) + int(line.split()[1])
    except OSError:
        return []
    return sorted(((v, os.path.basename(k) if k.startswith("/") else k) for k, v in sizes.items()),
                  reverse=True)[:top]


# --- the fake API, without its Nagle stall ---------------------------------------------

def fast_fake_api(cls=None, **kw):
    """A tests/integration FakeApi whose replies leave at once.

    FakeApi writes the headers and the body of a reply in two send() calls; with Nagle's
    algorithm on, the body then waits for the client's delayed ACK (40 ms) whenever the
    headers were not yet acknowledged, which caps every request-per-batch client at about
    25 requests/s. Benchmarks measure the agent, so the accepted sockets get TCP_NODELAY."""
    import socket
    if cls is None:
        from fake_api import FakeApi as cls
    api = cls(**kw)
    handler = api.server.RequestHandlerClass
    orig_setup = handler.setup

    def setup(h):
        orig_setup(h)
        h.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    handler.setup = setup
    orig_error = api.server.handle_error

    def handle_error(request, client_address):
        # An agent killed at the end of a benchmark resets its connection: not news.
        import sys as _sys
        if isinstance(_sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            return
        orig_error(request, client_address)

    api.server.handle_error = handle_error
    return api
