"""A fake Semaphore self-hosted API for integration tests (127.0.0.1 only).

It records every request, answers /sync from a script of actions plus a
default policy, stores pushed job logs with the real start_from semantics,
and injects faults per route: HTTP statuses, hangs, closed connections and
invalid JSON.
"""
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
from urllib.parse import parse_qs, urlparse

from harness import local_http_server, serve_in_thread, wait_locked

PREFIX = "/api/v1/self_hosted_agents"
REG_TOKEN = "reg-token"
ACCESS_TOKEN = "access-token"


class Request:
    def __init__(self, method, path, query, headers, body):
        self.method, self.path, self.query, self.headers, self.raw = method, path, query, headers, body
        self.time = time.monotonic()
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "%s %s %r" % (self.method, self.path, self.raw[:200])


class FakeApi:
    def __init__(self, tls=False, tls_names=()):
        self.lock = threading.Condition()
        self.requests = []
        self.jobs = {}            # id -> job request (dict)
        self.pending = []         # job ids to hand out on waiting-for-jobs
        self.actions = []         # scripted sync answers, consumed first
        self.faults = {}          # route -> list of faults, consumed one per request
        self.fault_every_other = set()
        self.logs = {}            # job id -> list of event dicts
        self.log_token = "log-token-1"
        self.log_max_events = None
        self.finished_answer = {"action": "wait-for-jobs"}
        self.next_sync_after = 200
        self.down = False
        self.registered_name = None
        self.register_answer = None  # a dict: /register answers exactly this
        self.access_token = ACCESS_TOKEN  # what the other routes require
        self._counter = {}
        self.server = local_http_server(self._handle, ("GET", "POST"))
        self.ca_file = None
        if tls:
            self._wrap_tls(tls_names)
        self.port = self.server.server_address[1]
        self.endpoint = "127.0.0.1:%d" % self.port
        self.thread = serve_in_thread(self.server)

    def _wrap_tls(self, names=()):
        """A fresh self-signed certificate for 127.0.0.1 and the host names in
        `names`; ca_file trusts it."""
        self.tls_dir = tempfile.mkdtemp(prefix="fakeapi-tls-")
        cert = os.path.join(self.tls_dir, "cert.pem")
        key = os.path.join(self.tls_dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=" + ",".join(["IP:127.0.0.1"] + ["DNS:" + n for n in names]),
                        "-days", "1"], check=True, capture_output=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.ca_file = cert

    def stop(self):
        with self.lock:
            self.down = False
            self.faults.clear()
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # ---- test-facing helpers -------------------------------------------

    def add_job(self, job_id, job, hand_out=True):
        job = dict(job)
        job.setdefault("job_id", job_id)
        scheme = "https" if self.ca_file else "http"
        job.setdefault("logger", {"method": "push", "url": "%s://%s/logs/%s" % (scheme, self.endpoint, job_id),
                                  "token": self.log_token})
        with self.lock:
            self.jobs[job_id] = job
            if hand_out:
                self.pending.append(job_id)

    def push_action(self, action, **fields):
        with self.lock:
            self.actions.append(dict(action=action, **fields))

    def fail(self, route, kind, times=1):
        """kind: an HTTP status, 'hang', 'close', 'invalid_json' or 'huge'."""
        with self.lock:
            self.faults.setdefault(route, []).extend([kind] * times)

    def set_down(self, down):
        with self.lock:
            self.down = down

    def find(self, suffix, method=None):
        with self.lock:
            return [r for r in self.requests if r.path.endswith(suffix) and (method is None or r.method == method)]

    def syncs(self):
        return [r.json for r in self.find("/sync")]

    def events(self, job_id):
        with self.lock:
            return list(self.logs.get(job_id, []))

    def wait_for(self, pred, timeout, what):
        return wait_locked(self.lock, pred, timeout, what,
                           lambda: "requests:\n" + "\n".join(map(repr, self.requests[-30:])))

    # ---- serving -------------------------------------------------------

    def _route(self, path):
        if path.startswith(PREFIX):
            rest = path[len(PREFIX):]
            return "/jobs" if rest.startswith("/jobs/") else rest
        if path.startswith("/logs/"):
            return "/logs"
        return path

    def _take_fault(self, route):
        if self.down:
            return 503
        if route in self.fault_every_other:
            n = self._counter.get(route, 0)
            self._counter[route] = n + 1
            if n % 2 == 0:
                return 500
        q = self.faults.get(route)
        if q:
            return q.pop(0)
        return None

    def _handle(self, h, method):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length).decode("utf-8", "replace") if length else ""
        u = urlparse(h.path)
        req = Request(method, u.path, parse_qs(u.query), dict(h.headers), body)
        route = self._route(u.path)
        with self.lock:
            self.requests.append(req)
            fault = self._take_fault(route)
            self.lock.notify_all()
        if fault == "hang":
            with self.lock:
                self.lock.wait_for(lambda: False, timeout=60)
            h.close_connection = True
            return
        if fault == "close":
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"par")
            h.close_connection = True
            return
        if fault == "invalid_json":
            return self._reply(h, 200, "this is not json {")
        if fault == "huge":  # 100 MB, streamed: the agent must refuse it, not buffer it
            size = 100 * 1024 * 1024
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(size))
            h.end_headers()
            chunk = b" " * (1 << 20)
            try:
                for _ in range(100):
                    h.wfile.write(chunk)
            except OSError:
                pass
            h.close_connection = True
            return
        if isinstance(fault, int):
            return self._reply(h, fault, {"message": "injected %d" % fault})
        with self.lock:
            code, answer = self._answer(route, req)
            self.lock.notify_all()
        self._reply(h, code, answer)

    def _answer(self, route, req):
        auth = req.headers.get("Authorization", "")
        if route == "/register":
            if auth != "Token " + REG_TOKEN:
                return 401, {"message": "bad registration token"}
            name = req.json.get("name") if req.json else ""
            if name.startswith("http"):
                name = "assigned-name-from-url"
            self.registered_name = name
            if self.register_answer is not None:
                return 200, self.register_answer
            return 200, {"name": name, "token": ACCESS_TOKEN}
        # An empty access token leaves "Token" with or without its space.
        if route in ("/sync", "/jobs", "/refresh", "/disconnect") and \
                auth.strip() != ("Token " + self.access_token).strip():
            return 401, {"message": "bad access token"}
        if route == "/sync":
            return 200, self._sync_answer(req.json or {})
        if route == "/jobs":
            job_id = req.path.rsplit("/", 1)[1]
            if job_id not in self.jobs:
                return 404, {"message": "no such job"}
            return 200, self.jobs[job_id]
        if route == "/refresh":
            n = int(self.log_token.rsplit("-", 1)[1]) + 1
            self.log_token = "log-token-%d" % n
            return 200, {"token": self.log_token}
        if route == "/disconnect":
            return 200, {}
        if route == "/logs":
            return self._push(req)
        return 404, {"message": "no route"}

    def _sync_answer(self, body):
        base = {"next_sync_after": self.next_sync_after}
        if self.actions:
            a = dict(base)
            a.update(self.actions.pop(0))
            return a
        state = body.get("state")
        if state == "waiting-for-jobs" and self.pending:
            return dict(base, action="run-job", job_id=self.pending.pop(0))
        if state == "finished-job":
            return dict(base, **self.finished_answer)
        return dict(base, action="continue")

    def _push(self, req):
        if req.headers.get("Authorization") != "Bearer " + self.log_token:
            return 401, {"message": "log token expired"}
        job_id = req.path.rsplit("/", 1)[1]
        start = int(req.query.get("start_from", ["-1"])[0])
        log = self.logs.setdefault(job_id, [])
        lines = [l for l in req.raw.split("\n") if l]
        if start > len(log) or start < 0:
            return 400, {"message": "gap: start_from %d but have %d" % (start, len(log))}
        new = [json.loads(l) for l in lines][len(log) - start:]
        if self.log_max_events is not None and len(log) + len(new) > self.log_max_events:
            return 422, {"message": "log is full"}
        log.extend(new)
        return 200, {}

    def _reply(self, h, code, obj):
        data = obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
