"""5. Memory under load: peak resident memory of the supervisor plus the worker while a job
prints 100 MB and 1 GB, sampled from /proc every 50 ms (VmRSS, and each process's VmHWM,
the kernel's own high-water mark, read at the last sample before it exits).

Runs `semaphore-agent run --json JOB > /dev/null` at both sizes, and `start` against the
fake API at 1 GB (the pusher then also holds its batch and libcurl's buffers).
Bar: sum of VmHWM under 16 MB at 1 GB, and no growth with output size (1 GB within
1 MB of 100 MB). Baseline: VmHWM of `script -q -c CMD /dev/null` for the same output."""
import os
import subprocess
import time

from bench_push import counting_api_class
from bench_throughput import output_cmd
from common import (Result, Sandbox, agent_bin, fast_fake_api, fmt_mb, kb_to_mb, main_for, proc_status,
                    quick, report, say, smaps_rollup, worker_of)

BAR_MB = 16.0
GROWTH_MB = 1.0


class Sampler:
    """Samples the supervisor (root) and its worker child every 50 ms."""

    def __init__(self, root, with_worker=True):
        self.root = root
        self.with_worker = with_worker
        self.worker = None
        self.hwm = {}        # pid -> last VmHWM seen
        self.peak_sum = 0    # max over samples of sum(VmRSS)
        self.samples = 0
        self.anon = {}       # pid -> max RssAnon seen
        self.peak_pss = 0    # max over samples of sum(Pss): shared library pages split between users

    def sample(self):
        pids = [self.root]
        if self.with_worker:
            if self.worker is None or not os.path.exists("/proc/%d" % self.worker):
                w = worker_of(self.root)
                if w is not None:
                    self.worker = w
            if self.worker is not None:
                pids.append(self.worker)
        s = pss = 0
        for p in pids:
            st = proc_status(p)
            if not st or "VmRSS" not in st:
                continue  # exited (or a zombie)
            s += st["VmRSS"]
            self.hwm[p] = max(self.hwm.get(p, 0), st.get("VmHWM", 0))
            self.anon[p] = max(self.anon.get(p, 0), st.get("RssAnon", 0))
            pss += smaps_rollup(p).get("Pss", 0)
        self.peak_sum = max(self.peak_sum, s)
        self.peak_pss = max(self.peak_pss, pss)
        self.samples += 1

    def hwm_sum(self):
        return sum(self.hwm.values())

    def describe(self):
        parts = []
        for p, kb in self.hwm.items():
            parts.append("%s %s (anon %s)" % ("supervisor" if p == self.root else "worker" if p == self.worker
                                              else "pid %d" % p, fmt_mb(kb), fmt_mb(self.anon.get(p, 0))))
        return ", ".join(parts)


def sample_until_exit(proc, sampler, interval=0.05):
    while proc.poll() is None:
        sampler.sample()
        time.sleep(interval)
    return proc.returncode


def run_mode(sb, nbytes):
    job = sb.job_file([output_cmd(nbytes)], name="mem-%d.json" % nbytes)
    t0 = time.monotonic()
    p = subprocess.Popen([agent_bin(), "run", "--json", job], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=sb.env(), cwd=sb.root)
    s = Sampler(p.pid)
    rc = sample_until_exit(p, s)
    err = p.stderr.read().decode(errors="replace")
    if rc != 0:
        raise RuntimeError("agent run exited %d:\n%s" % (rc, err[-2000:]))
    say("  run   %5d MB: %.1f s, %d samples; VmHWM %s; sum %s; peak sampled VmRSS sum %s, PSS sum %s" % (
        nbytes // 10**6, time.monotonic() - t0, s.samples, s.describe(), fmt_mb(s.hwm_sum()),
        fmt_mb(s.peak_sum), fmt_mb(s.peak_pss)))
    return s


def script_mode(sb, nbytes):
    p = subprocess.Popen(["script", "-q", "-c", output_cmd(nbytes), "/dev/null"],
                         stdout=subprocess.DEVNULL, env=sb.env(), cwd=sb.root)
    s = Sampler(p.pid, with_worker=False)
    sample_until_exit(p, s)
    say("  script %4d MB: VmHWM %s" % (nbytes // 10**6, fmt_mb(s.hwm_sum())))
    return s


def start_mode(sb, nbytes):
    api = fast_fake_api(counting_api_class())
    api.next_sync_after = 1000
    p = None
    try:
        api.add_job("mem", {"commands": [{"directive": output_cmd(nbytes)}]})
        t0 = time.monotonic()
        p = subprocess.Popen([agent_bin(), "start", "--endpoint", api.endpoint, "--no-https",
                              "--token", "reg-token", "--name", "bench-agent-01", "--disconnect-after-job"],
                             stdout=open(sb.path("start.log"), "wb"), stderr=subprocess.STDOUT,
                             env=sb.env(), cwd=sb.root)
        s = Sampler(p.pid)
        deadline = time.monotonic() + 600
        while p.poll() is None and time.monotonic() < deadline:
            s.sample()
            time.sleep(0.05)
        if p.poll() is None:
            raise RuntimeError("start did not finish the job in time")
        pushed = api.pushed.get("mem", 0)
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        api.stop()
    say("  start %5d MB: %.1f s, %d events pushed; VmHWM %s; sum %s; peak sampled VmRSS sum %s,"
        " PSS sum %s" % (
        nbytes // 10**6, time.monotonic() - t0, pushed, s.describe(), fmt_mb(s.hwm_sum()),
        fmt_mb(s.peak_sum), fmt_mb(s.peak_pss)))
    return s


def run():
    small, big = (20_000_000, 200_000_000) if quick() else (100_000_000, 1_000_000_000)
    say("== 5. memory under load: jobs printing %d MB and %d MB" % (small // 10**6, big // 10**6))
    sb = Sandbox()
    try:
        base = script_mode(sb, small)
        s_small = run_mode(sb, small)
        s_big = run_mode(sb, big)
        s_start_small = start_mode(sb, small)
        s_start = start_mode(sb, big)
    finally:
        sb.close()
    b = base.hwm_sum()
    res = []
    res.append(report(Result(
        "5 memory", "run, %d MB: VmHWM supervisor+worker" % (big // 10**6), "script " + fmt_mb(b),
        fmt_mb(s_big.hwm_sum()), s_big.hwm_sum() / b, "< %.0f MB" % BAR_MB,
        kb_to_mb(s_big.hwm_sum()) < BAR_MB)))
    growth = kb_to_mb(s_big.hwm_sum() - s_small.hwm_sum())
    res.append(report(Result(
        "5 memory", "run, %d MB vs %d MB" % (big // 10**6, small // 10**6), fmt_mb(s_small.hwm_sum()),
        fmt_mb(s_big.hwm_sum()), s_big.hwm_sum() / max(s_small.hwm_sum(), 1),
        "growth < %.0f MB" % GROWTH_MB, growth < GROWTH_MB)))
    res.append(report(Result(
        "5 memory", "start, %d MB (pushing): VmHWM supervisor+worker" % (big // 10**6), "script " + fmt_mb(b),
        fmt_mb(s_start.hwm_sum()), s_start.hwm_sum() / b, "< %.0f MB" % BAR_MB,
        kb_to_mb(s_start.hwm_sum()) < BAR_MB)))
    res.append(report(Result(
        "5 memory", "start, %d MB: peak PSS supervisor+worker (libraries shared)" % (big // 10**6),
        "-", fmt_mb(s_start.peak_pss), None, "", None)))
    growth = kb_to_mb(s_start.hwm_sum() - s_start_small.hwm_sum())
    res.append(report(Result(
        "5 memory", "start, %d MB vs %d MB" % (big // 10**6, small // 10**6),
        fmt_mb(s_start_small.hwm_sum()), fmt_mb(s_start.hwm_sum()),
        s_start.hwm_sum() / max(s_start_small.hwm_sum(), 1), "growth < %.0f MB" % GROWTH_MB,
        growth < GROWTH_MB)))
    return res


if __name__ == "__main__":
    main_for(run)
