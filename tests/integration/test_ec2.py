"""EC2 spot and scale-in notices in `semaphore-agent start`, against the fake
API and a fake IMDSv2 on 127.0.0.1 (fake_imds.py). No case ever lets the
agent near 169.254.169.254: each points AWS_EC2_METADATA_SERVICE_ENDPOINT at
127.0.0.1 or keeps AWS_EC2_METADATA_DISABLED=true (the harness default).
The list `ec2_cases` in meson.build must match CASES (meson_list_in_sync)."""
import json
import os
import re
import subprocess
import time

from fake_api import FakeApi
from fake_imds import LIFECYCLE, SPOT, FakeImds, closed_port_url, iso
from harness import (check_meson_list, Failure, Sandbox, agent_bin, build_dir, check, eq,
                     unique_seconds, wait_for)
from test_start import Agent, assert_clean_log, cmds, expect_exit

CASES = {}


class Skip(Exception):
    pass


def ec2_case(fn):
    def wrapped():
        sb, api, imds = Sandbox(), FakeApi(), FakeImds()
        try:
            fn(sb, api, imds)
            eq(sb.leftover_job_dirs(), [], "job directories must be removed")
        finally:
            imds.stop()
            api.stop()
            sb.close()
    CASES[fn.__name__] = wrapped
    return fn


class Ec2Agent(Agent):
    """An agent whose shutdown hook also records SEMAPHORE_AGENT_INTERRUPTION_SOURCE
    ("unset" when absent). endpoint=None leaves the variable out."""

    def __init__(self, sb, api, endpoint, args=(), disabled="", **env):
        self.source_file = sb.path("interruption-source")
        hook = sb.write("ec2-hook.sh",
                        'echo "hook says $SEMAPHORE_AGENT_SHUTDOWN_REASON"\n'
                        'echo -n "$SEMAPHORE_AGENT_SHUTDOWN_REASON" > %s\n'
                        'echo -n "${SEMAPHORE_AGENT_INTERRUPTION_SOURCE-unset}" > %s\n'
                        % (sb.path("shutdown-reason"), self.source_file))
        e = sb.env(AWS_EC2_METADATA_DISABLED=disabled, **env)
        if endpoint is not None:
            e["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = endpoint
        self.control = sb.path("agent.sock")
        super().__init__(sb, api, list(args) + ["--shutdown-hook-path", hook,
                                                "--control-socket", self.control], env=e)

    def source(self):
        try:
            with open(self.source_file) as f:
                return f.read()
        except OSError:
            return None

    def wait_log(self, needle, timeout=20, count=1):
        wait_for(lambda: self.output().count(needle) >= count or self.proc.poll() is not None,
                 timeout, "%d x %r in the agent log" % (count, needle), dump=self.output)
        if self.output().count(needle) < count:
            raise Failure("the agent exited before logging %r:\n%s" % (needle, self.output()))


def job_started(api, job_id):
    return lambda: any("begin" in (e.get("output") or "") for e in api.logs.get(job_id, []))


def finished_sync(api, job_id):
    return [r for r in api.find("/sync") if r.json["state"] == "finished-job" and r.json["job_id"] == job_id]


def spot_notice(seconds_left, action="terminate"):
    return {"action": action, "time": iso(time.time() + seconds_left)}


def agentctl_status(sock):
    p = subprocess.run([os.path.join(build_dir(), "daemon", "agentctl"), "--socket", sock, "status", "--json"],
                       capture_output=True, text=True, timeout=15)
    check(p.returncode == 0, "agentctl status failed: %s %s" % (p.stdout, p.stderr))
    return json.loads(p.stdout)


@ec2_case
def notice_while_idle(sb, api, imds):
    """Idle: the agent tells the API and disconnects (INTERRUPTED, spot), and
    takes no job offered after the notice."""
    api.next_sync_after = 60000  # after the first sync, only the notice makes the agent sync
    a = Ec2Agent(sb, api, imds.url)
    imds.wait_for(lambda: imds.find(SPOT, status=404), 20, "the first spot poll")
    a.wait_log("EC2 lifecycle watch: on")
    api.wait_for(lambda: api.find("/sync"), 20, "a first sync")
    # The sync that reports the notice is answered with this job: refused.
    api.add_job("late", {"commands": cmds("echo must-not-run")})
    t0 = time.monotonic()
    imds.set(spot_action=spot_notice(120))
    expect_exit(a, 0, "INTERRUPTED", timeout=30)
    eq(api.pending, [], "the job was offered")
    elapsed = time.monotonic() - t0
    check(elapsed < 5 + 10, "gone %.1f s after the notice appeared (poll 5 s + one sync)" % elapsed)
    eq(a.source(), "spot", "SEMAPHORE_AGENT_INTERRUPTION_SOURCE")
    interrupted = [s for s in api.syncs() if s["interrupted_at"]]
    check(interrupted, "the API heard interrupted_at:\n" + a.output())
    check(abs(interrupted[0]["interrupted_at"] - time.time()) < 60, "interrupted_at is unix seconds")
    eq(api.find("/jobs/late"), [], "no job fetched after the notice")
    eq(api.events("late"), [], "no job run after the notice")
    eq(len(api.find("/disconnect")), 1, "disconnected once")
    check("Taking no new job" in a.output(), "the log says what the agent does:\n" + a.output())
    # One notice, then no more polling.
    check(len(imds.find(SPOT, status=200)) == 1, "the notice is read once: %r" % imds.requests)


@ec2_case
def notice_mid_job(sb, api, imds):
    """A running job gets interruption-grace-period (3 s; the deadline is far),
    then is stopped; its log is pushed, the reason is INTERRUPTED."""
    secs = unique_seconds()
    api.add_job("j", {"commands": cmds("echo begin; sleep " + secs)})
    a = Ec2Agent(sb, api, imds.url, ["--interruption-grace-period", "3"])
    api.wait_for(job_started(api, "j"), 30, "the job to start")
    imds.wait_for(lambda: imds.find(SPOT, status=404), 20, "a spot poll")
    t0 = time.monotonic()
    imds.set(spot_action=spot_notice(120))
    a.wait_log("may run 3 s more")
    st = agentctl_status(a.control)
    eq(st.get("interruption_source"), "spot", "agentctl status shows the source: %r" % st)
    eq(st.get("state"), "running-job", "the job still runs in its grace period: %r" % st)
    plain = subprocess.run([os.path.join(build_dir(), "daemon", "agentctl"), "--socket", a.control, "status"],
                           capture_output=True, text=True, timeout=15).stdout
    check("Interrupted: spot notice from EC2" in plain, "plain agentctl status names the notice:\n" + plain)
    api.wait_for(lambda: finished_sync(api, "j"), 30, "the job to be reported")
    stopped_after = finished_sync(api, "j")[0].time - t0
    check(2.5 < stopped_after < 3 + 5 + 6, "stopped %.1f s after the notice appeared (grace 3 s, poll 5 s)"
          % stopped_after)
    expect_exit(a, 0, "INTERRUPTED", timeout=30)
    eq(a.source(), "spot", "SEMAPHORE_AGENT_INTERRUPTION_SOURCE")
    assert_clean_log(api, "j", ["begin\n"], result="stopped")
    eq(finished_sync(api, "j")[0].json["job_result"], "stopped", "job_result")
    check(any(s["interrupted_at"] and s["state"] == "running-job" for s in api.syncs()),
          "the API heard of the interruption while the job ran")
    wait_for(lambda: not [p for p in os.listdir("/proc") if p.isdigit() and secs in _cmdline(p)], 10,
             "the job's processes to be gone")


def _cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


@ec2_case
def notice_with_30s_left_caps_grace(sb, api, imds):
    """interruption-grace-period 600 s, but the notice gives 30 s: the job is
    stopped at the deadline minus 15 s, long before the grace would end."""
    api.add_job("c", {"commands": cmds("echo begin; sleep " + unique_seconds())})
    a = Ec2Agent(sb, api, imds.url, ["--interruption-grace-period", "600"])
    api.wait_for(job_started(api, "c"), 30, "the job to start")
    imds.wait_for(lambda: imds.find(SPOT, status=404), 20, "a spot poll")
    deadline = time.time() + 30
    t0 = time.monotonic()
    imds.set(spot_action={"action": "terminate", "time": iso(deadline)})
    deadline_mono = t0 + (deadline - time.time())
    a.wait_log("capped at the notice's deadline minus 15 s")
    api.wait_for(lambda: finished_sync(api, "c"), 40, "the job to be reported")
    reported = finished_sync(api, "c")[0].time
    # Stopped at deadline - 15 s (whole seconds: +-1 s), reported within a few
    # seconds of that: well before the deadline, and never after 600 s.
    check(deadline_mono - 17 < reported < deadline_mono - 8,
          "job reported %.1f s before the deadline; expected about 15 s" % (deadline_mono - reported))
    expect_exit(a, 0, "INTERRUPTED", timeout=30)
    check(time.monotonic() < deadline_mono, "the agent is gone before the deadline")
    assert_clean_log(api, "c", ["begin\n"], result="stopped")
    eq(a.source(), "spot", "SEMAPHORE_AGENT_INTERRUPTION_SOURCE")


@ec2_case
def scale_in_terminated(sb, api, imds):
    """target-lifecycle-state InService, then Terminated: a scale-in notice."""
    imds.set(lifecycle_state="InService")
    a = Ec2Agent(sb, api, imds.url)
    imds.wait_for(lambda: imds.find(LIFECYCLE, status=200), 20, "a lifecycle poll")
    api.wait_for(lambda: api.find("/sync"), 20, "a first sync")
    time_in_service = time.monotonic()
    imds.set(lifecycle_state="Terminated")
    expect_exit(a, 0, "INTERRUPTED", timeout=30)
    check(time.monotonic() - time_in_service < 15, "gone within a poll and a sync")
    eq(a.source(), "scale-in", "SEMAPHORE_AGENT_INTERRUPTION_SOURCE")
    check("EC2 Auto Scaling scale-in notice: the instance's target lifecycle state is Terminated"
          in a.output(), "the log names the notice:\n" + a.output())
    check(any(s["interrupted_at"] for s in api.syncs()), "the API heard interrupted_at")


@ec2_case
def warm_pool_launch_then_scale_in(sb, api, imds):
    """Launched into a warm pool (Warmed:Stopped before ever InService): no
    notice, jobs run. InService, then Warmed:Stopped again: a scale-in."""
    imds.set(lifecycle_state="Warmed:Stopped")
    api.add_job("w", {"commands": cmds("echo begin")})
    a = Ec2Agent(sb, api, imds.url)
    api.wait_for(lambda: finished_sync(api, "w"), 30, "the job to finish")
    assert_clean_log(api, "w", ["begin\n"], result="passed")
    imds.wait_for(lambda: len(imds.find(LIFECYCLE, status=200)) >= 2, 20, "two lifecycle polls")
    check(a.proc.poll() is None, "no notice in the warm pool:\n" + a.output())
    eq(a.output().count("target lifecycle state is Warmed:Stopped: not in service"), 1, "said once")
    n = len(imds.find(LIFECYCLE, status=200))
    imds.set(lifecycle_state="InService")
    imds.wait_for(lambda: len(imds.find(LIFECYCLE, status=200)) > n, 20, "an InService poll")
    imds.set(lifecycle_state="Warmed:Stopped")
    expect_exit(a, 0, "INTERRUPTED", timeout=30)
    eq(a.source(), "scale-in", "back to the warm pool is a scale-in")


@ec2_case
def token_expiry(sb, api, imds):
    """Tokens die after 2 s: every 401 is followed by a new token and the
    same GET again; a later notice is still seen, and nothing is 'down'."""
    imds.set(token_lifetime=2)
    a = Ec2Agent(sb, api, imds.url)
    imds.wait_for(lambda: len(imds.find(status=401)) >= 2 and imds.issued >= 3, 30,
                  "two expired tokens and two new ones")
    imds.set(spot_action=spot_notice(120))
    expect_exit(a, 0, "INTERRUPTED", timeout=30)
    eq(a.source(), "spot", "the notice is seen with a renewed token")
    reqs = imds.find()
    for i, r in enumerate(reqs):
        if r.method == "GET":
            check(r.token, "every GET carries the token header: %r" % reqs)
        if r.status == 401:
            check(i + 1 < len(reqs) and reqs[i + 1].method == "PUT",
                  "a 401 is followed by a new token at once: %r" % reqs)
    check("not answering" not in a.output(), "an expired token is not an outage:\n" + a.output())


def jobs_unaffected(sb, api, a, outage_needle):
    """Runs a job and waits for two more failed polls; the warning is logged once."""
    api.add_job("ok", {"commands": cmds("echo begin", "echo done")})
    api.wait_for(lambda: finished_sync(api, "ok"), 40, "the job to finish")
    assert_clean_log(api, "ok", ["begin\n", "done\n"], result="passed")
    a.wait_log("IMDS still not answering", timeout=30, count=2)
    eq(a.output().count(outage_needle), 1, "the outage is said exactly once:\n" + a.output())
    check(a.proc.poll() is None, "the agent is still running")


@ec2_case
def imds_down(sb, api, imds):
    """ec2-lifecycle-watch true, and nothing listens: jobs run as usual."""
    a = Ec2Agent(sb, api, closed_port_url(), ["--ec2-lifecycle-watch", "true"],
                 SEMAPHORE_AGENT_LOG_LEVEL="debug")
    jobs_unaffected(sb, api, a, "is not answering")
    api.push_action("shutdown", shutdown_reason="requested")
    expect_exit(a, 0, "REQUESTED")
    eq(a.source(), "unset", "no interruption source without a notice")


@ec2_case
def imds_slow_then_recovers(sb, api, imds):
    """IMDS hands out tokens but answers GETs only after 5 s (the agent gives
    up at 2 s): jobs run as usual, one warning, polls never overlap; when it
    answers again, one recovery line, and a notice works."""
    imds.set(get_delay=5)
    a = Ec2Agent(sb, api, imds.url, ["--ec2-lifecycle-watch", "true"], SEMAPHORE_AGENT_LOG_LEVEL="debug")
    jobs_unaffected(sb, api, a, "is not answering")
    gets = [t for t, method, _ in imds.arrived if method == "GET"]
    check(len(gets) >= 3, "three slow polls: %r" % imds.arrived)
    gaps = [b - a_ for a_, b in zip(gets, gets[1:])]
    # A poll gives up after 2 s and the next starts 5 s later: 7 s apart,
    # never overlapping a GET still waiting for its answer.
    check(min(gaps) > 6 and max(gaps) < 9, "poll spacing %r" % gaps)
    eq(len([1 for _, m, _ in imds.arrived if m == "PUT"]), 1, "one token, kept while valid")
    imds.set(get_delay=0)
    a.wait_log("answers again", timeout=30)
    eq(a.output().count("answers again"), 1, "the recovery is said once")
    imds.set(spot_action=spot_notice(120))
    expect_exit(a, 0, "INTERRUPTED", timeout=30)
    eq(a.source(), "spot", "the notice after the recovery")
    eq(a.output().count("is not answering"), 1, "one warning in all:\n" + a.output())


@ec2_case
def imds_never_through_a_proxy(sb, api, imds):
    """http_proxy/HTTP_PROXY point at a dead port: IMDS is still asked directly
    (the API is HTTPS here, so the proxy variables do not concern it)."""
    tls_api = FakeApi(tls=True)
    try:
        dead = closed_port_url()
        a = Ec2Agent(sb, tls_api, imds.url, ["--no-https=false"], SSL_CERT_FILE=tls_api.ca_file,
                     http_proxy=dead, HTTP_PROXY=dead)
        a.wait_log("EC2 lifecycle watch: on")
        tls_api.wait_for(lambda: tls_api.find("/sync"), 20, "a first sync")
        imds.set(spot_action=spot_notice(120))
        expect_exit(a, 0, "INTERRUPTED", timeout=30)
        eq(a.source(), "spot", "the notice came through without the proxy")
    finally:
        tls_api.stop()


def host_looks_like_ec2():
    for p in ("/sys/class/dmi/id/sys_vendor", "/sys/class/dmi/id/board_vendor"):
        try:
            if "Amazon EC2" in open(p).read():
                return True
        except OSError:
            pass
    try:
        return open("/sys/hypervisor/uuid").read().lower().startswith("ec2")
    except OSError:
        return False


@ec2_case
def auto_off_without_ec2(sb, api, imds):
    """auto, no EC2 DMI data and no endpoint variable: the watch is off and
    the agent never asks IMDS (it does not even try 169.254.169.254)."""
    if host_looks_like_ec2():
        raise Skip("this host is an EC2 instance: auto would probe its real IMDS")
    a = Ec2Agent(sb, api, None)
    a.wait_log("EC2 lifecycle watch: off")
    check("does not look like EC2" in a.output() and "AWS_EC2_METADATA_SERVICE_ENDPOINT is unset"
          in a.output(), "the log says why:\n" + a.output())
    eq(agentctl_status(a.control).get("ec2_lifecycle_watch"), "off", "agentctl status")
    api.push_action("shutdown", shutdown_reason="requested")
    expect_exit(a, 0, "REQUESTED")


@ec2_case
def disabled_wins_over_true(sb, api, imds):
    """AWS_EC2_METADATA_DISABLED=true turns the watch off even when set to true."""
    a = Ec2Agent(sb, api, imds.url, ["--ec2-lifecycle-watch", "true"], disabled="true")
    a.wait_log("EC2 lifecycle watch: off (AWS_EC2_METADATA_DISABLED is true)")
    api.wait_for(lambda: len(api.find("/sync")) >= 3, 20, "three syncs")
    api.push_action("shutdown", shutdown_reason="requested")
    expect_exit(a, 0, "REQUESTED")
    eq(imds.find(), [], "IMDS was never asked")


@ec2_case
def auto_off_when_imds_does_not_answer(sb, api, imds):
    """auto with an endpoint that refuses, or answers only after 5 s: off
    after the 1 s probe, and never asked again."""
    imds.set(delay=5)
    for endpoint in (closed_port_url(), imds.url):
        t0 = time.monotonic()
        a = Ec2Agent(sb, api, endpoint)
        a.wait_log("did not answer within 1 s")
        check(time.monotonic() - t0 < 10, "decided quickly")
        api.push_action("shutdown", shutdown_reason="requested")
        expect_exit(a, 0, "REQUESTED")
    imds.wait_for(lambda: imds.arrived, 10, "the probe to arrive")
    eq(len(imds.arrived), 1, "the slow IMDS was asked once, the token probe: %r" % imds.arrived)
    eq(imds.find(method="GET"), [], "no GET after an unanswered probe")


@ec2_case
def setting_parsed_and_printed(sb, api, imds):
    base = ["--endpoint", "x.example", "--token", "t"]

    def check_config(args=(), **env):
        return subprocess.run([agent_bin(), "check-config"] + base + list(args), capture_output=True,
                              text=True, env=sb.env(**env), timeout=15)

    eq(re.findall(r"^ec2-lifecycle-watch: .*$", check_config().stdout, re.M), ['ec2-lifecycle-watch: "auto"'],
       "the default")
    eq(re.findall(r"^ec2-lifecycle-watch: .*$", check_config(SEMAPHORE_AGENT_EC2_LIFECYCLE_WATCH="false").stdout,
                  re.M), ['ec2-lifecycle-watch: "false"'], "from the environment")
    cfg = sb.write("c.yaml", "ec2-lifecycle-watch: true\n")
    eq(re.findall(r"^ec2-lifecycle-watch: .*$", check_config(["--config-file", cfg]).stdout, re.M),
       ['ec2-lifecycle-watch: "true"'], "from YAML")
    p = check_config(["--ec2-lifecycle-watch", "sometimes"])
    check(p.returncode != 0 and "ec2-lifecycle-watch: 'sometimes' is not one of true, false, auto" in p.stderr,
          "a bad value is refused, naming the key: %r" % (p.stdout + p.stderr))


@ec2_case
def meson_list_in_sync(sb, api, imds):
    check_meson_list('test_ec2', CASES)
