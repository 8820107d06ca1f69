"""PASS/FAIL lines of the artefact checks that run outside meson (make dist-check,
make image-check). .ci/run counts the lines that start with "PASS  " or "FAIL  "."""
import os
import re


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, name, ok, detail=""):
        """One check: prints its line (and on failure the last lines of `detail`)."""
        if ok:
            print("PASS  " + name, flush=True)
            self.passed += 1
        else:
            print("FAIL  " + name, flush=True)
            for line in str(detail).splitlines()[-25:]:
                print("      " + line, flush=True)
            self.failed += 1
        return ok


def project_version(top):
    """The version in meson.build's project() call."""
    with open(os.path.join(top, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
