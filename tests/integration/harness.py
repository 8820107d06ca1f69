"""Helpers for integration tests that drive the real binaries.

Every test gets its own HOME and TMPDIR, waits on conditions with deadlines
(never fixed sleeps), and checks that every event line is valid JSON.
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time


class Failure(AssertionError):
    pass


def build_dir():
    d = os.environ.get("SA_BUILD_DIR")
    if not d:
        d = os.path.join(os.path.dirname(__file__), "..", "..", "build")
    return os.path.abspath(d)


def agent_bin():
    return os.path.join(build_dir(), "daemon", "semaphore-agent")


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def wait_for(pred, timeout, what, interval=0.02):
    """Polls pred() until it is truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Sandbox:
    """A private HOME and TMPDIR for one test; removed afterwards."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="sa-it-")
        self.home = os.path.join(self.root, "home")
        self.tmp = os.path.join(self.root, "tmp")
        os.makedirs(self.home)
        os.makedirs(self.tmp)

    def env(self, **extra):
        e = dict(os.environ)
        e.update(HOME=self.home, TMPDIR=self.tmp, NO_COLOR="1")
        e.update(extra)
        return e

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def write(self, name, text, mode=0o644):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def job_file(self, job, name="job.json"):
        if isinstance(job, str):
            return self.write(name, job)
        return self.write(name, json.dumps(job))

    def leftover_job_dirs(self):
        return [d for d in os.listdir(self.tmp) if d.startswith("semaphore-job-")]

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


def parse_events(text):
    events = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            ev = json.loads(line)
        except ValueError as e:
            raise Failure("line %d is not valid JSON (%s): %r" % (n, e, line))
        if not isinstance(ev, dict) or "event" not in ev:
            raise Failure("line %d is not an event: %r" % (n, line))
        if not isinstance(ev.get("timestamp"), int):
            raise Failure("line %d has no integer timestamp: %r" % (n, line))
        events.append(ev)
    return events


class Run:
    def __init__(self, proc, stdout, stderr):
        self.code = proc.returncode
        self.stdout = stdout
        self.stderr = stderr
        self.events = None

    def parsed(self):
        if self.events is None:
            self.events = parse_events(self.stdout)
        return self.events

    def steps(self):
        """[(directive, joined output, exit_code)] in order."""
        out, cur = [], None
        for ev in self.parsed():
            kind = ev["event"]
            if kind == "cmd_started":
                if cur is not None:
                    raise Failure("cmd_started inside an open step:\n" + self.stdout)
                cur = [ev["directive"], "", None]
            elif kind == "cmd_output":
                if cur is None:
                    raise Failure("cmd_output outside a step:\n" + self.stdout)
                cur[1] += ev["output"]
            elif kind == "cmd_finished":
                if cur is None or ev["directive"] != cur[0]:
                    raise Failure("cmd_finished does not close the open step:\n" + self.stdout)
                if not ev["started_at"] <= ev["finished_at"]:
                    raise Failure("started_at after finished_at: %r" % ev)
                cur[2] = ev["exit_code"]
                out.append(tuple(cur))
                cur = None
        return out

    def result(self):
        ev = self.parsed()
        if not ev or ev[-1]["event"] != "job_finished":
            raise Failure("the last event is not job_finished:\n" + self.stdout)
        if ev[0]["event"] != "job_started":
            raise Failure("the first event is not job_started:\n" + self.stdout)
        return ev[-1]["result"]

    def step(self, directive):
        for s in self.steps():
            if s[0] == directive:
                return s
        raise Failure("no step %r in:\n%s" % (directive, self.dump()))

    def dump(self):
        return "exit %s\n--- stdout\n%s\n--- stderr\n%s" % (self.code, self.stdout, self.stderr)


def run_job(sb, job, args=(), timeout=60, json_mode=True, env=None):
    # A str starting with '/' is a job file path (which may be missing on purpose).
    path = job if isinstance(job, str) and job.startswith("/") else sb.job_file(job)
    cmd = [agent_bin(), "run"] + (["--json"] if json_mode else []) + list(args) + [path]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env or sb.env())
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise Failure("agent did not finish in %ss:\n%s" % (timeout, out.decode(errors="replace")))
    return Run(p, out.decode("utf-8", errors="strict"), err.decode(errors="replace"))


def check(cond, msg, run=None):
    if not cond:
        raise Failure(msg + ("\n" + run.dump() if run is not None else ""))


def eq(actual, expected, msg, run=None):
    if actual != expected:
        raise Failure("%s\n  expected: %r\n  actual:   %r%s" % (
            msg, expected, actual, ("\n" + run.dump()) if run is not None else ""))


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rfind(")") + 2:].split()[1])
        if ppid == pid:
            kids.append(int(d))
    return kids


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes_matching(text):
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and text in cmdline(int(d)):
            found.append(int(d))
    return found
