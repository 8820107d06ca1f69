"""`semaphore-agent start` against the fake Semaphore API."""
import os
import shutil
import signal
import subprocess
import time

from fake_api import ACCESS_TOKEN, REG_TOKEN
from harness import (Failure, Sandbox, agent_bin, b64, check, eq, fake_api_case, processes_matching,
                     processes_with_argv, unique_seconds, wait_for)

CASES = {}


class Agent:
    """A running `semaphore-agent start` with a shutdown hook that records its reason."""

    def __init__(self, sb, api, args=(), env=None, with_defaults=True):
        self.sb = sb
        self.reason_file = sb.path("shutdown-reason")
        hook = sb.write("shutdown.sh", 'echo "hook says $SEMAPHORE_AGENT_SHUTDOWN_REASON"\n'
                        'echo -n "$SEMAPHORE_AGENT_SHUTDOWN_REASON" > %s\n' % self.reason_file)
        cmd = [agent_bin(), "start"]
        if with_defaults:
            cmd += ["--endpoint", api.endpoint, "--no-https", "--token", REG_TOKEN,
                    "--name", "test-agent-001", "--shutdown-hook-path", hook]
        cmd += list(args)
        self.log_path = sb.path("agent.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env or sb.env())

    def wait(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure("agent still running after %ss:\n%s" % (timeout, self.output()))
        self.log.close()
        return self.proc.returncode

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def reason(self):
        try:
            with open(self.reason_file) as f:
                return f.read()
        except OSError:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


case = fake_api_case(CASES, check_job_dirs=True)


def cmds(*directives):
    return [{"directive": d} for d in directives]


def expect_exit(agent, code, reason, timeout=30):
    rc = agent.wait(timeout)
    out = agent.output()
    if rc != code:
        raise Failure("exit status %s, expected %s:\n%s" % (rc, code, out))
    eq(agent.reason(), reason, "SEMAPHORE_AGENT_SHUTDOWN_REASON\n" + out)
    check("hook says " + reason in out, "the hook's output is in the agent log:\n" + out)


def assert_clean_log(api, job_id, expected_outputs, result="passed"):
    ev = api.events(job_id)
    check(ev and ev[0]["event"] == "job_started", "log starts with job_started: %r" % ev[:2])
    check(ev[-1]["event"] == "job_finished" and ev[-1]["result"] == result,
          "log ends with job_finished %s: %r" % (result, ev[-1:]))
    eq(sum(1 for e in ev if e["event"] == "job_started"), 1, "job_started once")
    out = "".join(e.get("output", "") for e in ev if e["event"] == "cmd_output")
    for text in expected_outputs:
        check(text in out, "%r in the pushed log" % text)


@case
def register_body_and_headers(sb, api):
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "requested"}
    api.push_action("shutdown", shutdown_reason="requested")
    a = Agent(sb, api, ["--disconnect-after-idle-timeout", "50", "--interruption-grace-period", "7"])
    expect_exit(a, 0, "REQUESTED")
    reg = api.find("/register")[0]
    body = reg.json
    for k in ("name", "version", "pid", "os", "arch", "hostname", "single_job", "idle_timeout",
              "interruption_grace_period", "job_id"):
        check(k in body, "register body has %s: %r" % (k, body))
    eq(body["name"], "test-agent-001", "name")
    eq(body["idle_timeout"], 50, "idle_timeout")
    eq(body["interruption_grace_period"], 7, "interruption_grace_period")
    eq(body["single_job"], False, "single_job")
    eq(body["pid"], a.proc.pid, "pid")
    eq(reg.headers["Authorization"], "Token " + REG_TOKEN, "registration token")
    check(reg.headers["User-Agent"].startswith("SemaphoreAgent/"), "user agent")
    sync = api.find("/sync")[0]
    eq(sync.headers["Authorization"], "Token " + ACCESS_TOKEN, "access token on sync")
    eq(set(sync.json), {"state", "job_id", "job_result", "interrupted_at"}, "sync body fields")
    check(len(api.find("/disconnect")) == 1, "disconnected once")


@case
def register_answer_without_token(sb, api):
    # The original's reference API answers /register with access_token only:
    # the agent keeps its own name, syncs with an empty token, and runs jobs.
    api.register_answer = {"access_token": "not-what-the-agent-reads"}
    api.access_token = ""
    api.add_job("job-nt", {"commands": cmds("echo ran without a token")})
    a = Agent(sb, api)
    api.wait_for(lambda: any(s["state"] == "finished-job" for s in api.syncs()), 60,
                 "the job to finish")
    api.push_action("shutdown", shutdown_reason="requested")
    expect_exit(a, 0, "REQUESTED")
    out = a.output()
    eq(len(api.find("/register")), 1, "registered at the first attempt:\n" + out)
    check("Registered as test-agent-001" in out, "the agent keeps its own name:\n" + out)
    check("token: missing" not in out, "no complaint about the token:\n" + out)
    eq(api.find("/sync")[0].headers["Authorization"].strip(), "Token", "sync with the empty token")
    assert_clean_log(api, "job-nt", ["ran without a token\n"])


@case
def register_answer_with_wrong_type_refused(sb, api):
    # A token that is not a string is a broken answer, named; it is retried.
    api.register_answer = {"name": "x", "token": 12345}
    a = Agent(sb, api)
    api.wait_for(lambda: len(api.find("/register")) >= 2, 30, "a second register attempt")
    a.kill()
    out = a.output()
    check("register answer: token: expected a string" in out, "the field is named:\n" + out)
    eq(api.find("/sync"), [], "no sync after a broken register answer")


def proc_cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().rstrip(b"\0").split(b"\0")


@case
def token_hidden_from_cmdline(sb, api):
    # Any local user (a job's user too) reads /proc/PID/cmdline through ps.
    a = Agent(sb, api)
    api.wait_for(lambda: api.find("/sync"), 30, "the first sync")
    argv = proc_cmdline(a.proc.pid)
    eq(argv[:2], [agent_bin().encode(), b"start"], "argv[0] and the subcommand stay")
    i = argv.index(b"--token")
    eq(argv[i + 1], b"********", "the token is masked")
    check(REG_TOKEN.encode() not in b"\0".join(argv), "no trace of the token: %r" % argv)
    eq(argv[argv.index(b"--name") + 1], b"test-agent-001", "other arguments stay")
    a.kill()
    hook = sb.write("noop.sh", "true\n")
    b = Agent(sb, api, ["--endpoint", api.endpoint, "--no-https", "--token=" + REG_TOKEN,
                        "--name", "test-agent-002", "--shutdown-hook-path", hook], with_defaults=False)
    api.wait_for(lambda: any(r.json and r.json.get("name") == "test-agent-002" for r in api.find("/register"))
                 and len(api.find("/sync")) >= 2, 30, "the second agent's sync")
    argv = proc_cmdline(b.proc.pid)
    check(b"--token=********" in argv, "--token=VALUE masked: %r" % argv)
    check(REG_TOKEN.encode() not in b"\0".join(argv), "no trace of the token: %r" % argv)
    b.kill()


@case
def two_jobs_in_order(sb, api):
    api.add_job("job-1", {"commands": cmds("echo first job", "seq 1 200")})
    api.add_job("job-2", {"commands": cmds("echo second job", "false")})
    a = Agent(sb, api)
    api.wait_for(lambda: sum(1 for s in api.syncs() if s["state"] == "finished-job") >= 2
                 and len(api.pending) == 0 and any(s["job_id"] == "job-2" and s["state"] == "finished-job" for s in api.syncs()),
                 60, "both jobs to finish")
    api.push_action("shutdown", shutdown_reason="requested")
    expect_exit(a, 0, "REQUESTED")
    assert_clean_log(api, "job-1", ["first job\n", "200\n"])
    assert_clean_log(api, "job-2", ["second job\n"], result="failed")
    states = [(s["state"], s["job_id"]) for s in api.syncs()]
    # Each sync reports the state of the moment: a job that starts and ends
    # while one sync is on the wire is never seen running, and that is right.
    i1 = states.index(("starting-job", "job-1"))
    i3 = states.index(("finished-job", "job-1"))
    i2 = states.index(("running-job", "job-1")) if ("running-job", "job-1") in states else i1
    check(i1 <= i2 < i3 and i1 < i3, "states in order: %r" % states)
    fin = [s for s in api.syncs() if s["state"] == "finished-job" and s["job_id"] == "job-1"][0]
    eq(fin["job_result"], "passed", "job_result")
    # finished-job is reported only after every log line was pushed
    fin_req = [r for r in api.find("/sync") if r.json["state"] == "finished-job"][0]
    last_push = [r for r in api.find("/logs/job-1")][-1]
    check(last_push.time <= fin_req.time, "logs flushed before finished-job")


@case
def disconnect_after_job_without_api(sb, api):
    api.finished_answer = {"action": "continue"}  # the API never asks
    api.add_job("only", {"commands": cmds("echo once")})
    api.add_job("never", {"commands": cmds("echo twice")})
    a = Agent(sb, api, ["--disconnect-after-job"])
    expect_exit(a, 0, "JOB_FINISHED")
    eq(api.find("/register")[0].json["single_job"], True, "single_job")
    assert_clean_log(api, "only", ["once\n"])
    eq(api.events("never"), [], "no second job")
    eq(len(api.find("/disconnect")), 1, "disconnected")


@case
def idle_timeout_without_api(sb, api):
    t0 = time.monotonic()
    a = Agent(sb, api, ["--disconnect-after-idle-timeout", "2"])
    expect_exit(a, 0, "IDLE")
    elapsed = time.monotonic() - t0
    check(1.5 < elapsed < 15, "idle shutdown after about 2 s, took %.1f" % elapsed)


@case
def shutdown_requested_idle(sb, api):
    api.push_action("continue")
    api.push_action("shutdown", shutdown_reason="idle")
    a = Agent(sb, api)
    expect_exit(a, 0, "IDLE")


@case
def sigterm_while_idle(sb, api):
    a = Agent(sb, api)
    api.wait_for(lambda: len(api.find("/sync")) >= 1, 20, "first sync")
    a.proc.send_signal(signal.SIGTERM)
    expect_exit(a, 0, "INTERRUPTED")
    interrupted = [s for s in api.syncs() if s["interrupted_at"]]
    check(interrupted, "a sync reports interrupted_at")
    check(abs(interrupted[0]["interrupted_at"] - time.time()) < 60, "unix seconds")


@case
def sigterm_while_running_with_grace(sb, api):
    api.add_job("g", {"commands": cmds("echo begin", "sleep 2", "echo end")})
    a = Agent(sb, api, ["--interruption-grace-period", "20"])
    api.wait_for(lambda: any("begin" in (e.get("output") or "") for e in api.logs.get("g", [])), 30, "job to start")
    a.proc.send_signal(signal.SIGTERM)
    # The API does not act: the job may finish within the grace period.
    expect_exit(a, 0, "INTERRUPTED", timeout=40)
    assert_clean_log(api, "g", ["begin\n", "end\n"], result="passed")
    check(any(s["interrupted_at"] and s["state"] == "running-job" for s in api.syncs()),
          "interruption reported while running")


@case
def second_sigterm_stops_job(sb, api):
    api.add_job("s", {"commands": cmds("echo begin; sleep 300")})
    a = Agent(sb, api, ["--interruption-grace-period", "300"])
    api.wait_for(lambda: any("begin" in (e.get("output") or "") for e in api.logs.get("s", [])), 30, "job to start")
    a.proc.send_signal(signal.SIGTERM)
    api.wait_for(lambda: any(s["interrupted_at"] for s in api.syncs()), 10, "interrupted sync")
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    expect_exit(a, 0, "INTERRUPTED", timeout=30)
    check(time.monotonic() - t0 < 15, "stopped promptly")
    assert_clean_log(api, "s", ["begin\n"], result="stopped")


@case
def stop_job(sb, api):
    secs = unique_seconds()  # other tests sleep too: find ours by its exact argv
    api.add_job("long", {"commands": cmds("echo begin; sleep " + secs)})
    a = Agent(sb, api)
    api.wait_for(lambda: any("begin" in (e.get("output") or "") for e in api.logs.get("long", [])), 30, "job to start")
    t0 = time.monotonic()
    api.push_action("stop-job", job_id="long")
    api.wait_for(lambda: any(s["state"] == "finished-job" for s in api.syncs()), 20, "finished-job")
    check(time.monotonic() - t0 < 10, "stop took %.1fs" % (time.monotonic() - t0))
    fin = [s for s in api.syncs() if s["state"] == "finished-job"][0]
    eq(fin["job_result"], "stopped", "job_result")
    assert_clean_log(api, "long", ["begin\n"], result="stopped")
    wait_for(lambda: not processes_with_argv(["sleep", secs]), 10, "the job's sleep to be gone")
    api.push_action("shutdown", shutdown_reason="requested")
    expect_exit(a, 0, "REQUESTED")


@case
def stop_job_while_fetching(sb, api):
    """A stop-job while the job is still being fetched: the job never runs."""
    api.add_job("f", {"commands": cmds("echo must-not-run")})
    api.fail("/jobs", "hang")
    a = Agent(sb, api)
    api.wait_for(lambda: api.find("/jobs/f"), 20, "the job fetch")
    t0 = time.monotonic()
    api.push_action("stop-job", job_id="f")
    api.wait_for(lambda: any(s["state"] == "finished-job" for s in api.syncs()), 20, "finished-job")
    check(time.monotonic() - t0 < 15, "stop took %.1fs" % (time.monotonic() - t0))
    fin = [s for s in api.syncs() if s["state"] == "finished-job"][0]
    eq(fin["job_result"], "stopped", "job_result")
    eq(api.events("f"), [], "the job never ran")
    api.push_action("shutdown", shutdown_reason="requested")
    expect_exit(a, 0, "REQUESTED")


@case
def job_gets_no_agent_descriptors(sb, api):
    """The agent's sockets (libcurl's keep-alive connection) never reach the job."""
    probe = "ls /proc/$$/fd | sort -n | tr '\\n' ' '"
    api.add_job("fds", {"commands": cmds(probe)})
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    a = Agent(sb, api)
    expect_exit(a, 0, "JOB_FINISHED")
    out = "".join(e.get("output", "") for e in api.events("fds") if e["event"] == "cmd_output"
                  and "Exporting" not in e.get("output", ""))
    eq(out.split("\n")[0].strip(), "0 1 2 255", "the job's shell has its terminal and nothing else")


@case
def log_token_refresh_failures_back_off(sb, api):
    """A refused log token whose refresh fails is not retried in a tight loop."""
    api.add_job("r", {"commands": cmds("echo one", "sleep 4", "echo two")})
    api.log_token = "log-token-1"
    api.jobs["r"]["logger"]["token"] = "log-token-0"  # stale: every push gets 401 until refreshed
    api.fail("/refresh", 500, times=3)
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    a = Agent(sb, api)
    expect_exit(a, 0, "JOB_FINISHED", timeout=60)
    times = [r.time for r in api.find("/refresh")]
    check(len(times) >= 4, "three failed refreshes, then a good one: %d" % len(times))
    gaps = [t2 - t1 for t1, t2 in zip(times, times[1:4])]
    check(all(g >= 0.4 for g in gaps), "refresh retries back off: %r" % gaps)
    assert_clean_log(api, "r", ["one\n", "two\n"])


@case
def register_retries(sb, api):
    api.fail("/register", 500, times=3)
    api.push_action("shutdown", shutdown_reason="requested")
    a = Agent(sb, api)
    expect_exit(a, 0, "REQUESTED")
    eq(len(api.find("/register")), 4, "three failures then success")
    times = [r.time for r in api.find("/register")]
    check(all(t2 - t1 >= 0.9 for t1, t2 in zip(times, times[1:])), "about 1 s apart: %r" % times)


@case
def get_job_retries(sb, api):
    api.add_job("j", {"commands": cmds("echo fetched")})
    api.fail("/jobs", 502, times=2)
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    a = Agent(sb, api)
    expect_exit(a, 0, "JOB_FINISHED", timeout=40)
    eq(len(api.find("/jobs/j")), 3, "two failures then success")
    assert_clean_log(api, "j", ["fetched\n"])


@case
def flaky_log_push(sb, api):
    api.add_job("big", {"commands": cmds("seq 1 5000", "echo tail-line")})
    api.fault_every_other.add("/logs")
    api.log_token = "log-token-1"
    api.jobs["big"]["logger"]["token"] = "log-token-0"  # stale: the first good push gets 401
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    a = Agent(sb, api)
    expect_exit(a, 0, "JOB_FINISHED", timeout=60)
    check(api.find("/refresh"), "the log token was refreshed")
    ev = api.events("big")
    out = "".join(e.get("output", "") for e in ev if e["event"] == "cmd_output")
    check("".join("%d\n" % i for i in range(1, 5001)) in out, "all 5000 lines, in order, once")
    eq(out.count("tail-line\n"), 1, "no duplicate lines")
    eq(ev[-1]["event"], "job_finished", "complete log")


@case
def live_log_keeps_up_with_a_fast_job(sb, api):
    """A job that prints 3 MB at once, then sleeps: the log reaches the API
    while the job still sleeps. One batch (256 KiB) every 1.5-3 s would need
    13 batches, 20-39 s; full batches go back to back instead."""
    line = "x" * 99
    api.add_job("fast", {"commands": cmds("for i in $(seq 1 30000); do echo %s; done" % line, "sleep 12")})
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    a = Agent(sb, api)

    def output_bytes():
        return sum(len(e.get("output", "")) for e in api.events("fast") if e["event"] == "cmd_output")
    api.wait_for(lambda: any(e["event"] == "cmd_finished" and e["directive"].startswith("for i")
                             for e in api.events("fast")), 60, "the print command's end in the pushed log")
    eq(output_bytes(), 30000 * 100, "every line pushed")
    check(not any(e["event"] == "cmd_finished" and e["directive"] == "sleep 12" for e in api.events("fast")),
          "the whole output was pushed while the job still slept")
    expect_exit(a, 0, "JOB_FINISHED", timeout=60)


@case
def sync_outage_mid_job(sb, api):
    api.add_job("o", {"commands": cmds("echo before", "sleep 4", "echo after")})
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    a = Agent(sb, api)
    api.wait_for(lambda: any("before" in (e.get("output") or "") for e in api.logs.get("o", [])), 30, "job to start")
    api.set_down(True)
    time.sleep(3)  # the outage itself: a duration, not a wait for a condition
    api.set_down(False)
    expect_exit(a, 0, "JOB_FINISHED", timeout=60)
    assert_clean_log(api, "o", ["before\n", "after\n"])


@case
def config_file_env_vars_and_hooks(sb, api):
    pre = sb.write("pre.sh", "echo pre-hook-ran\n")
    post = sb.write("post.sh", "echo post-hook-ran\n")
    hook = sb.write("shutdown.sh", 'echo -n "$SEMAPHORE_AGENT_SHUTDOWN_REASON" > %s\necho "hook says $SEMAPHORE_AGENT_SHUTDOWN_REASON"\n' % sb.path("shutdown-reason"))
    cfg = sb.write("agent.yaml", "\n".join([
        "endpoint: %s" % api.endpoint, "token: %s" % REG_TOKEN, "no-https: true",
        "name: config-file-agent", "disconnect-after-job: true",
        "pre-job-hook-path: %s" % pre, "post-job-hook-path: %s" % post,
        "shutdown-hook-path: %s" % hook,
        "env-vars:", "  - FROM_AGENT=agent value", "  - SHARED=agent wins", ""]))
    api.add_job("c", {"commands": cmds('echo "$FROM_AGENT|$SHARED|$FROM_JOB"'),
                      "env_vars": [{"name": "SHARED", "value": b64("job")},
                                   {"name": "FROM_JOB", "value": b64("job value")}]})
    a = Agent(sb, api, ["--config-file", cfg], with_defaults=False)
    expect_exit(a, 0, "JOB_FINISHED")
    eq(api.find("/register")[0].json["name"], "config-file-agent", "name from the file")
    assert_clean_log(api, "c", ["agent value|agent wins|job value\n", "pre-hook-ran\n", "post-hook-ran\n"])


@case
def failing_pre_hook(sb, api):
    pre = sb.write("pre.sh", "echo failing; exit 3\n")
    api.add_job("p1", {"commands": cmds("echo ran-1")})
    api.add_job("p2", {"commands": cmds("echo ran-2")})
    a = Agent(sb, api, ["--pre-job-hook-path", pre])
    api.wait_for(lambda: any(s["state"] == "finished-job" and s["job_id"] == "p1" for s in api.syncs()), 30, "p1")
    assert_clean_log(api, "p1", ["ran-1\n", "to proceed with the job even if the pre-job hook fails"])
    api.push_action("shutdown", shutdown_reason="requested")
    expect_exit(a, 0, "REQUESTED")
    b_sb = Sandbox()
    try:
        api.pending.append("p2")
        api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
        b = Agent(b_sb, api, ["--pre-job-hook-path", pre, "--fail-on-pre-job-hook-error"])
        expect_exit(b, 0, "JOB_FINISHED")
        ev = api.events("p2")
        eq(ev[-1]["result"], "failed", "a failing hook fails the job")
        check(not any("ran-2" in (e.get("output") or "") for e in ev), "commands did not run")
    finally:
        b_sb.close()


def _refused(sb, args, env_extra, text):
    env = sb.env(**env_extra)
    p = subprocess.run([agent_bin(), "start"] + args, capture_output=True, text=True, env=env, timeout=20)
    eq(p.returncode, 78, "exit status for %r: %s" % (args, p.stderr))
    check(text in p.stderr, "%r in %r" % (text, p.stderr))


@case
def refused_configurations(sb, api):
    base = ["--endpoint", api.endpoint, "--token", "x"]
    _refused(sb, base + ["--what-is-this", "1"], {}, "Unrecognized option 'what-is-this'. Exiting...")
    _refused(sb, base + ["--upload-job-logs", "sometimes"], {}, "upload-job-logs: 'sometimes'")
    _refused(sb, base + ["--name", "short"], {}, "name: 'short' must be 8 to 80 characters")
    _refused(sb, ["--token", "x"], {}, "endpoint: required")
    _refused(sb, ["--endpoint", "e"], {}, "token: required")
    _refused(sb, base, {"SEMAPHORE_AGENT_UPLOAD_JOB_LOGS": "maybe"}, "upload-job-logs: 'maybe'")
    cfg = sb.write("bad.yaml", "endpoint: e\ntoken: t\nunknown-key: 1\n")
    _refused(sb, ["--config-file", cfg], {}, "Unrecognized option 'unknown-key'. Exiting...")
    # No Kubernetes executor: its settings are refused, by start and check-config alike.
    k8s = "the Kubernetes executor is not supported"
    own = "jobs would otherwise run in the agent's own environment"
    for args, env_extra, key in (
            (["--kubernetes-executor"], {}, "kubernetes-executor"),
            ([], {"SEMAPHORE_AGENT_KUBERNETES_EXECUTOR": "true"}, "kubernetes-executor"),
            (["--kubernetes-pod-start-timeout", "60"], {}, "kubernetes-pod-start-timeout"),
            (["--config-file", sb.write("k8s.yaml", "kubernetes-default-image: alpine\n")], {},
             "kubernetes-default-image")):
        for cmd in ("start", "check-config"):
            p = subprocess.run([agent_bin(), cmd] + base + args, capture_output=True, text=True,
                               env=sb.env(**env_extra), timeout=20)
            eq(p.returncode, 78, "%s %r exits 78: %s" % (cmd, args, p.stderr))
            check(p.stderr.startswith(key + ": " + k8s) and own in p.stderr, "%s %r says why: %r" % (cmd, args, p.stderr))
    # Their defaults, written out, are fine.
    ok = sb.write("k8s-defaults.yaml", "kubernetes-executor: false\nkubernetes-pod-start-timeout: 300\n")
    p = subprocess.run([agent_bin(), "check-config"] + base + ["--config-file", ok], capture_output=True,
                       text=True, env=sb.env(), timeout=20)
    eq(p.returncode, 0, "defaults accepted: " + p.stderr)
    eq(api.find("/register"), [], "nothing was registered")


tls_case = fake_api_case(CASES, tls=True)


@tls_case
def https_with_ssl_cert_file(sb, api):
    api.add_job("t", {"commands": cmds("echo over tls")})
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    hook = sb.write("shutdown.sh", 'echo -n "$SEMAPHORE_AGENT_SHUTDOWN_REASON" > %s\n' % sb.path("shutdown-reason"))
    a = Agent(sb, api, ["--endpoint", api.endpoint, "--token", REG_TOKEN, "--shutdown-hook-path", hook],
              env=sb.env(SSL_CERT_FILE=api.ca_file), with_defaults=False)
    rc = a.wait(40)
    eq(rc, 0, "exit status\n" + a.output())
    eq(a.reason(), "JOB_FINISHED", "reason")
    assert_clean_log(api, "t", ["over tls\n"])


@tls_case
def https_with_ssl_cert_dir(sb, api):
    """The CA only in SSL_CERT_DIR (a hashed directory), the bundle without it:
    the agent trusts the directory as OpenSSL's own programs do."""
    api.add_job("t", {"commands": cmds("echo over tls")})
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    ca_dir = sb.path("ca-dir")
    os.makedirs(ca_dir)
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", api.ca_file], capture_output=True,
                       text=True, check=True).stdout.strip()
    shutil.copy(api.ca_file, os.path.join(ca_dir, h + ".0"))
    a = Agent(sb, api, ["--endpoint", api.endpoint, "--token", REG_TOKEN],
              env=sb.env(SSL_CERT_FILE="/etc/ssl/certs/ca-certificates.crt", SSL_CERT_DIR=ca_dir),
              with_defaults=False)
    rc = a.wait(40)
    eq(rc, 0, "exit status\n" + a.output())
    assert_clean_log(api, "t", ["over tls\n"])


@tls_case
def https_untrusted_certificate_refused(sb, api):
    a = Agent(sb, api, ["--endpoint", api.endpoint, "--token", REG_TOKEN],
              env=sb.env(SSL_CERT_FILE="/etc/ssl/certs/ca-certificates.crt"), with_defaults=False)
    try:
        wait_for(lambda: "Register attempt 2 failed" in a.output(), 20, "two refused registrations")
    finally:
        a.kill()
    out = a.output()
    check("certificate" in out.lower() or "SSL" in out, "the log says why:\n" + out)
    eq(api.find("/register"), [], "no request got through")


@case
def log_file_and_url_name(sb, api):
    log_file = sb.path("agent-file.log")
    api.push_action("shutdown", shutdown_reason="requested")
    url_name = "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
    a = Agent(sb, api, ["--name", url_name], env=sb.env(SEMAPHORE_AGENT_LOG_FILE_PATH=log_file))
    # --name given twice: the later flag wins
    expect_exit(a, 0, "REQUESTED")
    eq(api.find("/register")[0].json["name"], url_name, "the URL is sent as the name")
    with open(log_file) as f:
        lines = f.read().splitlines()
    import re
    pattern = re.compile(r"^[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d\.\d{3} \S+ : .+$")
    check(lines and all(pattern.match(l) for l in lines), "log file lines in the documented format:\n" + "\n".join(lines))
    check(any("assigned-name-from-url : " in l for l in lines), "the API's name is used after register")


LOG_LINE = r"^[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d\.\d{3} \S+ : .+$"


@case
def default_log_file(sb, api):
    """Without SEMAPHORE_AGENT_LOG_FILE_PATH the log also goes to $TMPDIR/agent_log, 0600."""
    import re
    default = os.path.join(sb.tmp, "agent_log")
    # An old log of ours, too open: kept, appended to, and closed down to 0600.
    with open(default, "w") as f:
        f.write("an older line\n")
    os.chmod(default, 0o644)
    api.push_action("shutdown", shutdown_reason="requested")
    a = Agent(sb, api)
    expect_exit(a, 0, "REQUESTED")
    st = os.stat(default)
    eq(oct(st.st_mode & 0o7777), oct(0o600), "mode of %s" % default)
    with open(default) as f:
        lines = f.read().splitlines()
    eq(lines[0], "an older line", "appended, not truncated")
    check(len(lines) > 2 and all(re.match(LOG_LINE, l) for l in lines[1:]),
          "log lines in the documented format:\n" + "\n".join(lines))
    check(any("test-agent-001 : " in l for l in lines), "the agent's name in the lines")
    check("hook says REQUESTED" in "\n".join(lines), "the shutdown hook's output is in the file too")

    # A link planted at the default path is not followed; the agent says so and runs on.
    os.unlink(default)
    victim = sb.write("victim.txt", "untouched\n", mode=0o644)
    os.symlink(victim, default)
    api.push_action("shutdown", shutdown_reason="requested")
    a = Agent(sb, api)
    expect_exit(a, 0, "REQUESTED")
    with open(victim) as f:
        eq(f.read(), "untouched\n", "the link's target is untouched")
    eq(os.stat(victim).st_mode & 0o7777, 0o644, "the link's target keeps its mode")
    check("Cannot open the default log file %s" % default in a.output(), "the agent says why:\n" + a.output())


class Proxy:
    """A plain-HTTP forward proxy on 127.0.0.1 that records the absolute URLs it is asked for."""

    def __init__(self):
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit
        self.urls = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                proxy.urls.append((self.command, self.path))
                u = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-connection", "connection", "host")}
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
                try:
                    c.request(self.command, u.path + ("?" + u.query if u.query else ""), body=body,
                              headers=headers)
                    r = c.getresponse()
                    data = r.read()
                finally:
                    c.close()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
              "no_proxy", "NO_PROXY")


def _env_with_proxies(sb, **proxies):
    env = sb.env()
    for k in PROXY_VARS:
        env.pop(k, None)
    env.update(proxies)
    return env


@case
def uppercase_http_proxy(sb, api):
    """HTTP_PROXY carries plain-HTTP API traffic (libcurl alone reads only http_proxy);
    http_proxy wins when both are set; NO_PROXY still applies."""
    upper, lower = Proxy(), Proxy()
    try:
        api.add_job("via-proxy", {"commands": cmds("echo through the proxy")})
        api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
        a = Agent(sb, api, ["--disconnect-after-job"], env=_env_with_proxies(sb, HTTP_PROXY=upper.url))
        expect_exit(a, 0, "JOB_FINISHED")
        assert_clean_log(api, "via-proxy", ["through the proxy\n"])
        base = "http://%s/api/v1/self_hosted_agents" % api.endpoint
        check(("POST", base + "/register") in upper.urls, "register went through HTTP_PROXY: %r" % upper.urls)
        check(any(u.startswith("http://%s/" % api.endpoint) and "/logs/via-proxy" in u for _, u in upper.urls),
              "the job log went through it too: %r" % upper.urls)
        eq(len(upper.urls), len(api.requests), "every API request went through the proxy")

        n = len(upper.urls)
        api.push_action("shutdown", shutdown_reason="requested")
        a = Agent(sb, api, env=_env_with_proxies(sb, HTTP_PROXY=upper.url, http_proxy=lower.url))
        expect_exit(a, 0, "REQUESTED")
        eq(len(upper.urls), n, "http_proxy wins over HTTP_PROXY")
        check(("POST", base + "/register") in lower.urls, "register went through http_proxy: %r" % lower.urls)

        m = len(api.requests)
        api.push_action("shutdown", shutdown_reason="requested")
        a = Agent(sb, api, env=_env_with_proxies(sb, HTTP_PROXY=upper.url, NO_PROXY="127.0.0.1"))
        expect_exit(a, 0, "REQUESTED")
        eq(len(upper.urls), n, "NO_PROXY keeps the API direct")
        check(len(api.requests) > m, "the agent reached the API directly")
    finally:
        upper.stop()
        lower.stop()


@case
def trimmed_log_uploaded(sb, api):
    bindir = sb.path("bin")
    os.makedirs(bindir)
    record = sb.path("artifact-calls")
    sb.write("bin/artifact", "#!/bin/sh\n"
             'echo "$@ token=$SEMAPHORE_ARTIFACT_TOKEN job=$SEMAPHORE_JOB_ID" >> %s\n'
             'cp "$3" %s\n' % (record, sb.path("uploaded.txt")), mode=0o755)
    api.log_max_events = 6
    api.add_job("tr", {"commands": cmds("echo one", "echo two", "echo three"),
                       "env_vars": [{"name": "SEMAPHORE_ARTIFACT_TOKEN", "value": b64("art-token")},
                                    {"name": "SEMAPHORE_JOB_ID", "value": b64("tr")}]})
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    env = sb.env(PATH=bindir + ":" + os.environ["PATH"])
    a = Agent(sb, api, ["--upload-job-logs", "when-trimmed"], env=env)
    expect_exit(a, 0, "JOB_FINISHED")
    check(len(api.events("tr")) <= 6, "the API kept at most its limit")
    with open(record) as f:
        calls = f.read()
    check("push job " in calls and "-d agent/job_logs.txt token=art-token job=tr" in calls, calls)
    with open(sb.path("uploaded.txt")) as f:
        text = f.read()
    check("echo three\nthree\n" in text, "plain-text log has directives and output:\n" + text)


@case
def interruption_not_acted_on(sb, api):
    """The API keeps answering `continue`: grace (1 s) + 30 s later the agent stops the job itself."""
    api.add_job("n", {"commands": cmds("echo begin; sleep 300")})
    a = Agent(sb, api, ["--interruption-grace-period", "1"])
    api.wait_for(lambda: any("begin" in (e.get("output") or "") for e in api.logs.get("n", [])), 30, "job to start")
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    expect_exit(a, 0, "INTERRUPTED", timeout=60)
    elapsed = time.monotonic() - t0
    check(30 < elapsed < 45, "stopped after grace + 30 s, took %.1f s" % elapsed)
    assert_clean_log(api, "n", ["begin\n"], result="stopped")
    check(any(s["state"] == "finished-job" and s["job_result"] == "stopped" for s in api.syncs()),
          "the stopped job is reported before disconnecting")


@case
def worker_killed_then_next_job(sb, api):
    """A dying worker fails its job, never the agent; the next job runs."""
    secs = "%d" % (int(time.time() * 1000) % 100000000 + 10000000)
    api.add_job("dies", {"commands": cmds("echo begin; sleep %s" % secs)})
    api.add_job("after", {"commands": cmds("echo next job")})
    a = Agent(sb, api, ["--job-cgroup-parent", "none"])
    api.wait_for(lambda: any("begin" in (e.get("output") or "") for e in api.logs.get("dies", [])), 30, "job to start")
    workers = [p for p in processes_matching("semaphore-agent-worker")
               if str(a.proc.pid) in open("/proc/%d/stat" % p).read().split(")")[1].split()[1:2]]
    eq(len(workers), 1, "one worker of this agent")
    os.kill(workers[0], signal.SIGKILL)
    api.wait_for(lambda: any(s["state"] == "finished-job" and s["job_id"] == "after" for s in api.syncs()), 40,
                 "the next job to finish")
    ev = api.events("dies")
    eq(ev[-1]["result"], "failed", "the job of the dead worker failed")
    check(any("worker process was killed by signal 9" in (e.get("output") or "") for e in ev), "says why")
    assert_clean_log(api, "after", ["next job\n"])
    wait_for(lambda: not processes_matching("sleep " + secs), 10, "the dead job's processes to be killed")
    api.push_action("shutdown", shutdown_reason="requested")
    expect_exit(a, 0, "REQUESTED")
    eq(a.output().count("Jobs run without a cgroup"), 1, "the missing cgroup is said once:\n" + a.output())


def cannot_run_log(api, job_id):
    """The log of a job that could not run: job_started, one step "Setting up
    the job" that failed, job_finished failed. Returns the step's output."""
    ev = api.events(job_id)
    eq([e["event"] for e in ev[:2]] + [e["event"] for e in ev[-2:]],
       ["job_started", "cmd_started", "cmd_finished", "job_finished"], "the shape of the log: %r" % ev)
    eq(ev[1]["directive"], "Setting up the job", "the step's name")
    eq((ev[-2]["directive"], ev[-2]["exit_code"]), ("Setting up the job", 1), "the step failed")
    eq(ev[-1]["result"], "failed", "the job failed")
    check(all(e["event"] == "cmd_output" for e in ev[2:-2]), "only output in the step: %r" % ev)
    return "".join(e["output"] for e in ev[2:-2])


@case
def job_that_cannot_run_gets_a_log(sb, api):
    """Limits this host cannot apply: the agent warns once at start-up, and
    each job's log says why it did not run (issue 22), so the operator sees
    it in Semaphore's UI, not only in the agent's journal."""
    parent = sb.path("no-such-cgroup")
    api.add_job("limited1", {"commands": cmds("echo should-not-run")})
    api.add_job("limited2", {"commands": cmds("echo should-not-run")})
    a = Agent(sb, api, ["--job-pids-max", "40", "--job-cgroup-parent", parent])
    try:
        for job in ("limited1", "limited2"):
            api.wait_for(lambda: any(s["state"] == "finished-job" and s["job_id"] == job and
                                     s.get("job_result") == "failed" for s in api.syncs()), 30,
                         "job %s reported failed" % job)
            out = cannot_run_log(api, job)
            for text in ("This agent cannot run the job", "job-pids-max",
                         "cannot create the job cgroup %s/semaphore-job-" % parent,
                         "No such file or directory"):
                check(text in out, "%r in the job's log:\n%s" % (text, out))
            check("should-not-run" not in out, "no command ran")
        api.push_action("shutdown", shutdown_reason="requested")
        expect_exit(a, 0, "REQUESTED")
        log = a.output()
        eq(log.count("job-pids-max cannot be applied on this host"), 1,
           "the start-up warning, once:\n" + log)
        check(log.index("cannot be applied on this host") < log.index("Received job limited1"),
              "it comes before any job:\n" + log)
        check("Jobs run without a cgroup" not in log, "no claim that jobs run anyway:\n" + log)
    finally:
        a.kill()


@case
def unusable_job_request_gets_a_log(sb, api):
    """A job request with a broken field cannot run; when its logger is
    intact, the log says which field (the API sees why in the UI)."""
    api.add_job("badreq", {"env_vars": [{"name": "A", "value": "%%%"}],
                           "commands": cmds("echo should-not-run")})
    api.add_job("fine", {"commands": cmds("echo next job")})
    a = Agent(sb, api, ["--job-cgroup-parent", "none"])
    try:
        api.wait_for(lambda: any(s["state"] == "finished-job" and s["job_id"] == "fine"
                                 for s in api.syncs()), 30, "the next job to finish")
        check(any(s["state"] == "finished-job" and s["job_id"] == "badreq" and
                  s.get("job_result") == "failed" for s in api.syncs()), "the bad job is reported failed")
        out = cannot_run_log(api, "badreq")
        check("the job request is not usable: env_vars[0].value: not valid base64" in out,
              "the field and the problem:\n" + out)
        assert_clean_log(api, "fine", ["next job\n"])
        api.push_action("shutdown", shutdown_reason="requested")
        expect_exit(a, 0, "REQUESTED")
    finally:
        a.kill()


@case
def job_without_a_job_directory_gets_a_log(sb, api):
    """A job directory that cannot be created (here TMPDIR is gone) fails the
    job; its log, kept in memory, still tells the API why."""
    gone = sb.path("gone")
    api.add_job("nodir", {"commands": cmds("echo should-not-run")})
    api.add_job("nodir2", {"commands": cmds("echo should-not-run")})
    a = Agent(sb, api, ["--job-cgroup-parent", "none"], env=sb.env(TMPDIR=gone))
    try:
        for job in ("nodir", "nodir2"):
            api.wait_for(lambda: any(s["state"] == "finished-job" and s["job_id"] == job and
                                     s.get("job_result") == "failed" for s in api.syncs()), 30,
                         "job %s reported failed" % job)
            out = cannot_run_log(api, job)
            check("cannot create a job directory under %s" % gone in out, "the cause:\n" + out)
        api.push_action("shutdown", shutdown_reason="requested")
        expect_exit(a, 0, "REQUESTED")
    finally:
        a.kill()
