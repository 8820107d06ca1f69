"""Checks that tests/integration/meson.build runs every case of every
integration module, and nothing else: each test_*.py here has a row in
`integration_modules`, and the row's case list is the module's CASES.

    python3 check_case_lists.py     exit 0 when in sync, 1 (saying what differs) when not
"""
import glob
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def main():
    listed = harness.meson_case_lists()
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(harness.HERE, "test_*.py")))
    problems = []
    for m in sorted(set(listed) - set(modules)):
        problems.append("meson.build runs %s, which does not exist" % m)
    for m in modules:
        if m not in listed:
            problems.append("meson.build runs no case of %s (add a row to integration_modules)" % m)
            continue
        try:
            harness.check_meson_list(m, importlib.import_module(m).CASES)
        except harness.Failure as e:
            problems.append(str(e))
    for p in problems:
        print("FAIL " + p, file=sys.stderr)
    if not problems:
        print("ok: %d modules, %d cases, as meson.build lists them"
              % (len(modules), sum(len(v) for v in listed.values())))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
