"""agentctl over the control socket, SIGQUIT, sd_notify and journald lines."""
import grp
import json
import os
import signal
import socket
import stat
import subprocess
import time

from harness import fake_api_case, build_dir, check, eq, wait_for
from test_start import Agent, assert_clean_log, cmds, expect_exit

CASES = {}


def agentctl(*args, sock=None, timeout=15):
    argv = [os.path.join(build_dir(), "daemon", "agentctl")]
    if sock:
        argv += ["--socket", sock]
    return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=timeout)


case = fake_api_case(CASES)


def start(sb, api, extra=()):
    sock = sb.path("agent.sock")
    a = Agent(sb, api, ["--control-socket", sock] + list(extra))
    wait_for(lambda: os.path.exists(sock), 20, "the control socket", dump=a.output)
    return a, sock


@case
def status_idle_and_running(sb, api):
    a, sock = start(sb, api)
    try:
        api.wait_for(lambda: api.find("/sync"), 20, "a sync")
        eq(stat.S_IMODE(os.stat(sock).st_mode), 0o660, "socket mode")
        r = agentctl("status", "--json", sock=sock)
        eq(r.returncode, 0, "exit status: " + r.stderr)
        wait_for(lambda: json.loads(agentctl("status", "--json", sock=sock).stdout)["last_sync_at"], 10,
                 "a successful sync to be recorded")
        st = json.loads(agentctl("status", "--json", sock=sock).stdout)
        for k in ("name", "version", "state", "job_id", "job_running_seconds", "last_sync_at",
                  "last_error", "uptime_seconds", "jobs", "endpoint"):
            check(k in st, "status has %s: %r" % (k, st))
        eq(st["name"], "test-agent-001", "name")
        eq(st["state"], "waiting-for-jobs", "idle state")
        eq(st["endpoint"], api.endpoint, "endpoint")
        check(st["last_sync_at"] and abs(st["last_sync_at"] - time.time()) < 30, "last sync time")
        api.add_job("ctl", {"commands": cmds("echo begin; sleep 30")})
        api.wait_for(lambda: any("begin" in (e.get("output") or "") for e in api.logs.get("ctl", [])), 30, "job")
        st = json.loads(agentctl("status", "--json", sock=sock).stdout)
        eq((st["state"], st["job_id"]), ("running-job", "ctl"), "running state")
        human = agentctl("status", sock=sock)
        eq(human.returncode, 0, "human status")
        for text in ("Name:        test-agent-001", "State:       running-job", "Job:         ctl (running for"):
            check(text in human.stdout, "%r in:\n%s" % (text, human.stdout))
        api.push_action("stop-job", job_id="ctl")
        api.wait_for(lambda: any(s["state"] == "finished-job" for s in api.syncs()), 20, "stopped")
        wait_for(lambda: json.loads(agentctl("status", "--json", sock=sock).stdout)["jobs"]["stopped"] == 1,
                 10, "the stopped job to be counted")
    finally:
        api.push_action("shutdown", shutdown_reason="requested")
        expect_exit(a, 0, "REQUESTED")
    check(not os.path.exists(sock), "the socket is removed on exit")


@case
def drain_finishes_job_then_disconnects(sb, api):
    api.finished_answer = {"action": "continue"}  # the API would keep the agent
    api.add_job("d1", {"commands": cmds("echo begin", "sleep 2", "echo end")})
    api.add_job("d2", {"commands": cmds("echo never")})
    a, sock = start(sb, api)
    api.wait_for(lambda: any("begin" in (e.get("output") or "") for e in api.logs.get("d1", [])), 30, "job")
    r = agentctl("drain", sock=sock)
    eq(r.returncode, 0, "drain: " + r.stderr)
    check("draining" in r.stdout, r.stdout)
    expect_exit(a, 0, "REQUESTED", timeout=40)
    assert_clean_log(api, "d1", ["begin\n", "end\n"])
    eq(api.events("d2"), [], "no new job after drain")


@case
def sigquit_drains(sb, api):
    a, sock = start(sb, api)
    api.wait_for(lambda: api.find("/sync"), 20, "a sync")
    a.proc.send_signal(signal.SIGQUIT)
    expect_exit(a, 0, "REQUESTED")


@case
def bad_requests_do_not_disturb(sb, api):
    a, sock = start(sb, api)
    try:
        api.wait_for(lambda: api.find("/sync"), 20, "a sync")
        for payload in (b"not json\n", b"[1,2]\n", b'{"command":"reboot"}\n', b"{}\n", b"\xff\xfe\n"):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(sock)
            s.sendall(payload)
            reply = json.loads(s.makefile().readline())
            s.close()
            eq(reply["ok"], False, "error reply for %r" % payload)
            check(reply["error"], "with a message")
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        try:
            s.sendall(b"x" * (200 * 1024))  # no newline, too long
        except OSError:
            pass
        s.close()
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)  # a client that says nothing and goes
        s.close()
        r = agentctl("status", "--json", sock=sock)
        eq(r.returncode, 0, "still answers: " + r.stderr)
        r = agentctl("frobnicate", sock=sock)
        eq(r.returncode, 2, "unknown agentctl command")
    finally:
        api.push_action("shutdown", shutdown_reason="requested")
        expect_exit(a, 0, "REQUESTED")


@case
def no_agent(sb, api):
    r = agentctl("status", sock=sb.path("nothing.sock"))
    eq(r.returncode, 3, "exit status")
    check("no agent is listening on " + sb.path("nothing.sock") in r.stderr, r.stderr)
    r = agentctl("--help")
    eq(r.returncode, 0, "--help")
    check("Usage: agentctl" in r.stdout, r.stdout)


@case
def socket_path_too_long(sb, api):
    """A path that does not fit a sockaddr_un is named as such, before any
    socket is made (the socket used to be left open on this path)."""
    path = sb.path("d" * 120 + "/" + "s" * 120 + ".sock")
    r = agentctl("status", sock=path)
    eq(r.returncode, 3, "exit status")
    eq(r.stderr.strip(), "agentctl: socket path too long: " + path, "message")


@case
def permission_denied_is_not_no_agent(sb, api):
    """A user outside the socket's group is told so, not that no agent is
    listening (issue 22): first with the socket itself refused (0660), then
    with its directory not searchable (0750, as /run/semaphore-agent is)."""
    if os.geteuid() != 0:
        print("not root: agentctl as another user not exercised")
        return
    from test_sandbox import TEST_USER, ensure_user
    ensure_user()
    group = "adm"  # a Debian group the test user is not in
    gid = grp.getgrnam(group).gr_gid
    check(TEST_USER not in grp.getgrnam(group).gr_mem, "%s is not in group %s" % (TEST_USER, group))
    os.chmod(sb.root, 0o711)
    rundir = sb.path("run")
    os.makedirs(rundir)
    os.chmod(rundir, 0o755)
    os.chown(rundir, 0, gid)
    sock = os.path.join(rundir, "agent.sock")
    a = Agent(sb, api, ["--control-socket", sock])
    try:
        wait_for(lambda: os.path.exists(sock), 20, "the control socket", dump=a.output)
        os.chown(sock, 0, gid)

        def as_user():
            argv = ["runuser", "-u", TEST_USER, "--",
                    os.path.join(build_dir(), "daemon", "agentctl"), "--socket", sock, "status"]
            return subprocess.run(argv, capture_output=True, text=True, timeout=15, cwd="/")

        for what in ("the socket", "its directory"):
            r = as_user()
            eq(r.returncode, 3, "exit status when %s is refused: %s" % (what, r.stderr))
            eq(r.stderr.strip(), "agentctl: permission denied: %s (members of group %s may use it)"
               % (sock, group), "the message when %s is refused" % what)
            check("no agent is listening" not in r.stderr, r.stderr)
            os.chmod(rundir, 0o750)
        # Root (a member of every group, in effect) still gets its answer.
        r = agentctl("status", "--json", sock=sock)
        eq(r.returncode, 0, "root's status: " + r.stderr)
    finally:
        a.kill()


@case
def sd_notify_messages(sb, api):
    path = sb.path("notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(0.2)
    msgs = []

    def drain_msgs():
        while True:
            try:
                msgs.append(ns.recv(4096).decode())
            except socket.timeout:
                return

    api.add_job("n1", {"commands": cmds("echo hi")})
    api.finished_answer = {"action": "shutdown", "shutdown_reason": "job-finished"}
    env = sb.env(NOTIFY_SOCKET=path, WATCHDOG_USEC="400000", JOURNAL_STREAM="8:1234")
    a = Agent(sb, api, [], env=env)
    try:
        wait_for(lambda: drain_msgs() or any("STOPPING=1" in m for m in msgs), 30, "STOPPING=1",
                 dump=lambda: "\n".join(msgs))
    finally:
        expect_exit(a, 0, "JOB_FINISHED")
    drain_msgs()
    text = "\n".join(msgs)
    for m in ("STATUS=registering", "READY=1", "STATUS=idle", "STATUS=running job n1", "WATCHDOG=1",
              "STOPPING=1", "STATUS=stopping: JOB_FINISHED"):
        check(m in text, "%r was sent; got:\n%s" % (m, text))
    check(text.index("READY=1") < text.index("STATUS=running job n1"), "READY before the job")
    lines = [l for l in a.output().splitlines() if l.strip()]
    check(lines and all(l[0] == "<" and l[2] == ">" for l in lines if not l.startswith("hook says")),
          "journald lines carry a <N> prefix:\n" + a.output())
    check(any(l.startswith("<6>") for l in lines), "info lines are <6>")
