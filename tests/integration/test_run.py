"""`semaphore-agent run`: the full event sequence for each job shape."""
import os
import signal
import stat
import subprocess
import time

from harness import (Failure, Sandbox, agent_bin, b64, check, children_of, cmdline, eq,
                     processes_matching, run_job, wait_for)

CASES = {}


def case(fn):
    def wrapped():
        sb = Sandbox()
        try:
            fn(sb)
            eq(sb.leftover_job_dirs(), [], "the job directory must be removed")
        finally:
            sb.close()
    CASES[fn.__name__] = wrapped
    return fn


def cmds(*directives):
    return [{"directive": d} for d in directives]


ENV_STEP = "Exporting environment variables"
FILES_STEP = "Injecting Files"


@case
def hello_world(sb):
    r = run_job(sb, {"job_id": "j", "commands": cmds("echo hello")})
    eq(r.code, 0, "exit status", r)
    kinds = [e["event"] for e in r.parsed()]
    eq(kinds, ["job_started",
               "cmd_started", "cmd_finished",          # env vars (none)
               "cmd_started", "cmd_finished",          # files (none)
               "cmd_started", "cmd_output", "cmd_finished",
               "cmd_started", "cmd_output", "cmd_finished",  # epilogue env export
               "job_finished"], "event sequence", r)
    eq(r.steps(), [(ENV_STEP, "", 0), (FILES_STEP, "", 0), ("echo hello", "hello\n", 0),
                   (ENV_STEP, "Exporting SEMAPHORE_JOB_RESULT\n", 0)], "steps", r)
    eq(r.result(), "passed", "result", r)
    eq(set(r.parsed()[-1].keys()), {"event", "timestamp", "result"}, "job_finished fields")


TRICKY = {
    "SPACES": "a value with  spaces",
    "SINGLE": "it's",
    "DOUBLE": 'say "hi"',
    "DOLLAR": "$HOME and ${PATH} and $(id)",
    "BACKTICK": "`whoami`",
    "NEWLINES": "line1\nline2\n",
    "UNICODE": "żółć ☃ 特",
    "EMPTY": "",
    "PLAIN": "a-b_c@d%e+f=g:h,i.j/k",
}


@case
def env_vars_quoting(sb):
    job = {"env_vars": [{"name": k, "value": b64(v)} for k, v in TRICKY.items()],
           "commands": cmds(*["printf '%%s|' \"$%s\"" % k for k in TRICKY])}
    r = run_job(sb, job)
    eq(r.result(), "passed", "result", r)
    eq(r.step(ENV_STEP)[1], "".join("Exporting %s\n" % k for k in sorted(TRICKY)),
       "exported names, sorted", r)
    for k, v in TRICKY.items():
        eq(r.step("printf '%%s|' \"$%s\"" % k)[1], v.replace("\r\n", "\n") + "|", "value of " + k, r)


@case
def agent_env_vars_win(sb):
    job = {"env_vars": [{"name": "A", "value": b64("job")}, {"name": "B", "value": b64("job")}],
           "commands": cmds('echo "$A $B $C"')}
    r = run_job(sb, job, args=["--env-vars", "B=agent", "--env-vars", "C=agent c"])
    eq(r.step('echo "$A $B $C"')[1], "job agent agent c\n", "agent values win", r)
    eq(r.step(ENV_STEP)[1], "Exporting A\nExporting B\nExporting C\n", "names", r)


@case
def files_paths_and_modes(sb):
    absolute = sb.path("abs", "dir", "file.bin")
    binary = bytes(range(256))
    job = {"files": [
        {"path": "rel/dir/a.txt", "content": b64("relative\n"), "mode": "0600"},
        {"path": "~/tilde/b.sh", "content": b64("#!/bin/sh\necho b\n"), "mode": "0755"},
        {"path": absolute, "content": b64(binary), "mode": "644"},
    ], "commands": cmds("cat rel/dir/a.txt", "~/tilde/b.sh")}
    r = run_job(sb, job)
    eq(r.result(), "passed", "result", r)
    eq(r.step(FILES_STEP)[1],
       "Injecting %s/rel/dir/a.txt with file mode 0600\n"
       "Injecting %s/tilde/b.sh with file mode 0755\n"
       "Injecting %s with file mode 644\n" % (sb.home, sb.home, absolute), "file lines", r)
    eq(r.step("cat rel/dir/a.txt")[1], "relative\n", "relative file content", r)
    eq(r.step("~/tilde/b.sh")[1], "b\n", "executable file ran", r)
    with open(absolute, "rb") as f:
        eq(f.read(), binary, "binary content byte for byte")
    eq(stat.S_IMODE(os.stat(os.path.join(sb.home, "rel/dir/a.txt")).st_mode), 0o600, "mode 0600")
    eq(stat.S_IMODE(os.stat(os.path.join(sb.home, "tilde/b.sh")).st_mode), 0o755, "mode 0755")
    eq(stat.S_IMODE(os.stat(absolute).st_mode), 0o644, "mode 644")


@case
def file_bad_mode(sb):
    job = {"files": [{"path": "x.txt", "content": b64("x"), "mode": "0999"}],
           "commands": cmds("echo never"),
           "epilogue_always_commands": cmds('echo "epilogue $SEMAPHORE_JOB_RESULT"')}
    r = run_job(sb, job)
    eq(r.code, 1, "exit status", r)
    eq(r.result(), "failed", "result", r)
    step = r.step(FILES_STEP)
    eq(step[2], 1, "files step fails", r)
    check("bad file permission '0999'" in step[1], "bad mode message", r)
    check(all(s[0] != "echo never" for s in r.steps()), "commands must not run", r)
    eq(r.step('echo "epilogue $SEMAPHORE_JOB_RESULT"')[1], "epilogue failed\n", "epilogue", r)


@case
def file_bad_base64(sb):
    job = {"files": [{"path": "x.txt", "content": "!!!not base64!!!", "mode": "0644"}],
           "commands": cmds("echo never")}
    r = run_job(sb, job)
    eq(r.result(), "failed", "result", r)
    step = r.step(FILES_STEP)
    eq(step[2], 1, "files step fails", r)
    check("Failed to decode the content of the file." in step[1], "base64 message", r)


@case
def first_failure_stops_commands(sb):
    job = {"commands": cmds("echo one", "false", "echo three"),
           "epilogue_always_commands": cmds("echo always"),
           "epilogue_on_pass_commands": cmds("echo on-pass"),
           "epilogue_on_fail_commands": cmds('echo "on-fail $SEMAPHORE_JOB_RESULT"', "false", "echo after-fail")}
    r = run_job(sb, job)
    eq(r.code, 1, "exit status", r)
    names = [s[0] for s in r.steps()]
    eq(names, [ENV_STEP, FILES_STEP, "echo one", "false", ENV_STEP, "echo always",
               'echo "on-fail $SEMAPHORE_JOB_RESULT"', "false"], "steps run", r)
    eq(r.step("false")[2], 1, "false exits 1", r)
    eq(r.step('echo "on-fail $SEMAPHORE_JOB_RESULT"')[1], "on-fail failed\n", "on-fail sees result", r)
    eq(r.result(), "failed", "epilogues never change the result", r)


@case
def on_pass_epilogue(sb):
    job = {"commands": cmds("true"),
           "epilogue_always_commands": cmds("false"),
           "epilogue_on_pass_commands": cmds('echo "on-pass $SEMAPHORE_JOB_RESULT"'),
           "epilogue_on_fail_commands": cmds("echo on-fail")}
    r = run_job(sb, job)
    eq(r.step('echo "on-pass $SEMAPHORE_JOB_RESULT"')[1], "on-pass passed\n", "on-pass", r)
    check(all(s[0] != "echo on-fail" for s in r.steps()), "on-fail must not run", r)
    eq(r.result(), "passed", "a failing epilogue does not change the result", r)
    eq(r.code, 0, "exit status", r)


@case
def state_persists(sb):
    job = {"commands": cmds("cd /tmp", "pwd", "export FOO=bar", "echo $FOO",
                            "greet() { echo \"hi $1\"; }", "greet you", "BAR=local", "echo $BAR")}
    r = run_job(sb, job)
    eq(r.step("pwd")[1], "/tmp\n", "cd persists", r)
    eq(r.step("echo $FOO")[1], "bar\n", "export persists", r)
    eq(r.step("greet you")[1], "hi you\n", "functions persist", r)
    eq(r.step("echo $BAR")[1], "local\n", "shell variables persist", r)


@case
def multiline_heredoc(sb):
    directive = "cat <<'EOF'\nline one\n  $NOT_EXPANDED\nEOF\necho done"
    r = run_job(sb, {"commands": cmds(directive)})
    eq(r.step(directive), (directive, "line one\n  $NOT_EXPANDED\ndone\n", 0), "heredoc", r)


@case
def unicode_and_invalid_utf8(sb):
    job = {"commands": cmds("echo 'żółć ☃ 特 🎉'", "printf 'a\\xff\\xfeb\\n'", "printf '\\xe7\\x89'")}
    r = run_job(sb, job)  # run_job decodes stdout strictly as UTF-8
    eq(r.step("echo 'żółć ☃ 特 🎉'")[1], "żółć ☃ 特 🎉\n", "unicode", r)
    eq(r.step("printf 'a\\xff\\xfeb\\n'")[1], "a\ufffd\ufffdb\n", "invalid bytes", r)
    eq(r.step("printf '\\xe7\\x89'")[1], "\ufffd\ufffd", "truncated sequence at the end", r)


@case
def unknown_command(sb):
    r = run_job(sb, {"commands": cmds("no-such-command-xyz")})
    step = r.step("no-such-command-xyz")
    eq(step[2], 127, "exit code", r)
    check("command not found" in step[1], "bash says so", r)
    eq(r.result(), "failed", "result", r)


@case
def alias(sb):
    r = run_job(sb, {"commands": [{"directive": "echo aliased", "alias": "Say it"}]})
    eq(r.step("Say it"), ("Say it", "Running: echo aliased\naliased\n", 0), "alias step", r)


def _exit130(sb, value, expected):
    pre = "export SEMAPHORE_JOB_RESULT=%s; " % value if value is not None else ""
    job = {"commands": cmds(pre + "return 130", "echo never"),
           "epilogue_always_commands": cmds("echo never-epilogue")}
    r = run_job(sb, job)
    names = [s[0] for s in r.steps()]
    eq(names, [ENV_STEP, FILES_STEP, pre + "return 130", "Checking job result"], "steps", r)
    eq(r.step(pre + "return 130")[2], 130, "exit code", r)
    eq(r.result(), expected, "result", r)
    return r


@case
def exit130_passed(sb):
    r = _exit130(sb, "passed", "passed")
    eq(r.step("Checking job result")[1],
       "SEMAPHORE_JOB_RESULT=passed - stopping job and marking it as passed", "message", r)
    eq(r.code, 0, "exit status", r)


@case
def exit130_failed(sb):
    r = _exit130(sb, "failed", "failed")
    eq(r.step("Checking job result")[1],
       "SEMAPHORE_JOB_RESULT=failed - stopping job and marking it as failed", "message", r)
    eq(r.code, 1, "exit status", r)


@case
def exit130_unset(sb):
    r = _exit130(sb, None, "stopped")
    eq(r.step("Checking job result")[1],
       "SEMAPHORE_JOB_RESULT is set to '' - stopping job and marking it as stopped", "message", r)
    eq(r.code, 130, "exit status", r)


@case
def exit_in_command(sb):
    job = {"commands": cmds("echo Hello && exit 3", "echo never"),
           "epilogue_always_commands": cmds("echo never-either")}
    r = run_job(sb, job, timeout=30)
    eq(r.step("echo Hello && exit 3"), ("echo Hello && exit 3", "Hello\n", 1), "killed shell", r)
    check(all(s[0] != "echo never" for s in r.steps()), "later commands do not run", r)
    eq(r.step("echo never-either")[2], 1, "epilogue reports 1 without running", r)
    eq(r.step("echo never-either")[1], "", "epilogue prints nothing", r)
    eq(r.result(), "failed", "result", r)


@case
def forty_thousand_lines(sb):
    r = run_job(sb, {"commands": cmds("seq 1 40000")})
    out = r.step("seq 1 40000")[1]
    expected = "".join("%d\n" % i for i in range(1, 40001))
    check(out == expected, "output differs (%d bytes, expected %d)" % (len(out), len(expected)))
    sizes = [len(e["output"].encode()) for e in r.parsed() if e["event"] == "cmd_output"]
    check(max(sizes) <= 4096, "chunks are at most 4 KiB: %d" % max(sizes))


@case
def marker_like_output(sb):
    directives = ["printf '\\001abc:E:0\\n'", "printf 'x\\001y\\n'",
                  "printf '\\001%s:E:0\\n' deadbeef", "echo 949556c7-1-end 0"]
    r = run_job(sb, {"commands": cmds(*directives + ["echo still-here"])})
    eq(r.step(directives[0])[1], "\x01abc:E:0\n", "fake marker 1", r)
    eq(r.step(directives[1])[1], "x\x01y\n", "lone 0x01", r)
    eq(r.step(directives[2])[1], "\x01deadbeef:E:0\n", "fake marker 2", r)
    eq(r.step(directives[3])[1], "949556c7-1-end 0\n", "original agent's marker", r)
    eq(r.step("echo still-here")[1], "still-here\n", "later command", r)


@case
def pre_and_post_hooks(sb):
    pre = sb.write("pre.sh", "echo pre-hook ran\nexport FROM_HOOK=yes\n")
    post = sb.write("post.sh", "echo post-hook ran\nexit 5\n")
    job = {"commands": cmds('echo "hook var: ${FROM_HOOK:-unset}"')}
    r = run_job(sb, job, args=["--pre-job-hook-path", pre, "--post-job-hook-path", post])
    step = r.step("Running the pre-job hook configured in the agent")
    eq(step, ("Running the pre-job hook configured in the agent",
              "Running: bash %s\nWarning: The agent is configured to proceed with the job even "
              "if the pre-job hook fails.\npre-hook ran\n" % pre, 0), "pre-hook step", r)
    eq(r.step('echo "hook var: ${FROM_HOOK:-unset}"')[1], "hook var: unset\n", "bash hook does not leak", r)
    post_step = r.step("Running the post-job hook configured in the agent")
    eq(post_step, ("Running the post-job hook configured in the agent",
                   "Running: bash %s\npost-hook ran\n" % post, 5), "post-hook step", r)
    eq(r.result(), "passed", "post hook never changes the result", r)
    names = [s[0] for s in r.steps()]
    check(names.index("Running the pre-job hook configured in the agent") < names.index(FILES_STEP) + 2,
          "pre-hook runs right after the files", r)


@case
def sourced_pre_hook(sb):
    pre = sb.write("pre.sh", "export FROM_HOOK=yes\n")
    r = run_job(sb, {"commands": cmds('echo "$FROM_HOOK"')}, args=["--pre-job-hook-path", pre, "--source-pre-job-hook"])
    check(r.step("Running the pre-job hook configured in the agent")[1].startswith("Running: source %s\n" % pre), "source", r)
    eq(r.step('echo "$FROM_HOOK"')[1], "yes\n", "sourced hook exports", r)


@case
def failing_pre_hook_proceeds(sb):
    pre = sb.write("pre.sh", "exit 4\n")
    r = run_job(sb, {"commands": cmds("echo ran")}, args=["--pre-job-hook-path", pre])
    eq(r.step("Running the pre-job hook configured in the agent")[2], 4, "hook exit code", r)
    eq(r.step("echo ran")[1], "ran\n", "commands still run", r)
    eq(r.result(), "passed", "result", r)


@case
def failing_pre_hook_fails_job(sb):
    pre = sb.write("pre.sh", "exit 4\n")
    r = run_job(sb, {"commands": cmds("echo ran")},
                args=["--pre-job-hook-path", pre, "--fail-on-pre-job-hook-error"])
    step = r.step("Running the pre-job hook configured in the agent")
    check("Warning: The agent is configured to fail the job if the pre-job hook fails.\n" in step[1], "warning", r)
    check(all(s[0] != "echo ran" for s in r.steps()), "commands do not run", r)
    eq(r.result(), "failed", "result", r)


def _start(sb, job):
    path = sb.job_file(job)
    out = open(sb.path("out.jsonl"), "wb")
    p = subprocess.Popen([agent_bin(), "run", "--json", path], stdout=out,
                         stderr=subprocess.PIPE, env=sb.env())
    return p, out


def _read_out(sb):
    with open(sb.path("out.jsonl"), "rb") as f:
        return f.read().decode()


@case
def sigint_stops_job(sb):
    p, out = _start(sb, {"commands": cmds("echo started; sleep 300", "echo never")})
    wait_for(lambda: "started" in _read_out(sb), 20, "the command to start")
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.wait(timeout=20)
    out.close()
    elapsed = time.monotonic() - t0
    check(elapsed < 10, "stopping took %.1fs" % elapsed)
    eq(p.returncode, 130, "exit status")
    from harness import parse_events
    ev = parse_events(_read_out(sb))
    eq(ev[-1], dict(ev[-1], event="job_finished", result="stopped"), "stopped")
    check(not any(e.get("directive") == "echo never" for e in ev), "nothing runs after the stop")
    wait_for(lambda: not processes_matching("sleep 300"), 5, "sleep 300 to be gone")


@case
def worker_killed(sb):
    p, out = _start(sb, {"commands": cmds("echo started; sleep 310")})
    wait_for(lambda: "started" in _read_out(sb), 20, "the command to start")
    workers = [c for c in children_of(p.pid) if "semaphore-agent-worker" in cmdline(c)]
    eq(len(workers), 1, "one worker process")
    os.kill(workers[0], signal.SIGKILL)
    p.wait(timeout=20)
    out.close()
    eq(p.returncode, 1, "exit status")
    from harness import parse_events
    ev = parse_events(_read_out(sb))
    outputs = "".join(e.get("output", "") for e in ev)
    check("worker process was killed by signal 9" in outputs, "says how the worker died:\n" + _read_out(sb))
    eq(ev[-2]["event"], "cmd_finished", "the open command is closed")
    eq(ev[-1]["result"], "failed", "result")
    wait_for(lambda: not processes_matching("sleep 310"), 10, "the job's sleep to be killed")


@case
def yaml_job(sb):
    text = ("job_id: y1\n"
            "env_vars:\n  - name: N\n    value: %s\n"
            "files:\n  - path: f.txt\n    content: %s\n    mode: \"0640\"\n"
            "commands:\n  - directive: echo \"$N\" && cat f.txt\n"
            "  - directive: echo 42\n" % (b64("yaml value"), b64("file\n")))
    path = sb.write("job.yaml", text)
    r = run_job(sb, path)
    eq(r.step('echo "$N" && cat f.txt')[1], "yaml value\nfile\n", "yaml job", r)
    eq(r.step("echo 42")[1], "42\n", "a number-looking directive", r)


def _bad(sb, text, field):
    path = sb.write("bad.json", text)
    r = run_job(sb, path)
    eq(r.code, 2, "exit status for an unusable job file", r)
    check(field in r.stderr, "stderr names %r" % field, r)
    eq(r.stdout, "", "no events", r)


@case
def unusable_job_files(sb):
    _bad(sb, '{"commands": [', "invalid JSON")
    _bad(sb, '{"commands": "echo"}', "commands: expected a list")
    _bad(sb, '{"commands": [{"directive": 5.5}], "env_vars": [{"name": "A", "value": "%%%"}]}',
         "env_vars[0].value: not valid base64")
    _bad(sb, '{"commands": [{"alias": "x"}]}', "commands[0].directive: required")
    _bad(sb, '{"env_vars": [{"name": "A B", "value": ""}]}', "env_vars[0].name")
    _bad(sb, '{"executor": "podman"}', "executor")
    r = run_job(sb, sb.path("missing.json"))
    eq(r.code, 2, "missing file", r)
    check("missing.json" in r.stderr, "names the file", r)


@case
def readable_mode(sb):
    r = run_job(sb, {"commands": cmds("echo visible", "false")}, json_mode=False)
    eq(r.code, 1, "exit status", r)
    for text in ["==> echo visible", "visible\n", "<== exit code 0", "==> false",
                 "<== exit code 1", "Job failed"]:
        check(text in r.stdout, "readable log shows %r" % text, r)
    check("\x1b[" not in r.stdout, "no colour when not on a terminal", r)


@case
def background_processes_killed(sb):
    job = {"commands": cmds("sleep 3001 &", "(setsid sleep 3002 &)", "nohup sleep 3003 >/dev/null 2>&1 &",
                            "(trap '' TERM HUP; exec sleep 3004) & disown",
                            "echo done")}
    t0 = time.monotonic()
    r = run_job(sb, job, timeout=30)
    eq(r.result(), "passed", "result", r)
    check(time.monotonic() - t0 < 10, "the job end does not wait for background processes")
    for n in ("3001", "3002", "3003", "3004"):
        wait_for(lambda: not processes_matching("sleep " + n), 5, "sleep %s to be gone" % n)


@case
def help_and_version(sb):
    for args in (["--version"], ["version"], ["run", "--version"]):
        p = subprocess.run([agent_bin()] + args, capture_output=True, text=True, timeout=10)
        eq(p.returncode, 0, "exit status of %s" % args)
        check(p.stdout.strip().count(".") == 2, "prints a version: %r" % p.stdout)
    for sub in ("run", "start", "check-config", "version", "serve"):
        p = subprocess.run([agent_bin(), sub, "--help"], capture_output=True, text=True, timeout=10)
        eq(p.returncode, 0, "%s --help exit status" % sub)
        check("Usage: semaphore-agent " + sub in p.stdout, "%s --help: %r" % (sub, p.stdout))
    p = subprocess.run([agent_bin(), "frobnicate"], capture_output=True, text=True, timeout=10)
    eq(p.returncode, 2, "unknown command")
    check("unknown command 'frobnicate'" in p.stderr, "names it")
