#!/usr/bin/env python3
"""`make image-check`: the container image, run the way fleets run it.

Under a real dockerd (started when none answers), against the tests' fake
Semaphore API on 127.0.0.1 (containers share the host's network):

- the image's configuration and contents: the original's USER, WORKDIR and
  CMD, the semaphore user (uid and gid 1000), the programs where the original
  has them, and bash, git, curl, ssh and the CA bundle for jobs;
- the respawnable-container setup: a mounted config file with
  `disconnect-after-job: true` and `docker run --restart always`: one
  registration, one job and one disconnect, the container exits 0, the
  restarted container registers under a new name and runs a second job;
- configuration from SEMAPHORE_AGENT_* variables alone: one job, exit 0;
- `docker stop`: the agent, PID 1, disconnects and exits 0 at once.

Every container is removed on every path. Root. One PASS/FAIL line per check.

    check_image.py [--tag NAME:VERSION]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests"))
from check_report import Report, project_version  # noqa: E402
import docker_env  # noqa: E402
from fake_api import REG_TOKEN, FakeApi  # noqa: E402

CMD = ["/opt/semaphore/agent", "start", "--config-file", "/opt/semaphore/semaphore-agent.yml"]
JOB_TIMEOUT = 120

report = Report()


def docker(*argv, timeout=120):
    return subprocess.run(["docker"] + list(argv), capture_output=True, text=True, timeout=timeout)


class Container:
    """A uniquely named container, removed (with force) when the block ends,
    whatever happened inside it."""

    def __init__(self, prefix):
        self.name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        docker("rm", "-f", self.name, timeout=60)

    def logs(self):
        r = docker("logs", self.name, timeout=30)
        return r.stdout + r.stderr


class DieEvents:
    """The container's `die` events, from a `docker events` stream that starts
    at a time taken before the container existed (--since replays what came
    before the stream was open), so no exit can be missed."""

    def __init__(self, name, since):
        self.cond = threading.Condition()
        self.exits = []
        self.proc = subprocess.Popen(
            ["docker", "events", "--since", "%.3f" % since, "--filter", "container=" + name,
             "--filter", "event=die", "--format", "{{json .}}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                code = json.loads(line)["Actor"]["Attributes"].get("exitCode")
            except (ValueError, KeyError, TypeError):
                continue
            with self.cond:
                self.exits.append(code)
                self.cond.notify_all()

    def wait(self, count, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.exits) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return list(self.exits)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def job(text):
    return {"commands": [{"directive": "echo %s from $(id -un) in $PWD" % text},
                         {"directive": "git --version && curl --version | head -n 1"}]}


def job_output(api, job_id):
    return "".join(e.get("output", "") for e in api.events(job_id) if e.get("event") == "cmd_output")


def job_passed(api, job_id):
    ev = api.events(job_id)
    return bool(ev) and ev[-1].get("event") == "job_finished" and ev[-1].get("result") == "passed"


def wait_job(api, job_id):
    try:
        api.wait_for(lambda: any(e.get("event") == "job_finished" for e in api.events(job_id)),
                     JOB_TIMEOUT, "job %s to finish" % job_id)
        return True
    except AssertionError:
        return False


def paths(api):
    """The requests so far, in order, as (route, request) pairs."""
    with api.lock:
        reqs = list(api.requests)
    out = []
    for r in reqs:
        for route in ("/register", "/sync", "/disconnect"):
            if r.path.endswith(route):
                out.append((route, r))
        if "/jobs/" in r.path:
            out.append(("/jobs", r))
    return out


# ---- the checks ---------------------------------------------------------

def check_config(tag):
    r = docker("image", "inspect", "--format", "{{json .Config}}", tag)
    if not report("image_exists", r.returncode == 0, r.stderr):
        return False
    cfg = json.loads(r.stdout)
    report("image_user_semaphore", cfg.get("User") == "semaphore", cfg)
    report("image_workdir_home", cfg.get("WorkingDir") == "/home/semaphore", cfg)
    report("image_cmd_original", cfg.get("Cmd") == CMD and not cfg.get("Entrypoint"), cfg)
    return True


def check_contents(tag):
    r = docker("run", "--rm", tag, "id", timeout=60)
    report("container_id_semaphore", r.stdout.strip() == "uid=1000(semaphore) gid=1000(semaphore) groups=1000(semaphore)",
           r.stdout + r.stderr)
    script = r"""
set -e
echo "home=$HOME pwd=$PWD"
for p in bash git curl ssh ps agentctl; do printf '%s=%s\n' "$p" "$(command -v $p)"; done
git --version; curl --version | head -n 1; ssh -V 2>&1
test -s /etc/ssl/certs/ca-certificates.crt && echo ca-bundle=yes
test -f /opt/semaphore/agent && test -x /opt/semaphore/agent && echo agent=file
test -x /opt/semaphore/semaphore-agent-worker && echo worker=yes
stat -c 'opt=%u:%g home=%U' /opt/semaphore && stat -c 'homeowner=%u:%g' /home/semaphore
test -f /home/semaphore/.bashrc && echo skel=yes
echo lists=$(ls /var/lib/apt/lists | grep -cv '^\(partial\|lock\)$' || true) debs=$(ls /var/cache/apt/archives | grep -c '\.deb$' || true)
echo docs=$(find /usr/share/doc -type f ! -name copyright | wc -l) man=$(find /usr/share/man -type f | wc -l)
/opt/semaphore/agent version
agentctl --help >/dev/null 2>&1 || agentctl help >/dev/null 2>&1 || true
"""
    r = docker("run", "--rm", tag, "bash", "-c", script, timeout=60)
    out = r.stdout + r.stderr
    report("container_home_and_workdir", "home=/home/semaphore pwd=/home/semaphore" in out, out)
    report("container_has_job_tools", r.returncode == 0 and all(
        "%s=%s" % (p, d) in out for p, d in (("bash", "/usr/bin/bash"), ("git", "/usr/bin/git"),
                                             ("curl", "/usr/bin/curl"), ("ssh", "/usr/bin/ssh"),
                                             ("ps", "/usr/bin/ps")))
        and "git version" in out and "OpenSSH" in out, out)
    report("container_has_ca_bundle", "ca-bundle=yes" in out, out)
    report("container_layout", "agent=file" in out and "worker=yes" in out
           and "agentctl=/usr/local/bin/agentctl" in out and "opt=1000:1000" in out
           and "homeowner=1000:1000" in out and "skel=yes" in out, out)
    report("container_agent_version", re.search(r"\b%s\b" % re.escape(project_version(TOP)), out) is not None, out)
    report("container_no_apt_lists_or_debs", "lists=0 debs=0" in out, out)
    report("container_no_docs_but_copyrights", "docs=0 man=0" in out, out)


def check_respawn(tag, work):
    api = FakeApi()
    try:
        cfg = os.path.join(work, "agent.yml")
        with open(cfg, "w") as f:
            f.write("endpoint: %s\ntoken: %s\nno-https: true\ndisconnect-after-job: true\n"
                    % (api.endpoint, REG_TOKEN))
        os.chmod(cfg, 0o644)  # read by the container's uid 1000
        api.add_job("respawn-1", job("first"))
        with Container("sa-image-respawn") as c:
            since = time.time() - 1
            events = DieEvents(c.name, since)
            try:
                r = docker("run", "-d", "--name", c.name, "--restart", "always", "--network", "host",
                           "-v", cfg + ":/opt/semaphore/semaphore-agent.yml:ro", tag)
                if not report("respawn_container_starts", r.returncode == 0, r.stderr):
                    return
                ok = wait_job(api, "respawn-1")
                out = job_output(api, "respawn-1")
                report("respawn_first_job_passes", ok and job_passed(api, "respawn-1")
                       and "first from semaphore in /home/semaphore\n" in out and "git version" in out,
                       "%r\n%s" % (api.events("respawn-1")[-3:], c.logs()))
                exits = events.wait(1, 60)
                report("respawn_container_exits_0_after_job", exits is not None and exits[0] == "0",
                       "die events %r\n%s" % (exits, c.logs()))
                # Up to the first disconnect: one registration, one job, one disconnect.
                seq = paths(api)
                first_disc = next((i for i, (p, _) in enumerate(seq) if p == "/disconnect"), None)
                before = [p for p, _ in seq[:first_disc]] if first_disc is not None else []
                report("respawn_one_registration_job_disconnect",
                       first_disc is not None and before.count("/register") == 1
                       and before.count("/jobs") == 1, [p for p, _ in seq])

                # The restarted container: a new registration under a new name,
                # then the second job.
                try:
                    api.wait_for(lambda: len(api.find("/register")) >= 2, 60, "a second registration")
                except AssertionError as e:
                    report("respawn_restarted_registers_new_name", False, "%s\n%s" % (e, c.logs()))
                    return
                names = [r.json.get("name") for r in api.find("/register")]
                seq = paths(api)
                regs = [i for i, (p, _) in enumerate(seq) if p == "/register"]
                report("respawn_restarted_registers_new_name",
                       names[0] and names[1] and names[0] != names[1] and regs[1] > first_disc, names)
                api.add_job("respawn-2", job("second"))
                ok = wait_job(api, "respawn-2")
                report("respawn_second_job_passes", ok and job_passed(api, "respawn-2")
                       and "second from semaphore in /home/semaphore\n" in job_output(api, "respawn-2"),
                       "%r\n%s" % (api.events("respawn-2")[-3:], c.logs()))
                exits = events.wait(2, 60)
                report("respawn_second_container_run_exits_0", exits is not None and exits[1] == "0",
                       "die events %r" % (exits,))
            finally:
                events.close()
    finally:
        api.stop()


def check_env_only(tag):
    api = FakeApi()
    try:
        api.add_job("env-1", job("env"))
        with Container("sa-image-env") as c:
            r = docker("run", "-d", "--name", c.name, "--network", "host",
                       "-e", "SEMAPHORE_AGENT_ENDPOINT=" + api.endpoint,
                       "-e", "SEMAPHORE_AGENT_TOKEN=" + REG_TOKEN,
                       "-e", "SEMAPHORE_AGENT_NO_HTTPS=true",
                       "-e", "SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB=true", tag)
            if not report("env_container_starts", r.returncode == 0, r.stderr):
                return
            ok = wait_job(api, "env-1")
            report("env_job_passes", ok and job_passed(api, "env-1")
                   and "env from semaphore in /home/semaphore\n" in job_output(api, "env-1"),
                   "%r\n%s" % (api.events("env-1")[-3:], c.logs()))
            try:
                w = docker("wait", c.name, timeout=60)
                code = w.stdout.strip()
            except subprocess.TimeoutExpired:
                code = "still running after 60 s"
            report("env_container_exits_0", code == "0" and len(api.find("/register")) == 1
                   and len(api.find("/disconnect")) == 1,
                   "exit %s, %d registrations, %d disconnects\n%s" % (
                       code, len(api.find("/register")), len(api.find("/disconnect")), c.logs()))
    finally:
        api.stop()


def check_stop(tag):
    """`docker stop` signals the agent as PID 1 of the container: it must
    disconnect and exit 0 at once, not wait for dockerd's SIGKILL."""
    api = FakeApi()
    try:
        with Container("sa-image-stop") as c:
            r = docker("run", "-d", "--name", c.name, "--network", "host",
                       "-e", "SEMAPHORE_AGENT_ENDPOINT=" + api.endpoint,
                       "-e", "SEMAPHORE_AGENT_TOKEN=" + REG_TOKEN,
                       "-e", "SEMAPHORE_AGENT_NO_HTTPS=true", tag)
            if not report("stop_container_starts", r.returncode == 0, r.stderr):
                return
            try:
                api.wait_for(lambda: api.find("/sync"), 60, "the first sync")
            except AssertionError as e:
                report("stop_disconnects_and_exits_0", False, "%s\n%s" % (e, c.logs()))
                return
            t = time.monotonic()
            docker("stop", "--time", "30", c.name, timeout=60)
            took = time.monotonic() - t
            code = docker("inspect", "--format", "{{.State.ExitCode}}", c.name).stdout.strip()
            report("stop_disconnects_and_exits_0", code == "0" and took < 10 and api.find("/disconnect"),
                   "exit %s after %.1fs, %d disconnects\n%s" % (code, took, len(api.find("/disconnect")),
                                                                c.logs()))
    finally:
        api.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tag", default="semaphore-agent:" + project_version(TOP))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("check_image: needs root (dockerd)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        docker_env.ensure()
    except docker_env.Unavailable as e:
        report("image_docker_engine", False, str(e))
        print("image-check: %d passed, %d failed" % (report.passed, report.failed))
        return 1
    work = tempfile.mkdtemp(prefix="sa-image-check-")
    try:
        if check_config(args.tag):
            for step in (lambda: check_contents(args.tag), lambda: check_respawn(args.tag, work),
                         lambda: check_env_only(args.tag), lambda: check_stop(args.tag)):
                try:
                    step()
                except Exception as e:  # a broken step fails, the others still run
                    report("image_step_completed", False, repr(e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("TIME  image-check: %ds" % (time.monotonic() - t0), flush=True)
    print("image-check: %d passed, %d failed" % (report.passed, report.failed), flush=True)
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
