"""Throughput of two agent builds against script(1), in one run (issue 20).

    python3 tests/bench/compare_throughput.py BEFORE_BUILD AFTER_BUILD [MB] [REPS]

Each repetition runs `script -q -c CMD /dev/null`, then `run --json JOB > /dev/null` of each
build, one after the other, so the three share the machine's load of that moment. CMD
prints MB megabytes (100-byte lines). Reported: best and median wall time, and the CPU
(user + sys of the whole process tree) of the best run, with the ratios to script. Best of
N is the figure the issue asks for: on a shared machine every disturbance only adds time.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Sandbox, median, run_timed, say, wait_quiet  # noqa: E402


def output_cmd(nbytes):
    return "yes %s | head -c %d" % ("x" * 99, nbytes)


def main():
    builds = [os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])]
    mb = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    cmd = output_cmd(mb * 10**6)
    sb = Sandbox()
    try:
        job = sb.job_file([cmd])
        env = sb.env()
        argvs = {"script": ["script", "-q", "-c", cmd, "/dev/null"]}
        for name, b in zip(("before", "after"), builds):
            argvs[name] = [os.path.join(b, "daemon", "semaphore-agent"), "run", "--json", job]
        for argv in argvs.values():  # warm-up: page cache, binaries
            run_timed(argv, env=env, cwd=sb.root)
        times = {k: [] for k in argvs}
        for i in range(n):
            busy = wait_quiet(30, sample=0.5, warn=False)
            line = []
            for k, argv in argvs.items():
                wall, ru = run_timed(argv, env=env, cwd=sb.root)
                times[k].append((wall, ru.ru_utime, ru.ru_stime))
                line.append("%s %.3f s (user %.2f sys %.2f)" % (k, wall, ru.ru_utime, ru.ru_stime))
            say("  rep %d: %s   (machine %.0f%% busy before)" % (i + 1, "   ".join(line), busy * 100))
    finally:
        sb.close()
    best_s = min(times["script"])
    say("\n%d MB, best of %d (median wall in brackets); ratios to script's best:" % (mb, n))
    for k in argvs:
        best = min(times[k])
        med = median([t[0] for t in times[k]])
        cpu = best[1] + best[2]
        say("  %-7s wall %.3f s (%.3f)  %5.0f MB/s  cpu %.2f s (user %.2f sys %.2f)   wall %.2fx  cpu %.2fx" % (
            k, best[0], med, mb / best[0], cpu, best[1], best[2], best[0] / best_s[0],
            cpu / (best_s[1] + best_s[2])))


if __name__ == "__main__":
    main()
