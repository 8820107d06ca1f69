"""Runs one integration case: python3 run_case.py MODULE CASE (or MODULE --list)."""
import importlib
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    mod = importlib.import_module(sys.argv[1])
    if sys.argv[2] == "--list":
        print("\n".join(mod.CASES))
        return 0
    case = mod.CASES[sys.argv[2]]
    try:
        case()
    except Exception:
        traceback.print_exc()
        print("FAIL %s.%s" % (sys.argv[1], sys.argv[2]))
        return 1
    print("ok %s.%s" % (sys.argv[1], sys.argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
