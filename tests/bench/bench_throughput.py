"""1. Throughput: a job printing 100 MB through `semaphore-agent run --json JOB > /dev/null`,
against `script -q -c CMD /dev/null > /dev/null` (the plain PTY recorder) with the same CMD,
alternated in the same run. Figure: median agent time / median script time. Bar: <= 1.3."""
from common import (Result, Sandbox, agent_bin, main_for, median, quick, report, reps, run_timed,
                    say, wait_quiet)

BAR = 1.3


def output_cmd(nbytes):
    # 100-byte lines (99 x + newline), exactly nbytes of output.
    return "yes %s | head -c %d" % ("x" * 99, nbytes)


def cpu(ru):
    return ru.ru_utime + ru.ru_stime


def run():
    nbytes = 20_000_000 if quick() else 100_000_000
    n = reps(5)
    cmd = output_cmd(nbytes)
    say("== 1. throughput: %d MB of output, %d repetitions, CMD: %s" % (nbytes // 10**6, n, cmd))
    sb = Sandbox()
    try:
        job = sb.job_file([cmd])
        agent_argv = [agent_bin(), "run", "--json", job]
        script_argv = ["script", "-q", "-c", cmd, "/dev/null"]
        env = sb.env()
        # One warm-up of each (page cache, binaries), not counted.
        run_timed(script_argv, env=env, cwd=sb.root)
        run_timed(agent_argv, env=env, cwd=sb.root)
        a_times, s_times, a_cpu, s_cpu = [], [], [], []
        for i in range(n):
            busy = wait_quiet(30, sample=0.5, warn=False)
            ws, rs = run_timed(script_argv, env=env, cwd=sb.root)
            wa, ra = run_timed(agent_argv, env=env, cwd=sb.root)
            s_times.append(ws)
            a_times.append(wa)
            s_cpu.append(cpu(rs))
            a_cpu.append(cpu(ra))
            say("  rep %d: script %.3f s (cpu %.2f s)   agent %.3f s (cpu %.2f s)%s" % (
                i + 1, ws, cpu(rs), wa, cpu(ra),
                "   (machine %.0f%% busy before)" % (busy * 100) if busy > 0.15 else ""))
    finally:
        sb.close()
    ms, ma = median(s_times), median(a_times)
    mb = nbytes / 1e6
    r = Result("1 throughput", "%d MB job, wall time (median of %d)" % (mb, n),
               "script %.3f s (%.0f MB/s)" % (ms, mb / ms), "agent %.3f s (%.0f MB/s)" % (ma, mb / ma),
               ma / ms, "<= %.1fx script" % BAR, ma / ms <= BAR)
    c = Result("1 throughput", "CPU of the whole process tree (median)",
               "script %.2f s" % median(s_cpu), "agent %.2f s" % median(a_cpu),
               median(a_cpu) / median(s_cpu), "", None)
    return [report(r), report(c)]


if __name__ == "__main__":
    main_for(run)
