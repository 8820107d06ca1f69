"""Helpers for integration tests that drive the real binaries (python3 stdlib only).

Every test gets its own HOME and TMPDIR, waits on conditions with deadlines
(never fixed sleeps), and checks that every event line is valid JSON. Failure
messages carry the whole event log of the run they are about.
"""
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))


class Failure(AssertionError):
    pass


# --- where the binaries are -------------------------------------------------

_build_dir_arg = None


def set_build_dir(path):
    """Used by run_case.py when the build dir is given as an argument."""
    global _build_dir_arg
    _build_dir_arg = path


def build_dir():
    """SA_BUILD_DIR, else the argument given to run_case.py, else ./build."""
    d = os.environ.get("SA_BUILD_DIR") or _build_dir_arg
    if not d:
        d = os.path.join(HERE, "..", "..", "build")
    return os.path.abspath(d)


def agent_bin():
    p = os.path.join(build_dir(), "daemon", "semaphore-agent")
    if not os.access(p, os.X_OK):
        raise Failure("no agent binary at %s (set SA_BUILD_DIR)" % p)
    return p


def worker_bin():
    return os.path.join(build_dir(), "worker", "semaphore-agent-worker")


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def unique_seconds():
    """A sleep duration no other test (or other engineer's run) uses, so that
    `sleep N` processes can be found by exact argv."""
    return str(random.SystemRandom().randrange(10_000_000, 99_999_999))


def wait_for(pred, timeout, what, interval=0.02, dump=None):
    """Polls pred() until it is truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            extra = ("\n" + dump()) if dump else ""
            raise Failure("timed out after %.1fs waiting for %s%s" % (timeout, what, extra))
        time.sleep(interval)


# --- meson's case lists ---------------------------------------------------------

def meson_case_lists():
    """{module: [case, ...]} as tests/integration/meson.build registers them:
    each row of `integration_modules` names a module and its case list (a
    `NAME_cases` variable, or a list written in the row)."""
    with open(os.path.join(HERE, "meson.build")) as f:
        text = f.read()
    lists = {m.group(1): re.findall(r"'([^']+)'", m.group(2))
             for m in re.finditer(r"^(\w+_cases)\s*=\s*\[(.*?)\]", text, re.S | re.M)}
    table = re.search(r"^integration_modules\s*=\s*\[(.*?)^\]", text, re.S | re.M)
    if not table:
        raise Failure("tests/integration/meson.build has no integration_modules table")
    found = {}
    for row in re.finditer(r"\[\s*'([^']+)',\s*'([^']+)',\s*(\w+|\[[^\]]*\])\s*,", table.group(1)):
        module, ref = row.group(2), row.group(3)
        if ref.startswith("["):
            found[module] = re.findall(r"'([^']+)'", ref)
        elif ref in lists:
            found[module] = lists[ref]
        else:
            raise Failure("meson.build: integration_modules names %s, which is not a list" % ref)
    return found


def check_meson_list(module, cases):
    """The module's CASES and meson's list for it: the same names, each once."""
    listed = meson_case_lists().get(module)
    if listed is None:
        raise Failure("tests/integration/meson.build runs no cases of %s" % module)
    eq(sorted(listed), sorted(cases), "tests/integration/meson.build's list vs %s.CASES" % module)
    eq(len(listed), len(set(listed)), "no duplicates in meson.build's list of %s" % module)


def wait_locked(cond, pred, timeout, what, describe):
    """wait_for for the fake servers: pred() runs under the Condition cond and
    is tried again at each notify (at least every 0.1 s); on time-out the
    AssertionError ends with describe(), which says what the server saw."""
    deadline = time.monotonic() + timeout
    with cond:
        while True:
            v = pred()
            if v:
                return v
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %ss waiting for %s; %s" % (timeout, what, describe()))
            cond.wait(min(left, 0.1))


# --- a private HOME and TMPDIR per test ---------------------------------------

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
        for k in list(e):
            if k.startswith("SEMAPHORE_AGENT_"):
                del e[k]  # the developer's own agent settings must not leak in
        e.update(HOME=self.home, TMPDIR=self.tmp, NO_COLOR="1")
        # No test may ask a real EC2 metadata service (this machine must not
        # send anything to 169.254.169.254): the EC2 tests override these.
        e.pop("AWS_EC2_METADATA_SERVICE_ENDPOINT", None)
        e["AWS_EC2_METADATA_DISABLED"] = "true"
        e.update(extra)
        return e

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def write(self, name, data, mode=0o644):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(p, mode)
        return p

    def job_file(self, job, name=None):
        """A dict becomes a JSON file; a str is written as is (YAML or broken JSON)."""
        if isinstance(job, str):
            return self.write(name or "job.yaml", job)
        return self.write(name or "job.json", json.dumps(job))

    def leftover_job_dirs(self):
        return sorted(d for d in os.listdir(self.tmp) if d.startswith("semaphore-job-"))

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


# --- events -------------------------------------------------------------------

EVENT_FIELDS = {
    "job_started": {"event", "timestamp"},
    "cmd_started": {"event", "timestamp", "directive"},
    "cmd_output": {"event", "timestamp", "output"},
    "cmd_finished": {"event", "timestamp", "directive", "exit_code", "started_at", "finished_at"},
    "job_finished": {"event", "timestamp", "result"},
}


def parse_events(text, partial=False):
    """Every line must be a JSON object with a known event and integer timestamps.
    With partial=True an unterminated last line (still being written) is skipped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif partial and lines:
        lines.pop()
    elif lines:
        raise Failure("the event log does not end with a newline:\n" + text)
    events = []
    for n, line in enumerate(lines, 1):
        try:
            ev = json.loads(line)
        except ValueError as e:
            raise Failure("line %d is not valid JSON (%s): %r\n--- log\n%s" % (n, e, line, text))
        if not isinstance(ev, dict) or ev.get("event") not in EVENT_FIELDS:
            raise Failure("line %d is not a known event: %r\n--- log\n%s" % (n, line, text))
        for k in ("timestamp", "started_at", "finished_at", "exit_code"):
            if k in ev and (not isinstance(ev[k], int) or isinstance(ev[k], bool)):
                raise Failure("line %d: %s is not an integer: %r" % (n, k, line))
        for k in ("directive", "output", "result"):
            if k in ev and not isinstance(ev[k], str):
                raise Failure("line %d: %s is not a string: %r" % (n, k, line))
        events.append(ev)
    return events


def group_steps(events, log, allow_open=False):
    """[(directive, joined output, exit_code)] in order; checks step framing."""
    out, cur, started = [], None, None
    for ev in events:
        kind = ev["event"]
        if kind == "cmd_started":
            if cur is not None:
                raise Failure("cmd_started inside the open step %r:\n%s" % (cur[0], log))
            cur, started = [ev["directive"], "", None], ev
        elif kind == "cmd_output":
            if cur is None:
                raise Failure("cmd_output outside a step: %r\n%s" % (ev, log))
            cur[1] += ev["output"]
        elif kind == "cmd_finished":
            if cur is None or ev["directive"] != cur[0]:
                raise Failure("cmd_finished %r does not close the open step:\n%s" % (ev, log))
            if not ev["started_at"] <= ev["finished_at"]:
                raise Failure("started_at after finished_at: %r\n%s" % (ev, log))
            if not started["timestamp"] <= ev["started_at"] + 1:
                raise Failure("started_at %r is before the step's cmd_started %r\n%s"
                              % (ev, started, log))
            cur[2] = ev["exit_code"]
            out.append(tuple(cur))
            cur = None
    if cur is not None and not allow_open:
        raise Failure("the step %r was never finished:\n%s" % (cur[0], log))
    return out


class Run:
    """A finished `semaphore-agent run`."""

    def __init__(self, code, stdout, stderr, argv):
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        self.argv = argv
        self._events = None

    def parsed(self):
        if self._events is None:
            self._events = parse_events(self.stdout)
        return self._events

    def steps(self):
        """[(directive, joined output, exit_code)] in order."""
        return group_steps(self.parsed(), self.dump())

    def names(self):
        return [s[0] for s in self.steps()]

    def result(self):
        """The job_finished result, after checking the envelope of the log."""
        ev = self.parsed()
        if not ev or ev[0]["event"] != "job_started":
            raise Failure("the first event is not job_started:\n" + self.dump())
        if ev[-1]["event"] != "job_finished":
            raise Failure("the last event is not job_finished:\n" + self.dump())
        kinds = [e["event"] for e in ev]
        if kinds.count("job_started") != 1 or kinds.count("job_finished") != 1:
            raise Failure("job_started/job_finished must appear once each:\n" + self.dump())
        ts = [e["timestamp"] for e in ev]
        if ts != sorted(ts):
            raise Failure("timestamps go backwards:\n" + self.dump())
        self.steps()  # framing
        return ev[-1]["result"]

    def step(self, directive, nth=0):
        found = [s for s in self.steps() if s[0] == directive]
        if len(found) <= nth:
            raise Failure("no step %r (#%d) in:\n%s" % (directive, nth, self.dump()))
        return found[nth]

    def dump(self):
        return "$ %s\nexit %s\n--- stdout (event log)\n%s--- stderr\n%s" % (
            " ".join(self.argv), self.code, self.stdout, self.stderr)


def _argv(sb, job, args, json_mode):
    # A str starting with '/' is a job file path (which may be missing on purpose).
    path = job if isinstance(job, str) and job.startswith("/") else sb.job_file(job)
    return [agent_bin(), "run"] + (["--json"] if json_mode else []) + list(args) + [path]


def run_job(sb, job, args=(), timeout=45, json_mode=True, env=None):
    """Runs a job to its end with a deadline; stdout must be valid UTF-8."""
    argv = _argv(sb, job, args, json_mode)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env or sb.env(), cwd=sb.root)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise Failure("agent did not finish in %ss:\n%s\n--- stderr\n%s" % (
            timeout, out.decode(errors="replace"), err.decode(errors="replace")))
    try:
        text = out.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise Failure("stdout is not valid UTF-8 (%s):\n%r" % (e, out))
    return Run(p.returncode, text, err.decode(errors="replace"), argv)


class Background:
    """An agent started in the background, its stdout going to a file we can poll."""

    def __init__(self, sb, job, args=()):
        self.sb = sb
        self.argv = _argv(sb, job, args, True)
        self.out_path = sb.path("out.jsonl")
        self.err_path = sb.path("err.txt")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err,
                                         env=sb.env(), cwd=sb.root)

    def text(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", errors="strict")

    def events(self):
        return parse_events(self.text(), partial=True)

    def output_contains(self, needle):
        """True once some cmd_output (not a directive) contains needle."""
        return any(e["event"] == "cmd_output" and needle in e["output"] for e in self.events())

    def dump(self):
        with open(self.err_path, "rb") as f:
            err = f.read().decode(errors="replace")
        return "$ %s\nexit %s\n--- stdout (event log)\n%s--- stderr\n%s" % (
            " ".join(self.argv), self.proc.returncode, self.text(), err)

    def wait_output(self, needle, timeout=20):
        wait_for(lambda: self.output_contains(needle) or self.proc.poll() is not None,
                 timeout, "output %r" % needle, dump=self.dump)
        if not self.output_contains(needle):
            raise Failure("agent exited before printing %r:\n%s" % (needle, self.dump()))

    def wait(self, timeout=20):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure("agent did not exit in %ss:\n%s" % (timeout, self.dump()))
        with open(self.err_path, "rb") as f:
            err = f.read().decode(errors="replace")
        return Run(self.proc.returncode, self.text(), err, self.argv)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


# --- event shapes: the original's golden scenarios compare these ---------------

LONG_OUTPUT = ("cmd_output", "*** LONG_OUTPUT ***")


def event_shapes(run, long_output_step=None):
    """Every event without its times. The output of the step long_output_step
    (docker's pull, which depends on docker's version) becomes one
    LONG_OUTPUT, as in the original's e2e."""
    shapes, in_long = [], False
    for e in run.parsed():
        kind = e["event"]
        if kind == "cmd_started":
            shapes.append((kind, e["directive"]))
            in_long = long_output_step is not None and e["directive"] == long_output_step
        elif kind == "cmd_output":
            if not in_long:
                shapes.append((kind, e["output"]))
            elif shapes[-1] != LONG_OUTPUT:
                shapes.append(LONG_OUTPUT)
        elif kind == "cmd_finished":
            shapes.append((kind, e["directive"], e["exit_code"]))
            in_long = False
        elif kind == "job_finished":
            shapes.append((kind, e["result"]))
        else:
            shapes.append((kind,))
    return shapes


# --- local servers the tests stand up -----------------------------------------------

def local_http_server(handle, methods=("GET", "POST")):
    """A threading HTTP/1.1 server on a free 127.0.0.1 port that logs nothing
    and passes each request of `methods` to handle(request_handler, method).
    Not serving yet (a test may wrap its socket in TLS first): serve_in_thread."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

    for m in methods:
        setattr(Handler, "do_" + m, lambda self, m=m: handle(self, m))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def serve_in_thread(server):
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return t


def receive_datagrams(udp, got, last_prefix, timeout=15, bufsize=65536):
    """Appends each datagram arriving on udp (whose own timeout bounds each
    wait) to got, until one starts with last_prefix."""
    def take():
        try:
            got.append(udp.recv(bufsize).decode())
        except socket.timeout:
            pass
        return any(g.startswith(last_prefix) for g in got)

    wait_for(take, timeout, "the job's metrics", dump=lambda: "\n".join(got))


# --- assertions -----------------------------------------------------------------

def check(cond, msg, run=None):
    if not cond:
        raise Failure(msg + ("\n" + run.dump() if run is not None else ""))


def eq(actual, expected, msg, run=None):
    if actual != expected:
        raise Failure("%s\n  expected: %r\n  actual:   %r%s" % (
            msg, expected, actual, ("\n" + run.dump()) if run is not None else ""))


# --- processes --------------------------------------------------------------------

def _stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    return st[st.rfind(")") + 2:].split()  # [state, ppid, ...]


def children_of(pid):
    """Direct children, by scanning /proc for the ppid (threads included)."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st and int(st[1]) == pid:
                kids.append(int(d))
    return kids


def argv_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]]


def cmdline(pid):
    return " ".join(argv_of(pid))


def processes_with_argv(argv):
    """Live (not zombie) processes whose argv is exactly argv."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and argv_of(int(d)) == argv:
            st = _stat(int(d))
            if st and st[0] != "Z":
                found.append(int(d))
    return found


def processes_matching(text):
    """Processes whose command line contains text (used by test_start.py)."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and text in cmdline(int(d)):
            found.append(int(d))
    return found


def rss_kb(pid):
    """Resident memory of a process in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    """Open descriptors of a process."""
    return len(os.listdir("/proc/%d/fd" % pid))


def peer_closed(sock, wait=0.05):
    """True once the peer has closed sock (end of stream or a reset); waits
    at most `wait` seconds for that."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def sandbox_case(cases, leftover_message, precondition=None):
    """Registers fn(sandbox) as a case with a fresh Sandbox; once it passes,
    no job directory may remain in its TMPDIR. precondition() runs first."""
    def deco(fn):
        def wrapped():
            if precondition:
                precondition()
            sb = Sandbox()
            try:
                fn(sb)
                eq(sb.leftover_job_dirs(), [], leftover_message)
            finally:
                sb.close()
        cases[fn.__name__] = wrapped
        return fn
    return deco


def fake_api_case(cases, tls=False, check_job_dirs=False):
    """Registers fn(sandbox, fake_api) as a case with a fresh Sandbox and FakeApi."""
    def deco(fn):
        def wrapped():
            from fake_api import FakeApi
            sb = Sandbox()
            api = FakeApi(tls=tls)
            try:
                fn(sb, api)
                if check_job_dirs:
                    eq(sb.leftover_job_dirs(), [], "job directories must be removed")
            finally:
                api.stop()
                sb.close()
        cases[fn.__name__] = wrapped
        return fn
    return deco
