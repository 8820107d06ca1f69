"""The agent under faults: a hanging, half-closing, lying or oversized API,
DNS failure, a supervisor killed mid-job, a full disk. Each time the agent
keeps its state and the job log arrives complete once the API is back."""
import os
import signal
import subprocess
import time

from fake_api import REG_TOKEN
from harness import (fake_api_case, rss_kb, Sandbox, agent_bin, check, eq, processes_with_argv,
                     run_job, unique_seconds, wait_for)
from test_start import Agent, assert_clean_log, cmds, expect_exit

CASES = {}


case = fake_api_case(CASES)




@case
def sync_hangs_then_recovers(sb, api):
    """A sync that never answers times out after 30 s; the job log still arrives whole."""
    api.add_job("h", {"commands": cmds("echo begin", "sleep 3", "seq 1 2000", "echo end")})
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    a = Agent(sb, api)
    api.wait_for(lambda: any(s["state"] == "running-job" for s in api.syncs()), 30, "job to run")
    api.fail("/sync", "hang")
    t0 = time.monotonic()
    expect_exit(a, 0, "JOB_FINISHED", timeout=90)
    check(time.monotonic() - t0 >= 25, "the hung sync was waited for about 30 s")
    assert_clean_log(api, "h", ["begin\n", "2000\n", "end\n"])
    check("Sync failed" in a.output() and "imeout" in a.output(), "the timeout is logged:\n" + a.output())


@case
def closed_connections_and_invalid_json(sb, api):
    api.add_job("c", {"commands": cmds("seq 1 3000", "echo end")})
    api.fail("/register", "close")
    api.fail("/sync", "close", times=2)
    api.fail("/sync", "invalid_json", times=2)
    api.fail("/jobs", "invalid_json")
    api.fail("/logs", "close", times=2)
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    a = Agent(sb, api)
    expect_exit(a, 0, "JOB_FINISHED", timeout=90)
    assert_clean_log(api, "c", ["3000\n", "end\n"])
    ev = api.events("c")
    out = "".join(e.get("output", "") for e in ev)
    check(out.count("2999\n") == 1, "no line pushed twice")


@case
def huge_response_refused(sb, api):
    api.fail("/sync", "huge")
    api.add_job("u", {"commands": cmds("echo fine")})
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    a = Agent(sb, api)
    peak = 0
    while a.proc.poll() is None:
        try:
            peak = max(peak, rss_kb(a.proc.pid))
        except OSError:
            break
        time.sleep(0.05)  # sampling interval, not a wait for a condition
    expect_exit(a, 0, "JOB_FINISHED", timeout=60)
    check("larger than" in a.output(), "the oversized answer is refused and logged:\n" + a.output())
    # AddressSanitizer's shadow memory and quarantine add their own share.
    bound = 192 * 1024 if os.environ.get("SA_SANITIZED") else 64 * 1024
    check(peak < bound, "memory stayed bounded: peak RSS %d KiB" % peak)
    assert_clean_log(api, "u", ["fine\n"])


@case
def dns_failure(sb, api):
    a = Agent(sb, api, ["--endpoint", "no-such-host.invalid", "--no-https", "--token", REG_TOKEN],
              with_defaults=False)
    try:
        wait_for(lambda: "Register attempt 2 failed" in a.output(), 30, "two failed attempts", dump=a.output)
    finally:
        a.kill()
    check("resolve" in a.output().lower(), "the log says the name did not resolve:\n" + a.output())


@case
def supervisor_killed_mid_job(sb, api):
    secs = unique_seconds()
    api.add_job("k1", {"commands": cmds("echo begin; sleep %s" % secs)})
    a = Agent(sb, api)
    api.wait_for(lambda: any("begin" in (e.get("output") or "") for e in api.logs.get("k1", [])), 30, "job")
    a.proc.send_signal(signal.SIGKILL)
    a.wait(10)
    # The orphaned worker notices, ends the job and cleans up after itself.
    wait_for(lambda: not processes_with_argv(["sleep", secs]), 15, "the old job's processes to be killed")
    wait_for(lambda: not processes_with_argv([os.path.join(os.path.dirname(agent_bin()), "..", "worker", "semaphore-agent-worker")])
             and not [d for d in os.listdir(sb.tmp) if d.startswith("semaphore-job-")], 15,
             "the old worker and job directory to be gone")
    # A new agent registers and runs the next job.
    api.add_job("k2", {"commands": cmds("echo second agent")})
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    b_sb = Sandbox()
    try:
        b = Agent(b_sb, api)
        expect_exit(b, 0, "JOB_FINISHED", timeout=60)
    finally:
        b_sb.close()
    eq(len(api.find("/register")), 2, "registered again")
    assert_clean_log(api, "k2", ["second agent\n"])


@case
def disk_full(sb, api):
    mnt = sb.path("small")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt], check=True)
    try:
        r = run_job(sb, {"commands": cmds("seq 1 200000", "echo after")}, env=sb.env(TMPDIR=mnt), timeout=60)
        eq(r.code, 1, "the job fails", r)
        check("cannot be written" in r.stderr and "No space left on device" in r.stderr,
              "a clear message", r)
        eq(run_job(sb, {"commands": cmds("echo ok")}).result(), "passed", "the next job runs")
    finally:
        subprocess.run(["umount", "-l", mnt])


@case
def unable_to_sync(sb, api):
    """No successful sync for the give-up time (10 minutes by default, 5 s here): exit 1."""
    a = Agent(sb, api, [], env=sb.env(SEMAPHORE_AGENT_UNABLE_TO_SYNC_SECONDS="5"))
    api.wait_for(lambda: api.find("/sync"), 20, "a first sync")
    api.set_down(True)
    wait_for(lambda: "Shutting down: UNABLE_TO_SYNC" in a.output(), 40, "UNABLE_TO_SYNC", dump=a.output)
    api.set_down(False)  # the disconnect (retried up to 100 times) then goes through
    expect_exit(a, 1, "UNABLE_TO_SYNC", timeout=40)
    check(api.find("/disconnect"), "a disconnect was attempted")
