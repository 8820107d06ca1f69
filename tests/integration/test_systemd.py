"""The systemd unit, sysusers.d and tmpfiles.d files, the hardening drop-in and
the sample config.yaml.

The unit is the one meson configured into SA_BUILD_DIR/systemd/; the other
files come from the source tree (the tmpfiles file is configured too). Run one
case with `python3 run_case.py test_systemd CASE`.
"""
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import time

from harness import check_meson_list, HERE, Failure, Sandbox, agent_bin, build_dir, check, eq

CASES = {}

SRC = os.path.normpath(os.path.join(HERE, "..", "..", "systemd"))
UNIT = "semaphore-agent.service"
STATE_DIR = "/var/lib/semaphore-agent"
RUNTIME_DIR = "/run/semaphore-agent"
SOCKET = RUNTIME_DIR + "/agent.sock"


def case(fn):
    def wrapped():
        sb = Sandbox()
        try:
            fn(sb)
        finally:
            sb.close()
    CASES[fn.__name__] = wrapped
    return fn


# --- reading the files ------------------------------------------------------------

def configured(name):
    p = os.path.join(build_dir(), "systemd", name)
    if not os.path.isfile(p):
        raise Failure("no %s in %s (configure the build dir with meson)" % (name, os.path.dirname(p)))
    return p


def read(path):
    with open(path) as f:
        return f.read()


def parse_unit(text, where):
    """{section: {key: [values in order]}}, as systemd reads it: comments (#, ;),
    backslash continuations, an empty assignment resets the list."""
    sections, cur = {}, None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        n, line = i + 1, lines[i].strip()
        i += 1
        while line.endswith("\\") and i < len(lines):
            nxt = lines[i].strip()
            i += 1
            if nxt.startswith(("#", ";")):
                continue
            line = line[:-1] + " " + nxt
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            check(line.endswith("]"), "%s:%d: bad section header %r" % (where, n, line))
            cur = sections.setdefault(line[1:-1], {})
            continue
        check(cur is not None, "%s:%d: a setting outside any section" % (where, n))
        check("=" in line, "%s:%d: not KEY=VALUE: %r" % (where, n, line))
        k, v = line.split("=", 1)
        k, v = k.strip(), v.strip()
        if v == "":
            cur[k] = []
        else:
            cur.setdefault(k, []).append(v)
    return sections


def one(unit, section, key):
    vals = unit.get(section, {}).get(key)
    if not vals:
        raise Failure("[%s] has no %s=" % (section, key))
    eq(len(vals), 1, "[%s] %s= is set once" % (section, key))
    return vals[0]


_UNITS = {"us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3, "s": 1, "sec": 1, "second": 1,
          "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600,
          "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400}


def timespan(v):
    """Seconds in a systemd time span ("15min", "1h 30min", "90")."""
    if v == "infinity":
        return float("inf")
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", v)
    check(parts and re.fullmatch(r"(\s*\d+(\.\d+)?\s*[a-z]*)+\s*", v), "not a time span: %r" % v)
    total = 0.0
    for num, unit in parts:
        check(unit in _UNITS or unit == "", "unknown time unit in %r" % v)
        total += float(num) * _UNITS.get(unit or "s")
    return total


def installed():
    """{source path: destination} as meson will install, and the prefix."""
    info = os.path.join(build_dir(), "meson-info")
    with open(os.path.join(info, "intro-installed.json")) as f:
        inst = json.load(f)
    with open(os.path.join(info, "intro-buildoptions.json")) as f:
        opts = {o["name"]: o["value"] for o in json.load(f)}
    return inst, opts


def installed_agent():
    inst, _ = installed()
    for src, dest in inst.items():
        if src.endswith("/daemon/semaphore-agent"):
            return dest
    raise Failure("meson installs no semaphore-agent: %r" % inst)


def exec_argv(unit, key):
    argv = shlex.split(one(unit, "Service", key))
    check(argv and not argv[0].startswith(("-", "@", "+", "!", ":")),
          "%s= has no special prefix: %r" % (key, argv))
    return argv


def runnable_unit(sb):
    """A copy of the configured unit in a temp dir, its ExecStart* binaries
    pointing at the build tree's agent. Returns (directory, unit path)."""
    text = read(configured(UNIT))
    unit = parse_unit(text, UNIT)
    bin_path = exec_argv(unit, "ExecStart")[0]
    check(os.path.isabs(bin_path), "ExecStart= runs an absolute path: %r" % bin_path)
    d = sb.path("units")
    os.makedirs(d)
    path = os.path.join(d, UNIT)
    with open(path, "w") as f:
        f.write(text.replace(bin_path, agent_bin()))
    return d, path


# --- the cases ---------------------------------------------------------------------

def verify(path):
    exe = shutil.which("systemd-analyze")
    if not exe:
        raise Failure("systemd-analyze not found: install Debian's `systemd` package (make deps)")
    r = subprocess.run([exe, "verify", "--man=no", path], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, SYSTEMD_LOG_COLOR="0"))
    out = (r.stdout + r.stderr).strip()
    # Unknown keys and bad values are only warnings (exit status 0): any line
    # about our unit or its drop-ins fails too. Lines about the host's own
    # units (network-online.target's dependencies and so on) are not ours.
    ours = [l for l in out.split("\n") if l and ("semaphore-agent" in l or path in l)]
    check(r.returncode == 0 and not ours,
          "systemd-analyze verify %s: exit %d\n%s" % (path, r.returncode, out))


@case
def unit_verifies(sb):
    d, path = runnable_unit(sb)
    verify(path)
    # The opt-in hardening drop-in must load cleanly on top of the unit too.
    dropins = os.path.join(d, UNIT + ".d")
    os.makedirs(dropins)
    shutil.copy(os.path.join(SRC, "hardening.conf"), dropins)
    verify(path)
    # And a broken unit is noticed (the check is not vacuous).
    with open(os.path.join(dropins, "zz-broken.conf"), "w") as f:
        f.write("[Service]\nKillMode=everything\n")
    try:
        verify(path)
    except Failure:
        pass
    else:
        raise Failure("systemd-analyze verify did not notice KillMode=everything")


@case
def unit_has_required_settings(sb):
    text = read(configured(UNIT))
    check("@" not in re.sub(r"#.*", "", text).replace("man:", ""),
          "no unsubstituted @VAR@ is left:\n" + text)
    u = parse_unit(text, UNIT)

    check("man:semaphore-agent(8)" in " ".join(u["Unit"].get("Documentation", [])).split(),
          "Documentation= names man:semaphore-agent(8)")
    check("network-online.target" in " ".join(u["Unit"].get("After", [])).split(),
          "After=network-online.target")
    check("network-online.target" in " ".join(u["Unit"].get("Wants", [])).split(),
          "Wants=network-online.target")

    expected = {
        "Type": "notify", "NotifyAccess": "main", "WatchdogSec": "60", "KillMode": "mixed",
        "Restart": "always", "RestartSec": "5", "RestartPreventExitStatus": "78",
        "Delegate": "yes", "StateDirectory": "semaphore-agent", "StateDirectoryMode": "0750",
        "RuntimeDirectory": "semaphore-agent", "RuntimeDirectoryMode": "0750",
        "User": "semaphore", "Group": "semaphore",
        "EnvironmentFile": "-/etc/default/semaphore-agent",
        "SyslogIdentifier": "semaphore-agent",
    }
    for k, v in expected.items():
        eq(one(u, "Service", k), v, "[Service] %s=" % k)
    eq(one(u, "Install", "WantedBy"), "multi-user.target", "[Install] WantedBy=")

    env = [w for v in u["Service"].get("Environment", []) for w in shlex.split(v)]
    check("TMPDIR=" + STATE_DIR in env,
          "Environment= puts TMPDIR (the job directories) in the state directory: %r" % env)

    # Stopping: systemd must not kill the job before the agent has stopped it.
    stop = timespan(one(u, "Service", "TimeoutStopSec"))
    check(stop >= 10 * 60, "TimeoutStopSec= leaves a job minutes to stop (%ss)" % stop)
    check(re.search(r"#.*TimeoutStopSec.*\n(#.*\n)*", text) and
          "interruption-grace-period" in text,
          "a comment ties TimeoutStopSec= to interruption-grace-period")

    # The command line: the installed binary, the installed config file.
    agent = installed_agent()
    start = exec_argv(u, "ExecStart")
    check(len(start) == 6 and start[1:3] == ["start", "--config-file"] and
          start[4] == "--control-socket",
          "ExecStart= is `semaphore-agent start --config-file FILE --control-socket PATH`: %r"
          % start)
    eq(start[0], agent, "ExecStart= runs the agent where meson installs it")
    _, opts = installed()
    sysconfdir = opts["sysconfdir"]
    if not os.path.isabs(sysconfdir):
        sysconfdir = os.path.join(opts["prefix"], sysconfdir)
    config = os.path.join(sysconfdir, "semaphore-agent", "config.yaml")
    eq(start[3], config, "ExecStart= uses the installed config file")
    eq(start[5], SOCKET, "the control socket lives in the RuntimeDirectory")


# Commands systemd runs besides the main process. RestartPreventExitStatus=
# covers the main process only: a bad configuration caught by any of these
# would restart the service every RestartSec for ever (issue 22).
NON_MAIN_EXEC = ("ExecCondition", "ExecStartPre", "ExecStartPost", "ExecReload")


def restarts_after(unit, main_status):
    """What systemd 252 does when the main process exits with main_status
    (service_shall_restart): True restart, False stay down."""
    s = unit["Service"]
    prevent = " ".join(s.get("RestartPreventExitStatus", [])).split()
    if str(main_status) in prevent:
        return False
    restart = one(unit, "Service", "Restart")
    return restart == "always" or (restart == "on-failure" and main_status != 0)


@case
def bad_config_fails_once(sb):
    """A config.yaml with a mistake leaves the unit `failed` after one try:
    the only command systemd runs is ExecStart=, whose exit status 78 stops
    the restarts, and the last line the agent prints names the key."""
    text = read(configured(UNIT))
    u = parse_unit(text, UNIT)
    for key in NON_MAIN_EXEC:
        check(key not in u["Service"],
              "[Service] has no %s=: RestartPreventExitStatus= would not cover it" % key)
    start = exec_argv(u, "ExecStart")
    bad = sb.write("bad.yaml", 'endpoint: "example.semaphoreci.com"\ntoken: "t0ken"\n'
                   'interruption-grace-perod: 30\n')
    # As systemd runs it: stderr to the journal, JOURNAL_STREAM set.
    env = sb.env(JOURNAL_STREAM="8:1234", INVOCATION_ID="0" * 32)
    t0 = time.monotonic()
    r = subprocess.run([agent_bin()] + start[1:3] + [bad] + start[4:], capture_output=True,
                       text=True, timeout=30, env=env, cwd=sb.root)
    took = time.monotonic() - t0
    eq(r.returncode, 78, "`start` with a bad config.yaml\n%s%s" % (r.stdout, r.stderr))
    check(took < 5, "it exits at once, without registering (%.1fs)" % took)
    check(not restarts_after(u, r.returncode),
          "systemd does not restart after exit status %d (Restart=%s, RestartPreventExitStatus=%s)"
          % (r.returncode, one(u, "Service", "Restart"), u["Service"].get("RestartPreventExitStatus")))
    check(restarts_after(u, 1) and restarts_after(u, 0),
          "other exits still restart it (the check is not vacuous)")
    eq(r.stdout, "", "nothing on stdout")
    lines = r.stderr.rstrip("\n").split("\n")
    eq(lines[-1], "<3>Unrecognized option 'interruption-grace-perod'. Exiting...",
       "the last journal line names the key, at error priority:\n" + r.stderr)
    # The comment beside the directives says why, and no longer the opposite.
    check("ExecStartPre=@" not in read(os.path.join(SRC, UNIT + ".in")),
          "the unit template runs no ExecStartPre=")
    check(re.search(r"#[^\n]*RestartPreventExitStatus=[^\n]*main process", text),
          "a comment says RestartPreventExitStatus= covers the main process only")


@case
def exec_lines_accepted_by_agent(sb):
    """The unit's command line works with this agent: every option
    ExecStart= passes to `start` is one `start` accepts; a good file passes
    check-config, a bad or missing one makes `start` exit 78
    (RestartPreventExitStatus)."""
    u = parse_unit(read(configured(UNIT)), UNIT)
    start = exec_argv(u, "ExecStart")
    good = sb.write("good.yaml", 'endpoint: "example.semaphoreci.com"\ntoken: "t0ken"\n')
    bad = sb.write("bad.yaml", 'endpoint: "example.semaphoreci.com"\ntoken: "t0ken"\nno-such-key: 1\n')

    def agent(args):
        return subprocess.run([agent_bin()] + args, capture_output=True, text=True, timeout=30,
                              env=sb.env(), cwd=sb.root)

    r = agent(["check-config"] + start[2:3] + [good] + start[4:])
    eq(r.returncode, 0, "ExecStart='s options, checked by check-config\n%s%s" % (r.stdout, r.stderr))
    check('control-socket: "%s"' % SOCKET in r.stdout,
          "check-config shows the control socket from ExecStart=:\n" + r.stdout)
    for path in (bad, sb.path("missing.yaml")):
        r = agent(["start"] + start[2:3] + [path] + start[4:])
        eq(r.returncode, 78, "`start` with %s\n%s%s" % (os.path.basename(path), r.stdout, r.stderr))
        check(os.path.basename(path) in r.stderr or "no-such-key" in r.stderr,
              "the message says what is wrong:\n" + r.stderr)


@case
def install_layout(sb):
    inst, opts = installed()
    prefix = opts["prefix"]
    dests = {os.path.relpath(src, SRC) if src.startswith(SRC + "/") else
             os.path.relpath(src, build_dir()): dest for src, dest in inst.items()}
    unit = dests.get("systemd/" + UNIT)
    check(unit and unit.endswith("/lib/systemd/system/" + UNIT), "unit destination: %r" % unit)
    if prefix != "/usr":
        check(unit.startswith(prefix + "/"), "a non-/usr install stays under its prefix: %r" % unit)
    eq(dests.get("systemd/semaphore-agent.tmpfiles"),
       os.path.join(prefix, "lib/tmpfiles.d/semaphore-agent.conf"), "tmpfiles.d destination")
    eq(dests.get("semaphore-agent.sysusers"),
       os.path.join(prefix, "lib/sysusers.d/semaphore-agent.conf"), "sysusers.d destination")
    datadir = opts["datadir"] if os.path.isabs(opts["datadir"]) else os.path.join(prefix, opts["datadir"])
    eq(dests.get("hardening.conf"),
       os.path.join(datadir, "doc/semaphore-agent/examples/hardening.conf"),
       "the hardening drop-in is only an example, never an active drop-in")
    check(not any(".service.d/" in d for d in inst.values()),
          "no drop-in is installed active: %r" % inst)


def table(path):
    rows = []
    for n, line in enumerate(read(path).split("\n"), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append((n, shlex.split(line)))
    return rows


@case
def sysusers_and_tmpfiles_syntax(sb):
    sysusers = os.path.join(SRC, "semaphore-agent.sysusers")
    tmpfiles = configured("semaphore-agent.tmpfiles")
    u = parse_unit(read(configured(UNIT)), UNIT)
    config_dir = os.path.dirname(exec_argv(u, "ExecStart")[3])

    rows = table(sysusers)
    eq([r[1][:2] for r in rows], [["u", "semaphore"]], "sysusers.d: one user, semaphore")
    fields = rows[0][1]
    eq(len(fields), 6, "sysusers.d: u NAME ID GECOS HOME SHELL: %r" % fields)
    eq(fields[4:], [STATE_DIR, "/bin/bash"], "home and shell of semaphore")

    rows = {r[1][1]: r[1] for r in table(tmpfiles)}
    eq(sorted(rows), sorted([STATE_DIR, config_dir]), "tmpfiles.d: the state and config dirs")
    eq(rows[STATE_DIR], ["d", STATE_DIR, "0750", "semaphore", "semaphore", "-"], "state dir line")
    eq(rows[config_dir], ["d", config_dir, "0750", "root", "semaphore", "-"], "config dir line")
    check("@" not in read(tmpfiles), "no unsubstituted @VAR@ in the tmpfiles file")

    root = sb.path("root")
    os.makedirs(os.path.join(root, "etc"))
    su = shutil.which("systemd-sysusers")
    if su:
        r = subprocess.run([su, "--root=" + root, "--dry-run", sysusers],
                           capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, "systemd-sysusers --dry-run\n" + r.stdout + r.stderr)
        check("Creating user 'semaphore'" in r.stdout + r.stderr,
              "systemd-sysusers would create semaphore:\n" + r.stdout + r.stderr)
    else:
        print("systemd-sysusers not found: only the basic sysusers.d checks ran")
    tf = shutil.which("systemd-tmpfiles")
    if not (su and tf):
        print("systemd-tmpfiles not found: only the basic tmpfiles.d checks ran")
        return
    if os.geteuid() != 0:
        print("not root: systemd-tmpfiles --create into a temp root skipped (it chowns)")
        return
    # Create the user in the temp root, then the directories there (v252 has
    # no tmpfiles --dry-run), and look at what came out.
    r = subprocess.run([su, "--root=" + root, sysusers], capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, "systemd-sysusers --root\n" + r.stdout + r.stderr)
    with open(os.path.join(root, "etc", "passwd")) as f:
        pw = [l.split(":") for l in f.read().split("\n") if l.startswith("semaphore:")]
    eq(len(pw), 1, "one semaphore entry in the temp root's passwd")
    uid, gid = int(pw[0][2]), int(pw[0][3])
    eq(pw[0][5:], [STATE_DIR, "/bin/bash"], "passwd home and shell")
    r = subprocess.run([tf, "--root=" + root, "--create", tmpfiles],
                       capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, "systemd-tmpfiles --create --root\n" + r.stdout + r.stderr)
    check(not (r.stdout + r.stderr).strip(), "systemd-tmpfiles is silent:\n" + r.stdout + r.stderr)
    for path, owner in ((STATE_DIR, (uid, gid)), (config_dir, (0, gid))):
        st = os.stat(root + path)
        check(stat.S_ISDIR(st.st_mode), path + " is a directory")
        eq((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o750,) + owner,
           "mode, owner and group of " + path)


@case
def hardening_dropin_is_opt_in(sb):
    text = read(os.path.join(SRC, "hardening.conf"))
    d = parse_unit(text, "hardening.conf")
    eq(sorted(d), ["Service"], "the drop-in only has a [Service] section")
    s = d["Service"]
    for k, v in (("ProtectSystem", "strict"), ("ProtectHome", "true"), ("PrivateTmp", "true"),
                 ("NoNewPrivileges", "true")):
        eq(s.get(k), [v], "hardening: %s=" % k)
    rw = " ".join(s.get("ReadWritePaths", [])).split()
    check(STATE_DIR in rw, "the state directory stays writable: %r" % rw)
    check(any(p.lstrip("-").endswith("docker.sock") for p in rw), "the docker socket: %r" % rw)
    check("RestrictAddressFamilies" in s, "RestrictAddressFamilies=")
    # Job cgroups live in the delegated /sys/fs/cgroup subtree.
    check("ProtectControlGroups" not in s, "ProtectControlGroups= would break the job cgroups")
    for breaks in ("sudo", "outside"):
        check(re.search(r"#.*" + breaks, text), "the comments say what breaks (%s)" % breaks)


SAMPLE = os.path.normpath(os.path.join(HERE, "..", "..", "packaging", "config.yaml"))
SAMPLE_KEY = re.compile(r"^# ([a-z][a-z-]*): (\S.*?)(?:\s{2,}#.*)?$")
REQUIRED = {"endpoint": '"example.semaphoreci.com"', "token": '"t0ken"'}


def effective_settings(sb, yaml_text):
    """check-config's effective settings ({key: value as printed})."""
    path = sb.write("effective.yaml", yaml_text)
    r = subprocess.run([agent_bin(), "check-config", "--config-file", path], capture_output=True,
                       text=True, timeout=30, env=sb.env(), cwd=sb.root)
    eq(r.returncode, 0, "check-config on\n%s\n%s%s" % (yaml_text, r.stdout, r.stderr))
    out = {}
    for line in r.stdout.split("\n"):
        if ": " in line and not line.startswith("#"):
            k, v = line.split(": ", 1)
            out[k] = v
    return out


@case
def sample_config_shows_defaults(sb):
    """Every commented key in packaging/config.yaml shows the default
    check-config reports (issue 22: it showed interruption-grace-period: 60
    for a default of 0), and uncommenting them all changes nothing."""
    sample = read(SAMPLE)
    keys = {}
    for n, line in enumerate(sample.split("\n"), 1):
        m = SAMPLE_KEY.match(line)
        if m:
            check(m.group(1) not in keys, "config.yaml:%d: %s twice" % (n, m.group(1)))
            keys[m.group(1)] = (n, m.group(2))
    check(len(keys) >= 15 and "interruption-grace-period" in keys,
          "the sample's commented keys are found: %r" % sorted(keys))
    base = "".join("%s: %s\n" % kv for kv in REQUIRED.items())
    defaults = effective_settings(sb, base)
    for k in REQUIRED:
        check(k in keys, "the sample shows the required key %s" % k)
    for k, (n, v) in sorted(keys.items()):
        if k in REQUIRED:
            continue
        check(k in defaults, "config.yaml:%d: %s is a key check-config knows: %r" % (n, k, sorted(defaults)))
        eq(v, defaults[k], "config.yaml:%d: %s shows the default" % (n, k))
    # Uncommented as they stand (required keys filled in), the lines parse and
    # mean exactly the defaults.
    uncommented = base + "".join("%s: %s\n" % (k, v) for k, (_, v) in keys.items() if k not in REQUIRED)
    got = effective_settings(sb, uncommented)
    eq(got, defaults, "the uncommented sample is the default configuration")
    # And the comparison can fail: a wrong default is noticed.
    wrong = effective_settings(sb, base + "interruption-grace-period: 60\n")
    check(wrong["interruption-grace-period"] != defaults["interruption-grace-period"],
          "check-config reports a changed value")
    # Without the required keys, check-config refuses, naming one of them.
    r = subprocess.run([agent_bin(), "check-config", "--config-file", sb.write("empty.yaml", "")],
                       capture_output=True, text=True, timeout=30, env=sb.env(), cwd=sb.root)
    eq(r.returncode, 78, "check-config without endpoint and token")
    check(any(k in r.stderr for k in REQUIRED), "it names a required key:\n" + r.stderr)


@case
def readme_removal_figures(sb):
    """The README's "Removal is not an upgrade" paragraph states the figures
    the unit and the agent really use: TimeoutStopSec=, the 30 s the agent
    waits for the API after the grace period, the 60 s log flush, the 2 s
    between SIGTERM and SIGKILL, the grace period's default."""
    root = os.path.normpath(os.path.join(HERE, "..", ".."))
    readme = read(os.path.join(root, "README.md"))
    m = re.search(r"\*\*Removal is not an upgrade:\*\*(.*?)\n\n", readme, re.S)
    check(m, "README has the removal paragraph")
    text = " ".join(m.group(1).split())
    for needle in ("apt remove", "apt purge", "systemctl stop", "interruption-grace-period"):
        check(needle in text, "%r in the removal paragraph:\n%s" % (needle, text))
    u = parse_unit(read(configured(UNIT)), UNIT)
    stop = one(u, "Service", "TimeoutStopSec")
    check("TimeoutStopSec=%s" % stop in text, "the unit's TimeoutStopSec=%s:\n%s" % (stop, text))
    check("never waits longer than %d minutes" % (timespan(stop) // 60) in text,
          "apt's longest wait is TimeoutStopSec:\n" + text)
    # The self-hosted agent's constants, in whichever of its files they are.
    selfhosted = os.path.join(root, "daemon", "selfhosted")
    sources = "".join(read(os.path.join(selfhosted, n)) for n in sorted(os.listdir(selfhosted))
                      if n.endswith((".cpp", ".hpp")))

    def const(name):
        m = re.search(name + r"\s*=\s*(\d+);", sources)
        check(m, "%s in daemon/selfhosted/" % name)
        return int(m.group(1)) // 1000

    check("the agent itself %d s later" % const("kInterruptSlackMs") in text,
          "the API's slack, kInterruptSlackMs:\n" + text)
    check("at most %d s" % const("kFlushTimeoutMs") in text, "the flush, kFlushTimeoutMs:\n" + text)
    check("SIGKILL 2 s later" in text, "the 2 s to SIGKILL:\n" + text)
    good = sb.write("good.yaml", 'endpoint: "e.example"\ntoken: "t"\n')
    r = subprocess.run([agent_bin(), "check-config", "--config-file", good], capture_output=True,
                       text=True, timeout=30, env=sb.env())
    grace = re.search(r"^interruption-grace-period: (\d+)$", r.stdout, re.M)
    check(grace and "interruption-grace-period` (default %s)" % grace.group(1) in text,
          "the grace period's default:\n%s\n%s" % (r.stdout, text))
    # And the package stops the service on removal only (package-check
    # looks at the generated prerm): dh_installsystemd is told so.
    rules = read(os.path.join(root, "packaging", "debian", "rules"))
    check("--no-stop-on-upgrade" in rules, "debian/rules: dh_installsystemd --no-stop-on-upgrade")


@case
def meson_list_in_sync(sb):
    check_meson_list('test_systemd', CASES)
