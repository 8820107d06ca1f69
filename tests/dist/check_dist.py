#!/usr/bin/env python3
"""`make dist-check`: each release tarball, used the way fleets use it.

For each architecture, in a fresh copy of a minimal Debian 11 (bullseye: glibc
2.31, the ABI level of Ubuntu 20.04) root file system with none of libuv,
libcurl, jansson, libyaml or OpenSSL installed, the tarball is unpacked into
/opt/semaphore/agent and its `agent` runs: `version`, `run` of the demo job, a
job under `job-user` (static user lookups against the old system's files), and
`start` against the fake Semaphore API over HTTPS through one job and a
disconnect, with the API's host name resolved from the old system's /etc/hosts
and its certificate found in the old system's CA bundle (no SSL_CERT_FILE).
arm64 runs under qemu-user-static. Root. One PASS/FAIL line per check.

    check_dist.py [--packages DIR] [ARCH...]      (default: x86_64 arm64)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests"))
from check_report import Report, project_version  # noqa: E402
from fake_api import REG_TOKEN, FakeApi  # noqa: E402

API_HOST = "api.fleet.test"
OPT = "/opt/semaphore/agent"
# What the programs must not find on the old system: they carry their own.
FORBIDDEN_LIBS = ("libuv.so", "libcurl.so", "libjansson.so", "libyaml", "libssl.so", "libcrypto.so")

report = Report()


class Root:
    """A throwaway copy of the cached root file system; commands run in it
    through a private mount namespace (proc, the host's /dev), so nothing is
    left mounted on the host."""

    def __init__(self, tarball):
        self.path = tempfile.mkdtemp(prefix="sa-dist-root-")
        subprocess.run(["tar", "-C", self.path, "-xf", tarball], check=True)

    def file(self, rel):
        return os.path.join(self.path, rel.lstrip("/"))

    def write(self, rel, text, mode=0o644):
        p = self.file(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return rel

    def argv(self, cmd):
        script = ('mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && '
                  'exec chroot "$0" "$@"')
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, self.path] + cmd

    def env(self, **extra):
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": "/root", "TERM": "dumb", "LANG": "C.UTF-8"}
        env.update(extra)
        return env

    def run(self, cmd, timeout=120, **env):
        return subprocess.run(self.argv(cmd), env=self.env(**env), capture_output=True,
                              timeout=timeout, text=True, errors="replace")

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


def rootfs_tarball(arch):
    out = subprocess.run([os.path.join(TOP, "packaging", "dist", "rootfs.sh"), "bullseye", arch],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return out.strip().splitlines()[-1]


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def check_arch(arch, packages):
    tarball = os.path.join(packages, "agent_Linux_%s.tar.gz" % arch)
    p = "dist-%s-" % arch
    if not report(p + "tarball_exists", os.path.isfile(tarball), tarball):
        return
    listing = subprocess.run(["tar", "tzf", tarball], capture_output=True, text=True).stdout.split()
    report(p + "tarball_top_level", sorted(listing) == sorted(
        ["agent", "semaphore-agent-worker", "agentctl", "install.sh", "README.md", "LICENSE"]), listing)

    root = Root(rootfs_tarball(arch))
    api = None
    try:
        # Debian 11's minimal system carries OpenSSL 1.1 for Kerberos: taken out,
        # so that nothing the programs could load is there.
        root.run(["dpkg", "--purge", "--force-depends", "libssl1.1"])
        libs = subprocess.run(["find", root.path, "-name", "lib*.so*"], capture_output=True,
                              text=True).stdout.split()
        found = [lib for lib in libs if any(os.path.basename(lib).startswith(f) for f in FORBIDDEN_LIBS)]
        report(p + "old_system_lacks_the_libraries", not found, found)
        glibc = root.run(["ldd", "--version"]).stdout.splitlines()[:1]
        report(p + "old_system_is_glibc_2_31", glibc and glibc[0].endswith(" 2.31"), glibc)

        os.makedirs(root.file(OPT), exist_ok=True)
        subprocess.run(["tar", "-C", root.file(OPT), "-xzf", tarball], check=True)
        for prog in ("agent", "semaphore-agent-worker", "agentctl"):
            interp = subprocess.run(["readelf", "-l", root.file(OPT + "/" + prog)], capture_output=True,
                                    text=True).stdout
            report(p + prog + "_is_static", "INTERP" not in interp and "Requesting program interpreter"
                   not in interp, interp[-400:])

        version = project_version(TOP)
        r = root.run([OPT + "/agent", "version"])
        report(p + "version", r.returncode == 0 and r.stdout.strip() == version, r.stdout + r.stderr)

        shutil.copy(os.path.join(TOP, "examples", "hello.yaml"), root.file("/root/hello.yaml"))
        r = root.run([OPT + "/agent", "run", "/root/hello.yaml"])
        report(p + "run_demo_job", r.returncode == 0 and "Job passed" in r.stdout, r.stdout + r.stderr)

        root.write("/root/user-job.json", json.dumps({"commands": [{"directive": "id -un; id -gn; echo home=$HOME"}]}))
        r = root.run([OPT + "/agent", "run", "--job-user", "nobody", "/root/user-job.json"])
        report(p + "job_user_looked_up", r.returncode == 0 and "\nnobody\nnogroup\nhome=/nonexistent\n" in r.stdout,
               r.stdout + r.stderr)

        # start over HTTPS: the API's name from the old system's /etc/hosts, its
        # CA from the old system's bundle path.
        api = FakeApi(tls=True, tls_names=(API_HOST,))
        root.write("/etc/hosts", "127.0.0.1 localhost\n127.0.0.1 %s\n" % API_HOST)
        with open(api.ca_file) as f:
            root.write("/etc/ssl/certs/ca-certificates.crt", f.read())
        hook = root.write("/root/shutdown.sh",
                          'echo -n "$SEMAPHORE_AGENT_SHUTDOWN_REASON" > /root/shutdown-reason\n', 0o755)
        api.add_job("dist-job", {"commands": [{"directive": "echo hello from $(uname -m)"}]})
        # A name no other run uses: the ps check below must see this agent,
        # not one of the host's or of a concurrent run.
        agent_name = "dist-%s-%d-%s" % (arch, os.getpid(), os.urandom(6).hex())
        cmd = [OPT + "/agent", "start", "--endpoint", "%s:%d" % (API_HOST, api.port),
               "--token", REG_TOKEN, "--name", agent_name, "--disconnect-after-job",
               "--shutdown-hook-path", hook]
        log = open(os.path.join(root.path, "root", "agent-output.log"), "wb")
        proc = subprocess.Popen(root.argv(cmd), env=root.env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            # The stack's health check is `ps aux | grep PATTERN`: a substring of
            # the command column (under qemu-user the interpreter comes first),
            # on the line of this run's own agent.
            def ours(line):
                command = " ".join(line.split(None, 10)[10:])
                return OPT + "/agent start" in command and "--name " + agent_name in command
            seen = wait_for(lambda: any(
                ours(l) for l in subprocess.run(["ps", "aux"], capture_output=True, text=True).stdout.splitlines()), 30)
            report(p + "ps_shows_opt_agent_start", seen, "no process '%s/agent start' in ps aux" % OPT)
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        out = open(log.name, errors="replace").read()
        events = api.events("dist-job")
        text = "".join(e.get("output", "") for e in events if e.get("event") == "cmd_output")
        machine = "aarch64" if arch == "arm64" else "x86_64"
        report(p + "start_registers_over_https", bool(api.find("/register")), out)
        report(p + "start_runs_the_job", events and events[-1].get("result") == "passed"
               and "hello from %s\n" % machine in text, "%r\n%s" % (events[-3:], out))
        try:
            reason = open(root.file("/root/shutdown-reason")).read()
        except OSError:
            reason = None
        report(p + "start_disconnects_after_job", proc.returncode == 0 and reason == "JOB_FINISHED"
               and bool(api.find("/disconnect")), "exit %s, reason %r\n%s" % (proc.returncode, reason, out))
    finally:
        if api:
            api.stop()
        root.remove()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", default=os.path.join(TOP, "build-packages"))
    ap.add_argument("archs", nargs="*", default=["x86_64", "arm64"])
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("check_dist: needs root (chroot, mount namespaces)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    for arch in args.archs:
        t = time.monotonic()
        try:
            check_arch(arch, os.path.abspath(args.packages))
        except Exception as e:  # a broken step fails its architecture, not the rest
            report("dist-%s-completed" % arch, False, repr(e))
        print("TIME  dist-check %s: %ds" % (arch, time.monotonic() - t), flush=True)
    print("dist-check: %d passed, %d failed (%ds)" % (report.passed, report.failed,
                                                     time.monotonic() - t0))
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
