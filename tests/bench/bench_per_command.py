"""2. Per-command overhead: (job of 501 `true` commands - job of 1) / 500, through
`semaphore-agent run --json`, against bash running the same loop
(`bash -c 'for i in $(seq 50001); do true; done'` minus the 1-iteration loop, / 50000:
at 500 iterations bash's own start-up noise hides the loop).
Bar: under 1 ms per command."""
from common import (Result, Sandbox, agent_bin, main_for, median, report, reps, run_timed, say,
                    wait_quiet)

BAR_S = 0.001
N = 500
N_BASH = 50000  # bash's own loop is too cheap to see at 500 iterations


def run():
    n = reps(7)
    say("== 2. per-command overhead: jobs of %d and 1 `true` commands, %d repetitions" % (N + 1, n))
    sb = Sandbox()
    try:
        one = sb.job_file(["true"], name="one.json")
        many = sb.job_file(["true"] * (N + 1), name="many.json")
        env = sb.env()
        a1, an, b1, bn = [], [], [], []
        loop = "for i in $(seq %d); do true; done"
        run_timed([agent_bin(), "run", "--json", one], env=env, cwd=sb.root)  # warm-up
        for i in range(n):
            wait_quiet(30, sample=0.5, warn=False)
            a1.append(run_timed([agent_bin(), "run", "--json", one], env=env, cwd=sb.root)[0])
            an.append(run_timed([agent_bin(), "run", "--json", many], env=env, cwd=sb.root)[0])
            b1.append(run_timed(["bash", "-c", loop % 1], env=env)[0])
            bn.append(run_timed(["bash", "-c", loop % (N_BASH + 1)], env=env)[0])
            say("  rep %d: agent 1 cmd %.1f ms, %d cmds %.1f ms; bash loop 1 %.2f ms, %d %.2f ms" % (
                i + 1, a1[-1] * 1e3, N + 1, an[-1] * 1e3, b1[-1] * 1e3, N_BASH + 1, bn[-1] * 1e3))
    finally:
        sb.close()
    per = (median(an) - median(a1)) / N
    base = max((median(bn) - median(b1)) / N_BASH, 1e-7)
    r = Result("2 per-command", "per command: (501 - 1 commands) / 500",
               "bash loop %.2f us" % (base * 1e6), "agent %.3f ms" % (per * 1e3),
               per / base, "< 1 ms", per < BAR_S)
    s = Result("2 per-command", "job of one `true`, whole run (median)", "-",
               "%.1f ms" % (median(a1) * 1e3), None, "", None)
    return [report(r), report(s)]


if __name__ == "__main__":
    main_for(run)
