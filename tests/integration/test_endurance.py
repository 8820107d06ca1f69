"""Endurance: many short jobs in a row through `start`. Open descriptors and
resident memory after the last job stay within 10% of after the tenth, and no
job directory or cgroup is left. 100 jobs here; `make soak` runs 1000."""
import os
import subprocess

from fake_api import REG_TOKEN, FakeApi
from harness import Sandbox, agent_bin, check, eq, fd_count, rss_kb
from test_sandbox import CgroupParent

CASES = {}




def many_jobs():
    n = int(os.environ.get("SA_SOAK_JOBS", "100"))
    sb = Sandbox()
    api = FakeApi()
    parent = CgroupParent()
    api.next_sync_after = 20
    try:
        for i in range(n):
            api.add_job("e%d" % i, {"commands": [{"directive": "echo job %d; seq 1 50" % i}]})
        api.finished_answer = {"action": "wait-for-jobs"}
        p = subprocess.Popen([agent_bin(), "start", "--endpoint", api.endpoint, "--no-https", "--token", REG_TOKEN,
                              "--name", "endurance-agent-1",
                              "--job-cgroup-parent", parent.path], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=sb.env())
        try:
            # Distinct jobs: one job may be reported finished more than once.
            finished = lambda k: len({s["job_id"] for s in api.syncs() if s["state"] == "finished-job"}) >= k
            api.wait_for(lambda: finished(10), 120, "10 jobs")
            # Measured once the agent is back to waiting, between jobs.
            api.wait_for(lambda: api.syncs()[-1]["state"] == "waiting-for-jobs" or finished(11), 30, "idle")
            fd10, rss10 = fd_count(p.pid), rss_kb(p.pid)
            api.wait_for(lambda: finished(n) and not api.pending, 60 + n * 2, "%d jobs" % n)
            api.wait_for(lambda: api.syncs()[-1]["state"] == "waiting-for-jobs", 30, "idle after the last job")
            fd_n, rss_n = fd_count(p.pid), rss_kb(p.pid)
        finally:
            p.terminate()
            p.wait(timeout=60)
        print("after 10 jobs: %d fds, %d KiB; after %d jobs: %d fds, %d KiB" % (fd10, rss10, n, fd_n, rss_n))
        check(fd_n <= fd10 * 1.1, "descriptors grew: %d -> %d" % (fd10, fd_n))
        # Under AddressSanitizer freed memory sits in its quarantine (up to
        # 256 MB), so resident memory says nothing there; the plain build checks it.
        if not os.environ.get("SA_SANITIZED"):
            check(rss_n <= rss10 * 1.1, "resident memory grew: %d KiB -> %d KiB" % (rss10, rss_n))
        for i in range(n):
            eq(api.events("e%d" % i)[-1]["result"], "passed", "job %d" % i)
        eq([d for d in os.listdir(sb.tmp) if d.startswith("semaphore-job-")], [], "job directories left")
        eq(parent.children(), [], "job cgroups left")
    finally:
        api.stop()
        parent.remove()
        sb.close()


CASES["many_jobs"] = many_jobs
