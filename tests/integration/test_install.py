"""packaging/tarball/install.sh in a throwaway root.

Each case re-runs this module inside `unshare --mount` (private propagation)
and bind-mounts over /etc (a copy, so that useradd works on it), over
/etc/systemd/system, /opt, /home, /var/mail and /tmp: the host's files are
never touched and no real service is started. A fake `systemctl` on PATH
records its calls; a stand-in toolbox is served from 127.0.0.1. Needs root
(skipped otherwise).
"""
import io
import os
import platform
import pty
import pwd
import random
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check_meson_list, Failure, check, eq, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
INSTALL_SH = os.path.join(REPO, "packaging", "tarball", "install.sh")
AGENT_DIR = "/opt/semaphore/agent"
UNIT = "/etc/systemd/system/semaphore-agent.service"
CALLS = "/tmp/systemctl-calls"
FAKEBIN = "/tmp/fakebin"
LOG_LINE = re.compile(r"^[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d\.\d{3} \S+ : .+$")
PROFILE_LINE = "source ~/.toolbox/toolbox"
SYSTEMD_BOOTED = "/run/systemd/system"  # there when systemd is PID 1
NO_SYSTEMD = "System has not been booted with systemd as init system (PID 1). Can't operate."

CASES = {}      # what run_case.py runs: each starts the namespace
_INNER = {}     # the bodies, run inside it


class Skip(Exception):
    pass


def case(fn):
    def wrapped():
        if os.geteuid() != 0:
            raise Skip("install.sh tests need root (a mount namespace, useradd)")
        if not shutil.which("unshare") or not shutil.which("useradd"):
            raise Skip("unshare and useradd are needed")
        ws = tempfile.mkdtemp(prefix="sa-install-")
        try:
            p = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                                os.path.abspath(__file__), "inner", fn.__name__, ws, harness.build_dir()],
                               capture_output=True, text=True, timeout=150)
            if p.returncode != 0:
                raise Failure("the case failed inside its namespace (exit %d):\n%s%s"
                              % (p.returncode, p.stdout, p.stderr))
            sys.stdout.write(p.stdout)
        finally:
            shutil.rmtree(ws, ignore_errors=True)
    CASES[fn.__name__] = wrapped
    _INNER[fn.__name__] = fn
    return fn


# --- inside the namespace ---------------------------------------------------------

def mount_bind(src, dst):
    subprocess.run(["mount", "--bind", src, dst], check=True)


def private_root(ws, keep=()):
    """Bind mounts that make /etc, /opt, /home, /var/mail and /tmp throwaway copies.
    The directories in `keep` (the checkout and the build) stay visible at their
    paths, wherever they are: CI may clone into /tmp."""
    # Held open across the masking: a bind from /proc/PID/fd/N mounts what the
    # descriptor names even when its path is hidden.
    held = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in keep]
    subprocess.run(["cp", "-a", "/etc", os.path.join(ws, "etc")], check=True)
    for d in ("units", "opt", "home", "mail", "tmp"):
        os.makedirs(os.path.join(ws, d))
    os.chmod(os.path.join(ws, "tmp"), 0o1777)
    mount_bind(os.path.join(ws, "etc"), "/etc")
    os.makedirs("/etc/systemd/system", exist_ok=True)
    mount_bind(os.path.join(ws, "units"), "/etc/systemd/system")
    mount_bind(os.path.join(ws, "opt"), "/opt")
    mount_bind(os.path.join(ws, "home"), "/home")
    if os.path.isdir("/var/mail"):
        mount_bind(os.path.join(ws, "mail"), "/var/mail")
    mount_bind(os.path.join(ws, "tmp"), "/tmp")  # last: ws itself is under /tmp
    # A /run of the namespace's own, where a case decides whether systemd
    # runs (install.sh looks for /run/systemd/system, as sd_booted does).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
    os.symlink("/dev/shm", "/run/shm")
    os.makedirs("/run/lock")
    os.chmod("/run/lock", 0o1777)
    os.makedirs(SYSTEMD_BOOTED)
    for path, fd in held:
        if not os.path.isdir(path):
            os.makedirs(path)
            # --no-canonicalize: mount would resolve the link to the hidden path.
            subprocess.run(["mount", "--no-canonicalize", "--bind",
                            "/proc/%d/fd/%d" % (os.getpid(), fd), path], check=True)
        os.close(fd)
    os.environ["TMPDIR"] = "/tmp"
    tempfile.tempdir = None


class User:
    """A throwaway user in the copied /etc/passwd."""

    def __init__(self):
        self.name = "sainst%06d" % random.SystemRandom().randrange(1000000)
        # Free in the copied /etc/passwd and on the host: kill_all() kills
        # every process with the UID, which must never be someone else's.
        used = {p.pw_uid for p in pwd.getpwall()}
        uid = next(u for u in (random.SystemRandom().randrange(40000, 59000) for _ in range(100))
                   if u not in used and not processes_of(u))
        subprocess.run(["useradd", "--no-log-init", "--create-home", "--shell", "/bin/bash",
                        "--uid", str(uid), "--user-group", self.name], check=True)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir

    def path(self, *parts):
        return os.path.join(self.home, *parts)

    def processes(self):
        return processes_of(self.uid)

    def kill_all(self):
        kill_uid(self.uid)


def processes_of(uid):
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/status" % d) as f:
                uid_line = next(l for l in f if l.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if int(uid_line.split()[1]) == uid:
            found.append(int(d))
    return found


def kill_uid(uid):
    for pid in processes_of(uid):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


class ToolboxServer:
    """Serves stand-in toolbox archives from memory, recording the paths asked for."""

    def __init__(self, marker):
        self.paths = []
        self.archive = self._archive(marker)
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                srv.paths.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                if "/v0.0.404/" in self.path or name not in ("self-hosted-linux.tar",
                                                              "self-hosted-linux-arm.tar"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(srv.archive)))
                self.end_headers()
                self.wfile.write(srv.archive)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = "http://127.0.0.1:%d/releases" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _archive(marker):
        """A toolbox/ directory as the release has it: install-toolbox and toolbox."""
        files = {
            "toolbox/install-toolbox": (
                "#!/bin/bash\nset -e\n"
                'echo "installed by $(id -un) home=$HOME pwd=$(pwd)" >> "$HOME/.toolbox/installed"\n', 0o755),
            "toolbox/toolbox": (
                "export SA_STANDIN_TOOLBOX=%s\n"
                'standin_toolbox_fn() { echo "standin fn works"; }\n' % marker, 0o644),
        }
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            d = tarfile.TarInfo("toolbox")
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            t.addfile(d)
            for name, (text, mode) in files.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.uid, info.gid = len(data), mode, 0, 0
                t.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def write_exe(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def fake_systemctl():
    """Records its calls; fails as the real one does where systemd is not PID 1."""
    write_exe(os.path.join(FAKEBIN, "systemctl"),
              '#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\n'
              '[ -d %s ] || { echo "%s" >&2; exit 1; }\n' % (CALLS, SYSTEMD_BOOTED, NO_SYSTEMD))


def systemctl_calls():
    try:
        with open(CALLS) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def tarball_dir(owner_uid=0, owner_gid=0):
    """/opt/semaphore/agent as the fleets unpack it: install.sh next to `agent`
    (a link to the build's binary, which finds its worker from its real path),
    and the shutdown hook; owned by owner."""
    os.makedirs(AGENT_DIR + "/hooks")
    shutil.copy(INSTALL_SH, AGENT_DIR + "/install.sh")
    os.chmod(AGENT_DIR + "/install.sh", 0o755)
    os.symlink(harness.agent_bin(), AGENT_DIR + "/agent")
    write_exe(AGENT_DIR + "/hooks/shutdown",
              '#!/bin/bash\necho "hook ran as $(id -un)"\n'
              'printf "%s" "$SEMAPHORE_AGENT_SHUTDOWN_REASON" > /tmp/hook-reason\n')
    for d in ("/opt/semaphore", AGENT_DIR, AGENT_DIR + "/hooks"):
        os.chown(d, owner_uid, owner_gid)
    os.lchown(AGENT_DIR + "/install.sh", owner_uid, owner_gid)


def install_env(toolbox, user, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMAPHORE_")}
    env.update(PATH=FAKEBIN + ":" + os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               HOME="/root", SEMAPHORE_TOOLBOX_BASE_URL=toolbox.base,
               SEMAPHORE_ORGANIZATION="myorg", SEMAPHORE_REGISTRATION_TOKEN="tok-123",
               SEMAPHORE_AGENT_INSTALLATION_USER=user.name)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


class Installed:
    def __init__(self, p):
        self.code, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr

    def dump(self):
        return "exit %s\n--- stdout\n%s--- stderr\n%s" % (self.code, self.stdout, self.stderr)


def run_install(env, cwd="/", argv=None, stdin=subprocess.DEVNULL, preexec=None):
    p = subprocess.run(argv or [AGENT_DIR + "/install.sh"], env=env, cwd=cwd, stdin=stdin,
                       capture_output=True, text=True, timeout=60, preexec_fn=preexec)
    return Installed(p)


def expect_ok(r):
    check(r.code == 0, "install.sh failed:\n" + r.dump())


def expect_refused(r, text):
    check(r.code != 0, "install.sh should have failed:\n" + r.dump())
    check(text in r.stderr, "%r in the error:\n%s" % (text, r.dump()))


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def owner_of(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def read(path):
    with open(path) as f:
        return f.read()


def unit_settings(text):
    """{section: {key: [values]}} of a unit file."""
    out, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out.setdefault(section, {})
            continue
        k, v = line.split("=", 1)
        out[section].setdefault(k, []).append(v)
    return out


def config_lines(text):
    return [l for l in text.splitlines() if l and not l.startswith("#")]


def expected_archive():
    m = platform.machine()
    return "self-hosted-linux-arm.tar" if m in ("aarch64", "arm64") or m.startswith("arm") \
        else "self-hosted-linux.tar"


def check_toolbox(user, marker_runs=1):
    tb = user.path(".toolbox")
    check(os.path.isfile(os.path.join(tb, "install-toolbox")) and os.path.isfile(os.path.join(tb, "toolbox")),
          "the toolbox is unpacked into ~/.toolbox itself: %r" % os.listdir(tb))
    for dirpath, dirnames, filenames in os.walk(tb):
        for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
            eq(owner_of(n), (user.uid, user.gid), "owner of " + n)
    eq(read(os.path.join(tb, "installed")).splitlines(),
       ["installed by %s home=%s pwd=%s" % (user.name, user.home, user.home)] * marker_runs,
       "install-toolbox ran as the user, in its home")
    profile = user.path(".bash_profile")
    eq(owner_of(profile), (user.uid, user.gid), "owner of .bash_profile")
    eq(read(profile).splitlines().count(PROFILE_LINE), 1, ".bash_profile sources the toolbox once")


def check_check_config(expect):
    """The written config.yaml is accepted by this agent's parser."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMAPHORE_AGENT_")}
    p = subprocess.run([AGENT_DIR + "/agent", "check-config", "--config-file", AGENT_DIR + "/config.yaml"],
                       capture_output=True, text=True, env=env, timeout=20)
    eq(p.returncode, 0, "check-config accepts config.yaml: " + p.stderr)
    for line in expect:
        check(line in p.stdout.splitlines(), "%r in check-config's output:\n%s" % (line, p.stdout))


def edit_config(path, **values):
    """What the fleets' `yq e -i` does: set keys in place (owner and mode unchanged)."""
    lines = read(path).splitlines()
    for k, v in values.items():
        new = "%s: %s" % (k, v)
        for i, l in enumerate(lines):
            if l.startswith(k + ":"):
                lines[i] = new
                break
        else:
            lines.append(new)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# --- the cases ---------------------------------------------------------------------------

@case
def files_modes_and_rerun(ws):
    """The first run writes everything and starts the service; a re-run keeps an
    edited config.yaml, does not repeat the .bash_profile line and restarts."""
    user = User()
    tarball_dir(user.uid, user.gid)  # the AWS stack chowns the directory to its user
    toolbox = ToolboxServer("loaded-1")
    fake_systemctl()
    env = install_env(toolbox, user, SEMAPHORE_AGENT_SHUTDOWN_HOOK=AGENT_DIR + "/hooks/shutdown",
                      SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB="true",
                      SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT="120",
                      SEMAPHORE_AGENT_SYSTEMD_RESTART_SEC="300")
    r = run_install(env)
    expect_ok(r)
    eq(toolbox.paths, ["/releases/latest/download/" + expected_archive()], "the toolbox download")
    check_toolbox(user)

    cfg = AGENT_DIR + "/config.yaml"
    eq(owner_of(cfg), (user.uid, user.gid), "owner of config.yaml")
    eq(oct(mode_of(cfg)), oct(0o600), "mode of config.yaml")
    eq(config_lines(read(cfg)), [
        'endpoint: "myorg.semaphoreci.com"', 'token: "tok-123"', "no-https: false",
        'shutdown-hook-path: "%s/hooks/shutdown"' % AGENT_DIR, "disconnect-after-job: true",
        "disconnect-after-idle-timeout: 120", "env-vars: []", "files: []", "fail-on-missing-files: false"],
        "config.yaml")
    check_check_config(['endpoint: "myorg.semaphoreci.com"', 'token: "***"', "disconnect-after-job: true",
                        "disconnect-after-idle-timeout: 120", "no-https: false",
                        'shutdown-hook-path: "%s/hooks/shutdown"' % AGENT_DIR])
    log = AGENT_DIR + "/agent.log"
    eq(owner_of(log), (user.uid, user.gid), "owner of agent.log")
    eq(oct(mode_of(log)), oct(0o640), "mode of agent.log")

    eq(owner_of(UNIT), (0, 0), "owner of the unit")
    eq(oct(mode_of(UNIT)), oct(0o644), "mode of the unit")
    u = unit_settings(read(UNIT))
    svc = u.get("Service", {})
    eq(svc.get("ExecStart"), ["%s/agent start --config-file %s/config.yaml" % (AGENT_DIR, AGENT_DIR)], "ExecStart")
    eq(svc.get("User"), [user.name], "User")
    eq(svc.get("WorkingDirectory"), [AGENT_DIR], "WorkingDirectory")
    eq(svc.get("Restart"), ["always"], "Restart")
    eq(svc.get("RestartSec"), ["300"], "RestartSec")
    eq(svc.get("Environment"), ["SEMAPHORE_AGENT_LOG_FILE_PATH=%s/agent.log" % AGENT_DIR], "Environment")
    eq(u.get("Unit", {}).get("StartLimitIntervalSec"), ["0"], "StartLimitIntervalSec")
    eq(sorted(os.listdir("/etc/systemd/system")), ["semaphore-agent.service"], "nothing else in the unit dir")
    eq(sorted(os.listdir(AGENT_DIR)), ["agent", "agent.log", "config.yaml", "hooks", "install.sh"],
       "no temporary files left in " + AGENT_DIR)
    eq(systemctl_calls(), ["daemon-reload", "start semaphore-agent"], "systemctl calls")
    if shutil.which("systemd-analyze"):
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", UNIT], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, SYSTEMD_LOG_COLOR="0"))
        ours = [l for l in (p.stdout + p.stderr).splitlines() if "semaphore-agent" in l]
        check(p.returncode == 0 and not ours, "systemd-analyze verify:\n" + p.stdout + p.stderr)

    # A fleet edits config.yaml; a newer tarball's install.sh runs again, from
    # its own directory, with other settings.
    edit_config(cfg, name='"edited-by-the-fleet"', **{"upload-job-logs": "when-trimmed"})
    edited = read(cfg)
    env.update(SEMAPHORE_AGENT_SYSTEMD_RESTART="on-failure", SEMAPHORE_AGENT_SYSTEMD_RESTART_SEC="5",
               SEMAPHORE_REGISTRATION_TOKEN="other-token")
    r = run_install(env, cwd=AGENT_DIR, argv=["./install.sh"])
    expect_ok(r)
    check("Keeping the existing %s" % cfg in r.stdout, "says the config is kept:\n" + r.dump())
    eq(read(cfg), edited, "the edited config.yaml is kept as it is")
    eq((owner_of(cfg), oct(mode_of(cfg))), ((user.uid, user.gid), oct(0o600)), "config.yaml owner and mode")
    check_toolbox(user)  # replaced, not added to; the profile line still once
    eq(len(toolbox.paths), 2, "the toolbox is downloaded again")
    svc = unit_settings(read(UNIT))["Service"]
    eq((svc["Restart"], svc["RestartSec"]), (["on-failure"], ["5"]), "the unit is rewritten")
    eq(systemctl_calls()[2:], ["daemon-reload", "restart semaphore-agent"], "an existing unit is restarted")

    # SEMAPHORE_AGENT_START=false (the image bake): files only.
    env["SEMAPHORE_AGENT_START"] = "false"
    expect_ok(run_install(env))
    eq(systemctl_calls()[4:], ["daemon-reload"], "SEMAPHORE_AGENT_START=false starts nothing")
    eq(read(user.path(".bash_profile")).splitlines().count(PROFILE_LINE), 1, "still one profile line")
    toolbox.stop()


@case
def refusals(ws):
    """Not root, a missing variable without a terminal, an unknown user, bad values:
    each is an error that names the problem, and nothing is written."""
    user = User()
    tarball_dir()
    toolbox = ToolboxServer("loaded-2")
    fake_systemctl()

    def nothing_written(what):
        eq(os.listdir("/etc/systemd/system"), [], "no unit after " + what)
        check(not os.path.exists(AGENT_DIR + "/config.yaml"), "no config.yaml after " + what)
        eq(systemctl_calls(), [], "no systemctl call after " + what)

    def as_user():
        os.setgroups([])
        os.setgid(user.gid)
        os.setuid(user.uid)

    r = run_install(install_env(toolbox, user), preexec=as_user)
    expect_refused(r, "install.sh must run as root")
    nothing_written("a run as a user")
    for var in ("SEMAPHORE_ORGANIZATION", "SEMAPHORE_REGISTRATION_TOKEN", "SEMAPHORE_AGENT_INSTALLATION_USER"):
        r = run_install(install_env(toolbox, user, **{var: None}))
        expect_refused(r, "%s is not set (and stdin is not a terminal" % var)
        nothing_written("no " + var)
    r = run_install(install_env(toolbox, user, SEMAPHORE_AGENT_INSTALLATION_USER="no-such-user-x"))
    expect_refused(r, "SEMAPHORE_AGENT_INSTALLATION_USER: there is no user 'no-such-user-x'")
    for var, value in (("SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB", "yes"),
                       ("SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT", "5m"),
                       ("SEMAPHORE_AGENT_START", "no"),
                       ("SEMAPHORE_AGENT_SYSTEMD_RESTART", "sometimes"),
                       ("SEMAPHORE_AGENT_SYSTEMD_RESTART_SEC", "-1"),
                       ("SEMAPHORE_ORGANIZATION", "evil.example.com/x"),
                       ("SEMAPHORE_REGISTRATION_TOKEN", "two\nlines")):
        r = run_install(install_env(toolbox, user, **{var: value}))
        expect_refused(r, var + ": ")
        nothing_written("%s=%r" % (var, value))
    eq(toolbox.paths, [], "nothing was downloaded")
    r = run_install(install_env(toolbox, user, SEMAPHORE_TOOLBOX_VERSION="v0.0.404"))
    expect_refused(r, "cannot download the toolbox from %s/download/v0.0.404/" % toolbox.base)
    nothing_written("a failed download")
    toolbox.stop()


@case
def prompt_arm_and_root_owned_dir(ws):
    """A missing value is asked for on a terminal; SEMAPHORE_ENDPOINT wins; a pinned
    version on arm downloads the arm archive; a root-owned directory still gets a
    config.yaml the user owns."""
    user = User()
    tarball_dir()  # root-owned, as `sudo tar -x` leaves it
    toolbox = ToolboxServer("loaded-3")
    fake_systemctl()
    write_exe(FAKEBIN + "/uname", '#!/bin/sh\nif [ "$1" = -m ]; then echo aarch64; else exec /bin/uname "$@"; fi\n')
    env = install_env(toolbox, user, SEMAPHORE_ORGANIZATION=None, SEMAPHORE_AGENT_START="false",
                      SEMAPHORE_TOOLBOX_VERSION="v1.2.3")
    master, slave = pty.openpty()
    try:
        os.write(master, b"ttyorg\n")
        r = run_install(env, stdin=slave)
    finally:
        os.close(slave)
        os.close(master)
    expect_ok(r)
    check("Enter organization" in r.stderr, "the prompt:\n" + r.dump())
    cfg = AGENT_DIR + "/config.yaml"
    check('endpoint: "ttyorg.semaphoreci.com"' in read(cfg), "the answer is used:\n" + read(cfg))
    eq(toolbox.paths, ["/releases/download/v1.2.3/self-hosted-linux-arm.tar"], "the arm archive of v1.2.3")
    eq((owner_of(cfg), oct(mode_of(cfg))), ((user.uid, user.gid), oct(0o600)), "config.yaml owner and mode")
    eq(owner_of(AGENT_DIR + "/agent.log"), (user.uid, user.gid), "the agent can write its log")
    eq(systemctl_calls(), ["daemon-reload"], "SEMAPHORE_AGENT_START=false")
    check_toolbox(user)

    os.unlink(cfg)
    env.update(SEMAPHORE_ENDPOINT="agents.example.com:8443", SEMAPHORE_ORGANIZATION="ignored")
    expect_ok(run_install(env))
    check('endpoint: "agents.example.com:8443"' in read(cfg), "SEMAPHORE_ENDPOINT wins:\n" + read(cfg))
    toolbox.stop()


@case
def planted_links_not_followed(ws):
    """install.sh runs as root but writes in the user's home as the user: links
    the user planted there lead nowhere the user could not write anyway."""
    user = User()
    tarball_dir(user.uid, user.gid)
    toolbox = ToolboxServer("loaded-5")
    fake_systemctl()
    victim = "/etc/sa-install-victim"
    victim_dir = "/etc/sa-install-victim.d"
    with open(victim, "w") as f:
        f.write("root's file\n")
    os.makedirs(victim_dir)
    with open(victim_dir + "/keep", "w") as f:
        f.write("keep\n")

    def plant(link, target):
        os.symlink(target, link)
        os.lchown(link, user.uid, user.gid)

    plant(user.path(".toolbox"), victim_dir)    # would be emptied by a root rm -rf .toolbox/
    plant(user.path(".bash_profile"), victim)   # would be appended to by root
    r = run_install(install_env(toolbox, user, SEMAPHORE_AGENT_START="false"))
    expect_refused(r, "cannot add the toolbox to %s/.bash_profile" % user.home)
    eq(read(victim), "root's file\n", "the file behind the planted .bash_profile link")
    eq(os.listdir(victim_dir), ["keep"], "the directory behind the planted .toolbox link")
    check(os.path.isdir(user.path(".toolbox")) and not os.path.islink(user.path(".toolbox")),
          "the link was replaced by the user's own toolbox directory")
    owners = [owner_of(os.path.join(d, n)) for d, _, fs in os.walk(user.path(".toolbox")) for n in fs]
    check(owners and all(o == (user.uid, user.gid) for o in owners), "toolbox files are the user's")

    # Without the planted link the same run completes.
    os.unlink(user.path(".bash_profile"))
    expect_ok(run_install(install_env(toolbox, user, SEMAPHORE_AGENT_START="false")))
    eq(read(victim), "root's file\n", "the victim is untouched")
    eq(read(user.path(".bash_profile")), PROFILE_LINE + "\n", "a .bash_profile of the user's own")
    toolbox.stop()


@case
def no_systemd_writes_the_unit_only(ws):
    """In a chroot or a `docker build` systemd is not PID 1 and systemctl fails:
    with SEMAPHORE_AGENT_START=false the install completes without calling it;
    asked to start, it is an error that says why."""
    user = User()
    tarball_dir(user.uid, user.gid)
    toolbox = ToolboxServer("loaded-6")
    fake_systemctl()
    os.rmdir(SYSTEMD_BOOTED)
    p = subprocess.run([FAKEBIN + "/systemctl", "daemon-reload"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 1 and NO_SYSTEMD in p.stderr, "the fake systemctl fails as the real one: %r" % (p,))
    os.unlink(CALLS)

    r = run_install(install_env(toolbox, user, SEMAPHORE_AGENT_START="false"))
    expect_ok(r)
    eq(systemctl_calls(), [], "no systemctl call without systemd")
    check("the unit %s is written and is loaded when systemd boots" % UNIT in r.stdout, r.dump())
    check(os.path.isfile(UNIT) and os.path.isfile(AGENT_DIR + "/config.yaml"), "the files are written")
    check_toolbox(user)

    r = run_install(install_env(toolbox, user))
    expect_refused(r, "systemd is not running here (no /run/systemd/system): cannot start semaphore-agent")
    eq(systemctl_calls(), [], "no systemctl call without systemd")

    # Where systemd runs, the same install reloads it.
    os.makedirs(SYSTEMD_BOOTED)
    expect_ok(run_install(install_env(toolbox, user, SEMAPHORE_AGENT_START="false")))
    eq(systemctl_calls(), ["daemon-reload"], "systemd running: daemon-reload only")
    toolbox.stop()


@case
def writable_dirs_refused(ws):
    """Root writes config.yaml and agent.log in a DIR the user does not own, by
    name: a DIR, or a directory above it, that others may write in without the
    sticky bit is refused before anything is written."""
    user = User()
    tarball_dir()  # root-owned: root writes the files
    toolbox = ToolboxServer("loaded-7")
    fake_systemctl()
    env = install_env(toolbox, user, SEMAPHORE_AGENT_START="false")

    def nothing_written(what):
        eq(os.listdir("/etc/systemd/system"), [], "no unit after " + what)
        eq(sorted(os.listdir(AGENT_DIR)), ["agent", "hooks", "install.sh"], "nothing in DIR after " + what)
        eq(toolbox.paths, [], "nothing downloaded after " + what)

    for d, mode in (("/opt/semaphore", 0o777), (AGENT_DIR, 0o775), ("/opt", 0o757)):
        os.chmod(d, mode)
        expect_refused(run_install(env), "%s (mode %o) is writable by its group or by everyone, without the "
                                         "sticky bit" % (d, mode))
        nothing_written("a mode %o %s" % (mode, d))
        os.chmod(d, 0o755)
    # The sticky bit (/tmp's 1777): others cannot rename or remove root's files.
    os.chmod("/opt/semaphore", 0o1777)
    expect_ok(run_install(env))
    cfg = AGENT_DIR + "/config.yaml"
    eq((owner_of(cfg), oct(mode_of(cfg))), ((user.uid, user.gid), oct(0o600)), "config.yaml owner and mode")
    toolbox.stop()


@case
def installed_service_runs_a_job(ws):
    """The unit's ExecStart, run as its User= with its Environment=, registers with
    the fake API, runs a job with the toolbox sourced, logs to DIR/agent.log and,
    with disconnect-after-job, exits 0 after running the shutdown hook."""
    from fake_api import REG_TOKEN, FakeApi
    user = User()
    tarball_dir(user.uid, user.gid)
    toolbox = ToolboxServer("loaded-4")
    fake_systemctl()
    env = install_env(toolbox, user, SEMAPHORE_AGENT_SHUTDOWN_HOOK=AGENT_DIR + "/hooks/shutdown",
                      SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB="true", SEMAPHORE_AGENT_START="false")
    expect_ok(run_install(env))
    api = FakeApi()
    proc = None
    try:
        # What the fleet's start.sh does with yq before `systemctl start`.
        edit_config(AGENT_DIR + "/config.yaml", endpoint='"%s"' % api.endpoint, token='"%s"' % REG_TOKEN,
                    name='"install-test-agent-01"', **{"no-https": "true"})
        api.add_job("tb", {"commands": [
            {"directive": 'echo "toolbox=$SA_STANDIN_TOOLBOX"'},
            {"directive": "standin_toolbox_fn"},
            {"directive": "id -un; pwd"},
            {"directive": 'ps aux | grep -v grep | grep -c "/opt/semaphore/agent/agent start"'}]})
        api.finished_answer = {"action": "continue"}  # disconnect-after-job on its own

        svc = unit_settings(read(UNIT))["Service"]
        pw = pwd.getpwnam(svc["User"][0])
        # As systemd runs it: the user's login variables, systemd's PATH, Environment=.
        run_env = {"HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name, "SHELL": pw.pw_shell,
                   "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        # A sanitizer build keeps the test run's sanitizer settings.
        run_env.update({k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")})
        for e in svc.get("Environment", []):
            k, v = e.split("=", 1)
            run_env[k] = v
        out = open("/tmp/agent-stdio", "wb")
        proc = subprocess.Popen(shlex.split(svc["ExecStart"][0]), cwd=svc["WorkingDirectory"][0], env=run_env,
                                user=pw.pw_uid, group=pw.pw_gid,
                                extra_groups=os.getgrouplist(pw.pw_name, pw.pw_gid),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise Failure("the agent did not exit in 60 s:\n" + read("/tmp/agent-stdio"))
        stdio = read("/tmp/agent-stdio")
        eq(code, 0, "exit status\n" + stdio)
        eq(read("/tmp/hook-reason"), "JOB_FINISHED", "the shutdown hook ran with its reason")
        ev = api.events("tb")
        check(ev and ev[-1]["event"] == "job_finished" and ev[-1]["result"] == "passed",
              "the job passed: %r\n%s" % (ev[-3:], stdio))
        outs = "".join(e.get("output", "") for e in ev if e["event"] == "cmd_output")
        for text in ("toolbox=loaded-4\n", "standin fn works\n", "%s\n%s\n" % (user.name, user.home)):
            check(text in outs, "%r in the job's output:\n%s" % (text, outs))
        steps = [e for e in ev if e["event"] == "cmd_finished"]
        eq([s["exit_code"] for s in steps][-1], 0, "the health check's ps pattern finds the agent")
        eq(len(api.find("/disconnect")), 1, "one disconnect")
        eq(api.find("/register")[0].json["name"], "install-test-agent-01", "the edited name is used")

        log = read(AGENT_DIR + "/agent.log")
        lines = log.splitlines()
        check(len(lines) > 3 and all(LOG_LINE.match(l) for l in lines),
              "agent.log in the `Mon _2 15:04:05.000 NAME : message` format:\n" + log)
        check(any(l.split(" : ", 1)[0].endswith(" install-test-agent-01") for l in lines), "NAME:\n" + log)
        check("hook ran as %s" % user.name in log, "the hook's output is in agent.log:\n" + log)
        eq(owner_of(AGENT_DIR + "/agent.log"), (user.uid, user.gid), "agent.log owner")
        eq([d for d in os.listdir("/tmp") if d.startswith("semaphore-job-")], [], "job directories removed")
        wait_for(lambda: not user.processes(), 10, "no process of the user left")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        user.kill_all()
        api.stop()
        toolbox.stop()


def meson_list_in_sync():
    check_meson_list('test_install', CASES)


def shellcheck_clean():
    exe = shutil.which("shellcheck")
    if not exe:
        raise Skip("shellcheck is not installed")
    p = subprocess.run([exe, "--shell=bash", INSTALL_SH], capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, "shellcheck install.sh:\n" + p.stdout + p.stderr)


CASES["meson_list_in_sync"] = meson_list_in_sync
CASES["shellcheck_clean"] = shellcheck_clean


def inner(name, ws, build):
    os.environ["SA_BUILD_DIR"] = build
    private_root(ws, keep=(REPO, os.path.realpath(build)))
    t0 = time.monotonic()
    try:
        _INNER[name](ws)
    except Exception:
        import traceback
        traceback.print_exc()
        return 1
    finally:
        # Nothing of the throwaway users may outlive the namespace's copy of /etc.
        for p in pwd.getpwall():
            if p.pw_name.startswith("sainst"):
                kill_uid(p.pw_uid)
    print("inner %s ok (%.1fs)" % (name, time.monotonic() - t0))
    return 0


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "inner":
    sys.exit(inner(sys.argv[2], sys.argv[3], sys.argv[4]))
