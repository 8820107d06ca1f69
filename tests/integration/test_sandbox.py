"""The job sandbox: cgroups, cleanup of every job process, private files,
job-user, limits, strict isolation, and the fallback without cgroups.
These need root, as CI has."""
import glob
import json
import os
import pwd
import stat
import subprocess
import time

from fake_api import REG_TOKEN, FakeApi
from harness import (Background, Failure, agent_bin, b64, check, eq, processes_with_argv,
                     run_job, sandbox_case, unique_seconds, wait_for)

CASES = {}
TEST_USER = "sa-job-test"


def _needs_root():
    if os.geteuid() != 0:
        raise Failure("the sandbox tests need root")


case = sandbox_case(CASES, "the job directory must be removed", _needs_root)


def cmds(*directives):
    return [{"directive": d} for d in directives]


def own_cgroup_v2():
    with open("/proc/self/mountinfo") as f:
        mnt = next((l.split(" - ")[0].split()[4] for l in f if " - cgroup2 " in l), None)
    check(mnt is not None, "this host has a cgroup v2 hierarchy")
    with open("/proc/self/cgroup") as f:
        path = next(l.strip().split(":", 2)[2] for l in f if l.startswith("0::"))
    return mnt if path == "/" else mnt + path


class CgroupParent:
    """A private parent for job cgroups, so parallel tests do not see each other's."""

    def __init__(self):
        self.path = os.path.join(own_cgroup_v2(), "sa-test-" + unique_seconds())
        os.mkdir(self.path)

    def children(self):
        return [d for d in os.listdir(self.path) if os.path.isdir(os.path.join(self.path, d))]

    def remove(self):
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def leaves_nothing_behind(sb, extra_args):
    secs = [unique_seconds() for _ in range(5)]
    daemon = ("python3 -c 'import os,time\n"
              "if os.fork(): os._exit(0)\n"
              "os.setsid()\n"
              "if os.fork(): os._exit(0)\n"
              "time.sleep(%s)'" % secs[4])
    job = {"commands": cmds("sleep %s &" % secs[0], "(setsid sleep %s &)" % secs[1],
                            "nohup sleep %s >/dev/null 2>&1 &" % secs[2],
                            "(trap '' TERM HUP; exec sleep %s) & disown" % secs[3],
                            daemon, "echo done")}
    t0 = time.monotonic()
    r = run_job(sb, job, args=extra_args, timeout=40)
    eq(r.result(), "passed", "result", r)
    took = time.monotonic() - t0
    check(took < 10, "the job ended within seconds, not after its background processes (%.1fs)" % took)
    for s in secs[:4]:
        wait_for(lambda: not processes_with_argv(["sleep", s]), 5, "sleep %s to be gone" % s)
    wait_for(lambda: not [p for p in os.listdir("/proc") if p.isdigit() and secs[4] in _cmd(p)], 5,
             "the double-forked daemon to be gone")
    return r


def _cmd(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


@case
def job_cgroup_created_and_removed(sb):
    parent = CgroupParent()
    try:
        r = run_job(sb, {"commands": cmds("grep '^0::' /proc/self/cgroup")},
                    args=["--job-cgroup-parent", parent.path])
        line = r.step("grep '^0::' /proc/self/cgroup")[1]
        check("/semaphore-job-" in line, "the job ran in its own cgroup: %r" % line, r)
        check(os.path.basename(parent.path) in line, "under the configured parent: %r" % line, r)
        eq(parent.children(), [], "the job cgroup is removed afterwards")
    finally:
        parent.remove()


@case
def background_processes_killed_with_cgroup(sb):
    parent = CgroupParent()
    try:
        leaves_nothing_behind(sb, ["--job-cgroup-parent", parent.path])
        eq(parent.children(), [], "the job cgroup is removed afterwards")
    finally:
        parent.remove()


@case
def background_processes_killed_without_cgroup(sb):
    """The fallback: sessions, descendants and the environment marker."""
    leaves_nothing_behind(sb, ["--job-cgroup-parent", "none"])


@case
def stop_kills_everything(sb):
    secs = unique_seconds()
    bg = Background(sb, {"commands": cmds("(setsid sleep %s &); echo ready; sleep %s" % (secs, secs))})
    bg.wait_output("ready")
    bg.proc.send_signal(2)
    r = bg.wait(20)
    eq(r.result(), "stopped", "result", r)
    wait_for(lambda: not processes_with_argv(["sleep", secs]), 5, "every sleep to be gone")


@case
def private_job_files(sb):
    # The job looks at its own directory while it runs.
    job = {"env_vars": [{"name": "SECRET", "value": b64("s3cret")}],
           "commands": cmds('d=$(dirname "$(dirname "$BASH_SOURCE")"); stat -c "%a %n" "$d" "$d"/* "$d"/shell/*')}
    r = run_job(sb, job)
    listing = r.steps()[2][1]
    modes = dict(reversed(l.split(" ", 1)) for l in listing.strip().splitlines())
    check(modes, "stat printed the job files:\n" + listing, r)
    for path, mode in modes.items():
        m = int(mode, 8)
        check(m & 0o007 == 0, "%s is not accessible by others (mode %s)" % (path, mode), r)
    check(any(p.endswith("/events.jsonl") for p in modes), "the spool is there", r)
    check(any(p.endswith("/shell/env") and modes[p] == "600" for p in modes), "env file 0600", r)
    check(any(p.endswith("/shell/command") and modes[p] == "600" for p in modes), "command file 0600", r)


def ensure_user():
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", TEST_USER], check=True)
        return pwd.getpwnam(TEST_USER)


@case
def job_user(sb):
    pw = ensure_user()
    # The user must be able to pass through the job base directory, as it
    # can through /tmp or /var/lib/semaphore-agent.
    os.chmod(sb.root, 0o711)
    os.chmod(sb.tmp, 0o711)
    marker = unique_seconds()
    job = {"env_vars": [{"name": "V", "value": b64("v")}],
           "files": [{"path": "sa-%s/f.txt" % marker, "content": b64("x"), "mode": "0600"}],
           "commands": cmds("id -un; echo $HOME; pwd; stat -c %U sa-" + marker + "/f.txt; stat -c %U $(tty); echo $V")}
    r = run_job(sb, job, args=["--job-user", TEST_USER])
    eq(r.result(), "passed", "result", r)
    out = r.steps()[2][1].splitlines()
    eq(out, [TEST_USER, pw.pw_dir, pw.pw_dir, TEST_USER, TEST_USER, "v"], "runs as the user", r)
    subprocess.run(["rm", "-rf", os.path.join(pw.pw_dir, "sa-" + marker)])


def env_of_a_job_through_start(sb, extra_env, job_id):
    """Runs one job printing `env` through `start` configured from its
    environment, as /etc/default/semaphore-agent does; returns the job's env."""
    api = FakeApi()
    api.next_sync_after = 50
    try:
        api.add_job(job_id, {"commands": cmds("env")})
        api.finished_answer = {"action": "shutdown", "shutdown_reason": "requested"}
        env = sb.env(SEMAPHORE_AGENT_ENDPOINT=api.endpoint, SEMAPHORE_AGENT_NO_HTTPS="true",
                     SEMAPHORE_AGENT_TOKEN=REG_TOKEN, SEMAPHORE_AGENT_NAME="env-test-agent",
                     **extra_env)
        p = subprocess.Popen([agent_bin(), "start"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            api.wait_for(lambda: api.events(job_id) and api.events(job_id)[-1]["event"] == "job_finished",
                         60, "the job to finish")
        finally:
            p.terminate()
            p.wait(timeout=60)
        ev = api.events(job_id)
        eq(ev[-1]["result"], "passed", "the env job passed: %r" % ev)
        return "".join(e["output"] for e in ev if e["event"] == "cmd_output" and "Exporting" not in e["output"])
    finally:
        api.stop()


@case
def job_env_has_no_agent_secret(sb):
    """The agent's settings (the token among them) never reach a job, with or
    without job-user; proxy and CA variables do, credentials included."""
    pw = ensure_user()
    os.chmod(sb.root, 0o711)
    os.chmod(sb.tmp, 0o711)
    proxy = "http://proxyuser:proxy-pass-%s@127.0.0.1:9" % unique_seconds()
    extra = {"HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
             "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt", "SITE_SETTING": "kept",
             "TOKEN_COPY": "x" + REG_TOKEN + "x", "NOTIFY_SOCKET": "/run/nonexistent/notify",
             "LANG": "C.UTF-8"}
    for with_user in (False, True):
        more = dict(extra, SEMAPHORE_AGENT_JOB_USER=TEST_USER) if with_user else extra
        out = env_of_a_job_through_start(sb, more, "env-%s" % with_user)
        lines = out.splitlines()
        what = "job-user" if with_user else "no job-user"
        check(REG_TOKEN not in out, "%s: the token is nowhere in the job's env:\n%s" % (what, out))
        eq([l for l in lines if l.startswith("SEMAPHORE_AGENT_")], [], "%s: no agent setting" % what)
        check(not any(l.startswith("NOTIFY_SOCKET=") for l in lines), "%s: no systemd handle" % what)
        for k in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "LANG"):
            check("%s=%s" % (k, extra[k]) in lines, "%s: %s passed:\n%s" % (what, k, out))
        check(any(l.startswith("PATH=") for l in lines), "%s: PATH passed" % what)
        if with_user:
            check("HOME=%s" % pw.pw_dir in lines and "USER=%s" % TEST_USER in lines,
                  "job-user: the user's login variables:\n" + out)
            check("SITE_SETTING=kept" not in lines, "job-user: only the login variables:\n" + out)
        else:
            check("SITE_SETTING=kept" in lines, "no job-user: the agent's other variables stay:\n" + out)


@case
def job_user_cannot_use_roots_rights(sb):
    """The worker runs as root: what it writes for a job-user job, it writes
    only where that user may. An injected file aimed at /etc is refused, and
    the job cannot swap its command file for a link the worker would follow."""
    ensure_user()
    os.chmod(sb.root, 0o711)
    os.chmod(sb.tmp, 0o711)
    marker = unique_seconds()
    target = "/etc/sa-test-%s" % marker
    victim = "/tmp/sa-victim-%s" % marker
    job = {"files": [{"path": target, "content": b64("owned"), "mode": "0644"}],
           "commands": cmds("echo never")}
    try:
        r = run_job(sb, job, args=["--job-user", TEST_USER])
        eq(r.result(), "failed", "result", r)
        check("Failed to create destination path '%s': Permission denied" % target in r.stdout,
              "the injection is refused as the user would be", r)
        check(not os.path.exists(target), "nothing was written to /etc")
        job = {"commands": cmds('ln -sf %s "${BASH_SOURCE[0]}" && echo planted' % victim, "echo second")}
        r = run_job(sb, job, args=["--job-user", TEST_USER])
        check('"output":"planted' not in r.stdout, "the user cannot replace its command file", r)
        check(not os.path.lexists(victim), "the worker wrote nothing through a planted link")
    finally:
        for p in (target, victim):
            if os.path.lexists(p):
                os.unlink(p)


@case
def job_user_refused_when_not_root(sb):
    ensure_user()
    p = subprocess.run(["runuser", "-u", TEST_USER, "--", agent_bin(), "start", "--endpoint", "127.0.0.1:1",
                        "--token", "t", "--job-user", "root"], capture_output=True, text=True, timeout=20,
                       env=sb.env())
    eq(p.returncode, 78, "exit status: " + p.stderr)
    check("job-user: the agent must run as root" in p.stderr, p.stderr)


@case
def pids_limit_contains_fork_bomb(sb):
    parent = CgroupParent()
    try:
        # Every process forks for ever; the first failed fork ends the one bash waits for.
        bomb = "python3 -c 'import os\nwhile True: os.fork()'"
        job = {"commands": cmds(bomb, "echo never")}
        t0 = time.monotonic()
        r = run_job(sb, job, args=["--job-pids-max", "40", "--job-cgroup-parent", parent.path], timeout=60)
        eq(r.result(), "failed", "the job fails", r)
        check("echo never" not in r.names(), "later commands do not run", r)
        check(time.monotonic() - t0 < 30, "and it ends in time")
        eq(parent.children(), [], "the job cgroup is removed")
        # The agent is still fine: the next job runs.
        eq(run_job(sb, {"commands": cmds("echo fine")}).result(), "passed", "next job")
    finally:
        parent.remove()


def v1_only(controller):
    """The v1 mount of a controller the v2 hierarchy does not offer (a
    hybrid host), or None."""
    with open(os.path.join(own_cgroup_v2(), "cgroup.controllers")) as f:
        if controller in f.read().split():
            return None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ")
            fields = post.split()
            if fields[0] == "cgroup" and controller in fields[2].split(","):
                return pre.split()[4]
    return None


def run_as_user(sb, job, args):
    """`run --json` as TEST_USER, with a TMPDIR it owns."""
    pw = ensure_user()
    os.chmod(sb.root, 0o711)
    os.chown(sb.tmp, pw.pw_uid, pw.pw_gid)
    path = sb.job_file(job)
    argv = ["runuser", "-u", TEST_USER, "--", "env", "TMPDIR=" + sb.tmp, "HOME=" + pw.pw_dir,
            agent_bin(), "run", "--json"] + list(args) + [path]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/")
    return p


def cannot_run_step(p):
    """The events of a job that could not run: job_started, a failed step
    "Setting up the job", job_finished failed. Returns the step's output."""
    ev = [json.loads(l) for l in p.stdout.splitlines()]
    eq([e["event"] for e in ev], ["job_started", "cmd_started", "cmd_output", "cmd_output",
                                  "cmd_finished", "job_finished"], "the job's log:\n" + p.stdout + p.stderr)
    eq(ev[1]["directive"], "Setting up the job", "the step")
    eq(ev[4]["exit_code"], 1, "the step failed")
    eq(ev[5]["result"], "failed", "the job failed")
    eq(p.returncode, 1, "run's exit status for a failed job")
    return ev[2]["output"] + ev[3]["output"]


@case
def limits_that_cannot_apply_fail_with_a_log(sb):
    """A job whose limits cannot be applied does not run, and its log says
    why (issue 22). First a cgroup parent the agent's user may not write;
    then, on a hybrid host, a parent delegated to it (as systemd's
    Delegate=yes does) while the pids controller sits in a root-only v1
    hierarchy. check-config warns about the same."""
    pw = ensure_user()
    parent = CgroupParent()
    job = {"commands": cmds("echo should-not-run")}
    try:
        p = run_as_user(sb, job, ["--job-pids-max", "40", "--job-cgroup-parent", parent.path])
        out = cannot_run_step(p)
        for text in ("This agent cannot run the job", "job-pids-max", "cannot create the job cgroup " +
                     parent.path + "/semaphore-job-", "Permission denied"):
            check(text in out, "%r in the step's output:\n%s" % (text, out))
        check("should-not-run" not in p.stdout, "no command ran")
        check("The job cannot run: " in p.stderr, "the agent log says it too:\n" + p.stderr)

        v1 = v1_only("pids")
        if v1 is None:
            print("not a hybrid host (pids in cgroup v2): the v1 case is not exercised")
        else:
            os.chown(parent.path, pw.pw_uid, pw.pw_gid)
            for f in ("cgroup.procs", "cgroup.subtree_control"):
                os.chown(os.path.join(parent.path, f), pw.pw_uid, pw.pw_gid)
            p = run_as_user(sb, job, ["--job-pids-max", "40", "--job-cgroup-parent", parent.path])
            out = cannot_run_step(p)
            check("cannot create %s" % v1 in out and "Permission denied" in out,
                  "the step names the v1 group it could not create:\n" + out)
            eq(parent.children(), [], "the job's v2 group is removed again")
            # check-config, as that user and as root, warns about the same limit.
            cfg = sb.write("limits.yaml", 'endpoint: "e.example"\ntoken: "t"\njob-pids-max: 40\n')
            r = subprocess.run(["runuser", "-u", TEST_USER, "--", agent_bin(), "check-config",
                                "--config-file", cfg], capture_output=True, text=True, timeout=30, cwd="/")
            eq(r.returncode, 0, "check-config still accepts the file: " + r.stderr)
            check(r.stderr.startswith("warning: job-pids-max cannot be applied by this user") and
                  "Permission denied" in r.stderr, "check-config as the user warns:\n" + r.stderr)
            r = subprocess.run([agent_bin(), "check-config", "--config-file", cfg],
                               capture_output=True, text=True, timeout=30, cwd="/")
            eq(r.returncode, 0, "check-config as root: " + r.stderr)
            check("warning: job-pids-max: the pids controller is only in cgroup v1" in r.stderr and
                  "User=semaphore" in r.stderr, "check-config as root warns for the service user:\n" + r.stderr)
            eq(r.stderr.count("warning:"), 1, "one warning for one limit:\n" + r.stderr)
        # As root, the same limits work: the job runs (the README's promise).
        r = run_job(sb, job, args=["--job-pids-max", "40", "--job-cgroup-parent", parent.path])
        eq(r.result(), "passed", "root applies the limit and runs the job", r)
    finally:
        parent.remove()


@case
def memory_limit(sb):
    parent = CgroupParent()
    try:
        job = {"commands": cmds("python3 -c 'x = bytearray(400 * 1024 * 1024); print(len(x))'")}
        r = run_job(sb, job, args=["--job-memory-max", "64M", "--job-cgroup-parent", parent.path], timeout=60)
        eq(r.result(), "failed", "the job is killed by the memory limit", r)
        check(r.steps()[2][2] in (1, 137), "exit code of an OOM kill: %r" % (r.steps()[2],), r)
    finally:
        parent.remove()


CPU_QUOTA = r"""
for line in $(cat /proc/self/cgroup); do
  ctrl=${line#*:}; ctrl=${ctrl%%:*}; path=${line#*:*:}
  case ",$ctrl," in *,cpu,*) cat /sys/fs/cgroup/$ctrl$path/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu$path/cpu.cfs_quota_us ;; esac
  [ "${line%%:*}" = 0 ] && cat /sys/fs/cgroup/unified$path/cpu.max 2>/dev/null; cat /sys/fs/cgroup$path/cpu.max 2>/dev/null
done; true
"""


@case
def cpu_limit(sb):
    parent = CgroupParent()
    try:
        r = run_job(sb, {"commands": cmds(CPU_QUOTA)}, args=["--job-cpu-max", "0.5", "--job-cgroup-parent", parent.path])
        out = r.steps()[2][1]
        check("50000" in out, "a quota of half a CPU (50000 per 100000 us) is set:\n" + out, r)
    finally:
        parent.remove()


@case
def strict_isolation(sb):
    secs = unique_seconds()
    job = {"commands": cmds("echo $$; ls -A /tmp | wc -l; touch /tmp/sa-strict-%s; grep NoNewPrivs /proc/self/status" % secs,
                            "sleep %s & (setsid sleep %s &); ps -e -o pid= | wc -l" % (secs, secs))}
    r = run_job(sb, job, args=["--job-isolation", "strict"])
    eq(r.result(), "passed", "result", r)
    lines = r.steps()[2][1].split()
    eq(lines[0], "2", "bash is PID 2, under the namespace's own init", r)
    check(int(lines[1]) <= 1, "a private, nearly empty /tmp: %r" % lines, r)
    eq(lines[-1], "1", "no_new_privs", r)
    check(not os.path.exists("/tmp/sa-strict-" + secs), "the host /tmp is untouched", r)
    check(int(r.steps()[3][1].strip()) < 10, "only the job's processes are visible", r)
    wait_for(lambda: not processes_with_argv(["sleep", secs]), 5, "the namespace's processes to be gone")


@case
def fifty_jobs_leave_nothing(sb):
    """50 jobs through `start`, each leaving background processes behind."""
    api = FakeApi()
    api.next_sync_after = 50
    secs = unique_seconds()
    try:
        for i in range(50):
            api.add_job("j%d" % i, {"commands": cmds("sleep %s & (setsid sleep %s &) ; echo job %d" % (secs, secs, i)),
                                    "env_vars": [{"name": "SECRET", "value": b64("s%d" % i)}]})
        api.finished_answer = {"action": "wait-for-jobs"}
        # The test's own TMPDIR: another agent on the machine may be using /tmp.
        p = subprocess.Popen([agent_bin(), "start", "--endpoint", api.endpoint, "--no-https", "--token", REG_TOKEN,
                              "--name", "fifty-jobs-agent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=sb.env())
        try:
            api.wait_for(lambda: len({s["job_id"] for s in api.syncs() if s["state"] == "finished-job"}) >= 50
                         and not api.pending, 180, "50 finished jobs")
            new = set(glob.glob(os.path.join(sb.tmp, "semaphore-*")))
            for path in new:
                st = os.lstat(path)
                check(st.st_mode & 0o077 == 0 or not stat.S_ISDIR(st.st_mode) and st.st_mode & 0o004 == 0,
                      "%s (mode %o) is readable by others" % (path, stat.S_IMODE(st.st_mode)))
        finally:
            p.terminate()
            p.wait(timeout=60)
        for i in range(50):
            eq(api.events("j%d" % i)[-1]["result"], "passed", "job %d" % i)
        wait_for(lambda: not processes_with_argv(["sleep", secs]), 10, "every job's sleep to be gone")
        left = glob.glob(os.path.join(sb.tmp, "semaphore-job-*"))
        eq(left, [], "no job directory is left")
    finally:
        api.stop()
