"""A fake EC2 instance metadata service (IMDSv2) on 127.0.0.1, for the
lifecycle watch tests. Like the real one it hands out session tokens on
PUT /latest/api/token and refuses every GET without a valid token (401).

Knobs (set under .lock, or with the helpers):
  spot_action       None (404) or a dict served as /latest/meta-data/spot/instance-action
  lifecycle_state   None (404: not in an Auto Scaling group) or the text of
                    /latest/meta-data/autoscaling/target-lifecycle-state
  token_lifetime    seconds a token is accepted (None: its requested TTL);
                    short values make the watcher fetch new ones
  delay             seconds to wait before answering anything (a slow IMDS)
  get_delay         the same for GETs only (tokens come fast, metadata slowly)
"""
import json
import socket
import threading
import time

from harness import local_http_server, serve_in_thread, wait_locked

SPOT = "/latest/meta-data/spot/instance-action"
LIFECYCLE = "/latest/meta-data/autoscaling/target-lifecycle-state"


class Req:
    def __init__(self, method, path, token, status):
        self.method, self.path, self.token, self.status = method, path, token, status
        self.time = time.monotonic()

    def __repr__(self):
        return "%s %s -> %s" % (self.method, self.path, self.status)


class FakeImds:
    def __init__(self):
        self.lock = threading.Condition()
        self.requests = []
        self.tokens = {}       # token -> expiry (monotonic)
        self.issued = 0
        self.spot_action = None
        self.lifecycle_state = None
        self.token_lifetime = None
        self.delay = 0
        self.get_delay = 0
        self.arrived = []      # (monotonic time, method, path) as each request came in
        self.server = local_http_server(self._handle, ("PUT", "GET"))
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = serve_in_thread(self.server)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # ---- test-facing helpers -------------------------------------------

    def set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if not hasattr(self, k):
                    raise AttributeError(k)
                setattr(self, k, v)

    def find(self, path=None, method=None, status=None):
        with self.lock:
            return [r for r in self.requests if (path is None or r.path == path)
                    and (method is None or r.method == method) and (status is None or r.status == status)]

    def wait_for(self, pred, timeout, what):
        return wait_locked(self.lock, pred, timeout, what, lambda: "IMDS saw %r" % (self.requests[-20:],))

    # ---- serving -------------------------------------------------------

    def _handle(self, h, method):
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)
        with self.lock:
            delay = self.delay or (self.get_delay if method == "GET" else 0)
            # Recorded before a slow answer, unlike requests.
            self.arrived.append((time.monotonic(), method, h.path))
            self.lock.notify_all()
        if delay:
            time.sleep(delay)
        token = h.headers.get("X-aws-ec2-metadata-token")
        with self.lock:
            status, body = self._answer(h, method, token)
            self.requests.append(Req(method, h.path, token, status))
            self.lock.notify_all()
        data = body.encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass  # the agent gave up waiting (a slow IMDS)

    def _answer(self, h, method, token):
        now = time.monotonic()
        if method == "PUT":
            if h.path != "/latest/api/token":
                return 403, "Forbidden"
            ttl = h.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return 400, "Missing or Invalid Parameters"
            self.issued += 1
            tok = "token-%d" % self.issued
            life = self.token_lifetime if self.token_lifetime is not None else int(ttl)
            self.tokens[tok] = now + life
            return 200, tok
        if token not in self.tokens or self.tokens[token] < now:
            return 401, "Unauthorized"
        if h.path == SPOT:
            if self.spot_action is None:
                return 404, "Not Found"
            return 200, json.dumps(self.spot_action)
        if h.path == LIFECYCLE:
            if self.lifecycle_state is None:
                return 404, "Not Found"
            return 200, self.lifecycle_state
        return 404, "Not Found"


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
