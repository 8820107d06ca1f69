"""Runs every benchmark of issue 8 and prints the summary table (`make bench`).

    python3 tests/bench/run_all.py [BUILD_DIR] [NAME...]

NAME picks benchmarks by module suffix: throughput, start_throughput, per_command, idle, push, memory,
latency, serve (default: all, in that order). Knobs: see common.py (BENCH_REPS, BENCH_QUICK,
BENCH_IDLE_SECONDS, BENCH_PUSH_COMMANDS); BENCH_STRICT=1 makes a failed bar exit 1;
BENCH_JSON=FILE also writes the rows as JSON. None of this is part of `make test`.
"""
import importlib
import json
import os
import platform
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in tests/bench or tests/integration
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

ORDER = ["throughput", "start_throughput", "per_command", "idle", "push", "memory", "latency", "serve"]


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "%s, %d CPUs, %.0f GiB RAM, Linux %s" % (model, os.cpu_count(), mem, platform.release())


def main(argv):
    args = argv[1:]
    if args and not args[0] in ORDER:
        common.set_build_dir(args.pop(0))
    names = args or ORDER
    for n in names:
        if n not in ORDER:
            print("unknown benchmark %r; known: %s" % (n, ", ".join(ORDER)), file=sys.stderr)
            return 2
    common.say("semaphore-agent benchmarks (issue 8)")
    common.say("build: %s" % common.build_dir())
    common.say("machine: %s" % machine())
    common.agent_bin()
    results, broken = [], []
    t0 = time.monotonic()
    for n in names:
        common.say()
        common.wait_quiet()
        try:
            mod = importlib.import_module("bench_" + n)
            results.extend(mod.run())
        except Exception:
            traceback.print_exc()
            broken.append(n)
            results.append(common.Result(n, "benchmark broke (see above)", "-", "-", None, "", False))
    common.say()
    common.say("== summary (%.0f s; machine: %s)" % (time.monotonic() - t0, machine()))
    common.say(common.table(results))
    failed = [r for r in results if r.ok is False]
    common.say("%d bars held, %d did not%s" % (
        sum(1 for r in results if r.ok), len(failed),
        "; broken: " + ", ".join(broken) if broken else ""))
    if os.environ.get("BENCH_JSON"):
        with open(os.environ["BENCH_JSON"], "w") as f:
            json.dump({"machine": machine(), "rows": [r.as_dict() for r in results]}, f, indent=1)
    if broken:
        return 1
    if failed and os.environ.get("BENCH_STRICT", "") not in ("", "0"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
