"""Helpers for the `semaphore-agent serve` tests (python3 stdlib only, 127.0.0.1 only).

A self-signed certificate per test, HS256 (and hostile) JWTs, an HTTPS client
that trusts only that certificate, the agent in the background, and a plain
HTTP receiver for the job callbacks.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings

from harness import Failure, agent_bin, local_http_server, parse_events, serve_in_thread, wait_for

SECRET = "serve-test-secret"


# --- certificates, ports -------------------------------------------------------

def make_cert(sb):
    """A fresh self-signed RSA certificate for 127.0.0.1 (CN and SAN); (cert, key)."""
    cert, key = sb.path("tls", "server.crt"), sb.path("tls", "server.key")
    os.makedirs(os.path.dirname(cert), exist_ok=True)
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise Failure("openssl req failed:\n" + p.stderr)
    return cert, key


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- JWT -------------------------------------------------------------------------

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(payload=None, secret=SECRET, alg="HS256", header=None, signature=None):
    """A JWT; `header`/`payload` may be dicts or raw strings; `signature` overrides
    the computed one (a str is used as is: already base64url)."""
    if header is None:
        header = {"alg": alg, "typ": "JWT"}
    if payload is None:
        payload = {"sub": "semaphore"}
    h = b64url(header if isinstance(header, str) else json.dumps(header))
    p = b64url(payload if isinstance(payload, str) else json.dumps(payload))
    signing_input = (h + "." + p).encode()
    if signature is None:
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        signature = b64url(hmac.new(secret.encode(), signing_input, digest).digest())
    return h + "." + p + "." + signature


def rs256_jwt(key_path, payload=None):
    """A real RS256 token signed with the given RSA private key (openssl dgst)."""
    h = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}))
    p = b64url(json.dumps(payload or {"sub": "semaphore"}))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path],
                         input=(h + "." + p).encode(), capture_output=True, timeout=30)
    if sig.returncode != 0:
        raise Failure("openssl dgst failed: %r" % sig.stderr)
    return h + "." + p + "." + b64url(sig.stdout)


# --- TLS client --------------------------------------------------------------------

def client_context(cert, min_version=ssl.TLSVersion.TLSv1_2, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert)
    ctx.check_hostname = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if min_version is not None:
            ctx.minimum_version = min_version
        if max_version is not None:
            ctx.maximum_version = max_version
    return ctx


class RequestFailed(Failure):
    """A request got no HTTP answer (refused, reset, closed); carries the agent log."""


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise Failure("not a JSON body (status %d): %r" % (self.status, self.body[:500]))

    def __repr__(self):
        return "HTTP %d %r %r" % (self.status, self.headers, self.body[:500])


class Serve:
    """A `semaphore-agent serve` on a free port of 127.0.0.1, with its own certificate.
    The agent log (stderr, and stdout in case) goes to a file."""

    def __init__(self, sb, args=(), secret=SECRET, env=None, preexec_fn=None):
        self.sb = sb
        self.secret = secret
        self.cert, self.key = make_cert(sb)
        self.port = free_port()
        self.ctx = client_context(self.cert)
        self.log_path = sb.path("serve-%d.log" % self.port)
        self.argv = [agent_bin(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                     "--auth-token-secret", secret, "--tls-cert-path", self.cert,
                     "--tls-key-path", self.key] + list(args)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env or sb.env(), cwd=sb.root, preexec_fn=preexec_fn)
        wait_for(self._ready, 20, "the server to accept TLS on port %d" % self.port,
                 interval=0.05, dump=self.dump)
        if self.proc.poll() is not None:
            raise Failure("the server exited at start:\n" + self.dump())

    def _ready(self):
        if self.proc.poll() is not None:
            return True  # reported by the caller
        try:
            r = self.request("GET", "/is_alive", token=None, timeout=2)
            return r.status == 200
        except RequestFailed:
            return False

    # -- plumbing
    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def dump(self):
        return "$ %s\nexit %s\n--- agent log\n%s" % (" ".join(self.argv), self.proc.poll(),
                                                    self.output())

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def connection(self, timeout=20, ctx=None):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx or self.ctx,
                                           timeout=timeout)

    def tls_socket(self, timeout=20, ctx=None):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return (ctx or self.ctx).wrap_socket(raw, server_hostname="127.0.0.1")

    def token(self):
        return jwt({"sub": "semaphore", "exp": int(time.time()) + 3600}, secret=self.secret)

    def request(self, method, path, body=None, headers=None, token="default", conn=None,
                timeout=20):
        """One request; a new connection unless conn is given. token="default" sends
        a valid token, None no Authorization header (give one in headers to send any
        value), any other str is sent as `Bearer <token>`."""
        h = dict(headers or {})
        if token == "default":
            token = self.token()
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        own = conn is None
        c = conn or self.connection(timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        except (OSError, http.client.HTTPException) as e:
            raise RequestFailed("%s %s: %r\n%s" % (method, path, e, self.dump())) from e
        finally:
            if own:
                c.close()

    # -- routes
    def status(self):
        r = self.request("GET", "/status")
        if r.status != 200:
            raise Failure("GET /status: %r\n%s" % (r, self.dump()))
        return r.json()

    def post_job(self, job):
        return self.request("POST", "/jobs", body=job)

    def log(self, job_id, start_from=None, headers=None):
        path = "/jobs/%s/log" % job_id
        if start_from is not None:
            path += "?start_from=%d" % start_from
        return self.request("GET", path, headers=headers)

    def events(self, job_id):
        r = self.log(job_id)
        if r.status != 200:
            raise Failure("GET log of %s: %r\n%s" % (job_id, r, self.dump()))
        return parse_events(r.text, partial=True)

    def wait_finished(self, job_id, timeout=45):
        """The job's events once the log ends with job_finished."""
        def done():
            ev = self.events(job_id)
            return ev if ev and ev[-1]["event"] == "job_finished" else None
        return wait_for(done, timeout, "job %s to finish" % job_id, interval=0.1,
                        dump=lambda: self.dump() + "\n--- job log\n" + self.log(job_id).text)

    def wait_output(self, job_id, needle, timeout=30):
        def seen():
            return any(e["event"] == "cmd_output" and needle in e["output"]
                       for e in self.events(job_id))
        wait_for(seen, timeout, "output %r of job %s" % (needle, job_id), interval=0.05,
                 dump=lambda: self.dump() + "\n--- job log\n" + self.log(job_id).text)


def outputs(events):
    return "".join(e["output"] for e in events if e["event"] == "cmd_output")


# --- callback receiver -------------------------------------------------------------------

class Received:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.raw = method, path, headers, body
        self.time = time.monotonic()
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "%s %s %r %r" % (self.method, self.path, dict(self.headers), self.raw[:200])


class Receiver:
    """Records every request; fail_first[path] = K answers the first K with 500."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.fail_first = {}
        self.server = local_http_server(self._any, ("POST", "GET", "PUT"))
        self.port = self.server.server_address[1]
        self.thread = serve_in_thread(self.server)

    def _any(self, h, method):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        with self.lock:
            self.requests.append(Received(h.command, h.path, h.headers, body))
            left = self.fail_first.get(h.path, 0)
            if left:
                self.fail_first[h.path] = left - 1
        status = 500 if left else 200
        out = b'{"error":"injected"}' if left else b"{}"
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(out)))
        h.end_headers()
        h.wfile.write(out)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def find(self, path):
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
