"""Runs one integration case.

    python3 run_case.py MODULE CASE [BUILD_DIR]   exit 0 when the case passes, 1 when not
    python3 run_case.py MODULE --list             the case names, one a line

The build dir is SA_BUILD_DIR, else BUILD_DIR, else ../../build.
"""
import importlib
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if len(argv) == 4:
        harness.set_build_dir(argv[3])
    mod = importlib.import_module(argv[1])
    if argv[2] == "--list":
        print("\n".join(mod.CASES))
        return 0
    if argv[2] not in mod.CASES:
        print("no case %r in %s; known: %s" % (argv[2], argv[1], ", ".join(mod.CASES)),
              file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        mod.CASES[argv[2]]()
    except Exception as e:
        if type(e).__name__ == "Skip":  # a case that cannot run here says why
            print("SKIP %s.%s: %s" % (argv[1], argv[2], e))
            return 77
        traceback.print_exc()
        print("FAIL %s.%s (%.1fs)" % (argv[1], argv[2], time.monotonic() - t0))
        return 1
    print("ok %s.%s (%.1fs)" % (argv[1], argv[2], time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
