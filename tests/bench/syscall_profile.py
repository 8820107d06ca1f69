"""Syscalls and bytes copied per MB of job output, per process (issue 20).

Runs `semaphore-agent run --json JOB > /dev/null` (and `script -q -c CMD /dev/null` for the
floor) under `strace -f`, then counts, for each process role, the system calls it made and
the bytes that crossed the user/kernel boundary through read/write-like calls, divided by
the megabytes of job output. Counts, unlike times, hardly move with the host's load: use
this on a busy machine. strace slows every process down, which changes how much a PTY read
finds waiting; so read sizes (and the calls per MB) are those of a slowed-down run, and
compare like with like only.

    python3 tests/bench/syscall_profile.py BUILD_DIR [SMALL_MB BIG_MB]   (default 5 25)

Roles: `supervisor` (the `run` process), `worker` (semaphore-agent-worker and its
pre-exec children), `job` (bash and what it runs), and for script(1): `script` and `job`.
"""
import collections
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Sandbox, agent_bin  # noqa: E402

LINE = re.compile(r"^(\d+) +(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")
RET = re.compile(r"\)\s+=\s+(-?\d+)")
COPY_CALLS = {"read", "write", "readv", "writev", "pread64", "pwrite64", "recvfrom", "sendto",
              "recvmsg", "sendmsg", "splice", "copy_file_range", "sendfile"}


def output_cmd(nbytes):
    return "yes %s | head -c %d" % ("x" * 99, nbytes)


def profile(argv, env, cwd, roles_of):
    """Runs argv under strace; {role: (Counter of syscalls, bytes copied)}."""
    with tempfile.NamedTemporaryFile(prefix="sa-strace-", delete=False) as t:
        trace = t.name
    try:
        subprocess.run(["strace", "-f", "-qq", "-s", "64", "-o", trace] + argv, env=env, cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        role = {}
        calls = collections.defaultdict(collections.Counter)
        copied = collections.Counter()
        first = None
        unfinished = {}
        with open(trace, errors="replace") as f:
            for line in f:
                m = LINE.match(line)
                if not m:
                    continue
                pid = int(m.group(1))
                if first is None:
                    first = pid
                name = m.group(2) or m.group(3)
                rest = m.group(4)
                if m.group(3) and rest.endswith("<unfinished ...>"):
                    unfinished[pid] = line  # the call's arguments; its result follows
                    continue
                if m.group(2):
                    line = unfinished.pop(pid, "") + rest
                if pid not in role:
                    role[pid] = roles_of(pid == first, None)
                if name == "execve" and "= 0" in rest:
                    exe = re.search(r'execve\("([^"]*)"', line)
                    role[pid] = roles_of(pid == first, exe.group(1) if exe else "")
                calls[role[pid]][name] += 1
                if name in COPY_CALLS:
                    r = RET.search(rest)
                    if r and int(r.group(1)) > 0:
                        copied[role[pid]] += int(r.group(1))
        return {r: (calls[r], copied[r]) for r in calls}
    finally:
        os.unlink(trace)


def agent_roles(is_first, exe):
    if is_first:
        return "supervisor"
    if exe is None:
        return "worker"  # a fork, before any exec: inherits the worker's role below
    return "worker" if exe.endswith("semaphore-agent-worker") else "job"


def script_roles(is_first, exe):
    if is_first:
        return "script"
    return "job"


def show(title, small, big, mb_small, mb_big):
    """The marginal cost per MB (from the difference of two sizes, so a job's fixed
    start and end costs drop out) and the fixed part (extrapolated to no output)."""
    d = mb_big - mb_small
    print("== %s (%.0f and %.0f MB of output)" % (title, mb_small, mb_big))
    for r in sorted(big):
        cb, bb = big[r]
        cs, bs = small.get(r, (collections.Counter(), 0))
        per = collections.Counter({k: (cb[k] - cs[k]) / d for k in cb})
        total = sum(per.values())
        fixed = sum(cs.values()) - total * mb_small
        top = ", ".join("%s %.0f" % (k, v) for k, v in per.most_common(5))
        print("  %-10s %6.0f syscalls/MB  %5.2f MB copied/MB  fixed %5.0f   (%s)" % (
            r, total, (bb - bs) / 1e6 / d, fixed, top))


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    mb_small = float(sys.argv[2]) if len(sys.argv) > 2 else 5
    mb_big = float(sys.argv[3]) if len(sys.argv) > 3 else 25
    os.environ["SA_BUILD_DIR"] = build
    sb = Sandbox()
    try:
        env = sb.env()
        runs = {}
        for mb in (mb_small, mb_big):
            cmd = output_cmd(int(mb * 1e6))
            job = sb.job_file([cmd])
            runs[mb] = (profile(["script", "-q", "-c", cmd, "/dev/null"], env, sb.root, script_roles),
                        profile([agent_bin(), "run", "--json", job], env, sb.root, agent_roles))
        show("script -q -c CMD /dev/null", runs[mb_small][0], runs[mb_big][0], mb_small, mb_big)
        # A fork counts as the worker's until it execs (the shell's pre-exec set-up).
        show("semaphore-agent run --json", runs[mb_small][1], runs[mb_big][1], mb_small, mb_big)
    finally:
        sb.close()


if __name__ == "__main__":
    main()
