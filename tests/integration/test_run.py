"""`semaphore-agent run`: the full event sequence for each job shape.

Each case is a function taking a Sandbox (private HOME and TMPDIR), registered
by name in CASES; run one with `python3 run_case.py test_run CASE`. The list
in meson.build must match CASES (checked by the case meson_list_in_sync).
"""
import base64
import json
import os
import re
import signal
import stat
import subprocess
import time

from harness import (EVENT_FIELDS, HERE, Background, Failure, Sandbox, agent_bin, b64, check, check_meson_list,
                     build_dir, children_of, cmdline, eq, event_shapes, processes_with_argv, run_job, sandbox_case,
                     unique_seconds, wait_for, worker_bin)

CASES = {}


case = sandbox_case(CASES, "no semaphore-job-* directory may remain in TMPDIR")


def cmds(*directives):
    return [{"directive": d} for d in directives]


ENV_STEP = "Exporting environment variables"
FILES_STEP = "Injecting Files"
PRE_HOOK_STEP = "Running the pre-job hook configured in the agent"
POST_HOOK_STEP = "Running the post-job hook configured in the agent"
CHECK_STEP = "Checking job result"
RESULT_EXPORT = (ENV_STEP, "Exporting SEMAPHORE_JOB_RESULT\n", 0)


def absent(run, directive):
    check(all(s[0] != directive for s in run.steps()), "step %r must not run" % directive, run)


# --- the basic shape ------------------------------------------------------------

@case
def hello_world(sb):
    before = int(time.time())
    r = run_job(sb, {"job_id": "j", "commands": cmds("echo hello")})
    after = int(time.time())
    eq(r.code, 0, "exit status", r)
    eq(r.stderr, "", "nothing on stderr", r)
    ev = r.parsed()
    eq([e["event"] for e in ev],
       ["job_started",
        "cmd_started", "cmd_finished",                     # env vars (none)
        "cmd_started", "cmd_finished",                     # files (none)
        "cmd_started", "cmd_output", "cmd_finished",       # echo hello
        "cmd_started", "cmd_output", "cmd_finished",       # SEMAPHORE_JOB_RESULT export
        "job_finished"], "event sequence", r)
    for e in ev:
        eq(set(e), EVENT_FIELDS[e["event"]], "fields of %s" % e["event"], r)
        check(before <= e["timestamp"] <= after + 1, "timestamp %r is unix seconds of now" % e, r)
    eq([e.get("directive") for e in ev if e["event"] == "cmd_started"],
       [ENV_STEP, FILES_STEP, "echo hello", ENV_STEP], "directives", r)
    eq(r.steps(), [(ENV_STEP, "", 0), (FILES_STEP, "", 0), ("echo hello", "hello\n", 0),
                   RESULT_EXPORT], "steps", r)
    for e in ev:
        if e["event"] == "cmd_finished":
            check(e["started_at"] <= e["finished_at"] <= e["timestamp"], "times of %r" % e, r)
    eq(r.result(), "passed", "result", r)


@case
def golden_event_sequence(sb):
    # Event by event, as the original logs them: one cmd_output per exported
    # variable and per injected file, the hook's "Running:" and its warning
    # apart, and the epilogue's export, always and on-pass sections.
    pre = sb.write("pre.sh", "echo pre-hook ran\n")
    post = sb.write("post.sh", "echo post-hook ran\n")
    abs_file = sb.path("abs", "two.txt")
    job = {"job_id": "golden",
           "env_vars": [{"name": "B_VAR", "value": b64("b")}, {"name": "A_VAR", "value": b64("a")}],
           "files": [{"path": "golden/one.txt", "content": b64("one\n"), "mode": "0600"},
                     {"path": abs_file, "content": b64("two\n"), "mode": "0644"}],
           "commands": cmds('echo "$A_VAR$B_VAR$C_VAR"', "cat golden/one.txt"),
           "epilogue_always_commands": cmds("echo always"),
           "epilogue_on_pass_commands": cmds("echo on-pass"),
           "epilogue_on_fail_commands": cmds("echo on-fail")}
    r = run_job(sb, job, args=["--env-vars", "C_VAR=c", "--pre-job-hook-path", pre,
                               "--post-job-hook-path", post])
    one = os.path.join(sb.home, "golden/one.txt")
    eq(event_shapes(r), [
        ("job_started",),
        ("cmd_started", ENV_STEP),
        ("cmd_output", "Exporting A_VAR\n"),
        ("cmd_output", "Exporting B_VAR\n"),
        ("cmd_output", "Exporting C_VAR\n"),
        ("cmd_finished", ENV_STEP, 0),
        ("cmd_started", FILES_STEP),
        ("cmd_output", "Injecting %s with file mode 0600\n" % one),
        ("cmd_output", "Injecting %s with file mode 0644\n" % abs_file),
        ("cmd_finished", FILES_STEP, 0),
        ("cmd_started", PRE_HOOK_STEP),
        ("cmd_output", "Running: bash %s\n" % pre),
        ("cmd_output", PROCEED),
        ("cmd_output", "pre-hook ran\n"),
        ("cmd_finished", PRE_HOOK_STEP, 0),
        ("cmd_started", 'echo "$A_VAR$B_VAR$C_VAR"'),
        ("cmd_output", "abc\n"),
        ("cmd_finished", 'echo "$A_VAR$B_VAR$C_VAR"', 0),
        ("cmd_started", "cat golden/one.txt"),
        ("cmd_output", "one\n"),
        ("cmd_finished", "cat golden/one.txt", 0),
        ("cmd_started", ENV_STEP),
        ("cmd_output", "Exporting SEMAPHORE_JOB_RESULT\n"),
        ("cmd_finished", ENV_STEP, 0),
        ("cmd_started", "echo always"),
        ("cmd_output", "always\n"),
        ("cmd_finished", "echo always", 0),
        ("cmd_started", "echo on-pass"),
        ("cmd_output", "on-pass\n"),
        ("cmd_finished", "echo on-pass", 0),
        ("cmd_started", POST_HOOK_STEP),
        ("cmd_output", "Running: bash %s\n" % post),
        ("cmd_output", "post-hook ran\n"),
        ("cmd_finished", POST_HOOK_STEP, 0),
        ("job_finished", "passed"),
    ], "every event, in order", r)
    eq(r.code, 0, "exit status", r)


@case
def golden_failed_job_epilogue(sb):
    # A failing command: the on-fail section runs, on-pass does not, and a
    # bad file mode fails the files step with its own event.
    job = {"job_id": "golden-fail",
           "files": [{"path": "f.txt", "content": b64("x"), "mode": "0644"},
                     {"path": "g.txt", "content": b64("x"), "mode": "obviously broken"}],
           "epilogue_always_commands": cmds("echo always"),
           "epilogue_on_pass_commands": cmds("echo on-pass"),
           "epilogue_on_fail_commands": cmds("echo on-fail")}
    r = run_job(sb, job)
    eq(event_shapes(r), [
        ("job_started",),
        ("cmd_started", ENV_STEP),
        ("cmd_finished", ENV_STEP, 0),
        ("cmd_started", FILES_STEP),
        ("cmd_output", "Injecting %s/f.txt with file mode 0644\n" % sb.home),
        ("cmd_output", "Injecting %s/g.txt with file mode obviously broken\n" % sb.home),
        ("cmd_output", "bad file permission 'obviously broken'\n"),
        ("cmd_finished", FILES_STEP, 1),
        ("cmd_started", ENV_STEP),
        ("cmd_output", "Exporting SEMAPHORE_JOB_RESULT\n"),
        ("cmd_finished", ENV_STEP, 0),
        ("cmd_started", "echo always"),
        ("cmd_output", "always\n"),
        ("cmd_finished", "echo always", 0),
        ("cmd_started", "echo on-fail"),
        ("cmd_output", "on-fail\n"),
        ("cmd_finished", "echo on-fail", 0),
        ("job_finished", "failed"),
    ], "every event, in order", r)


# --- environment variables --------------------------------------------------------

TRICKY = {
    "SPACES": "a value with  spaces ",
    "SINGLE": "it's 'quoted'",
    "DOUBLE": 'say "hi"',
    "DOLLAR": "$HOME and ${PATH} and $(id) and $",
    "BACKTICK": "`whoami`",
    "NEWLINES": "line1\nline2\n",
    "BACKSLASH": "a\\b\\n\\",
    "TAB": "a\tb",
    "UNICODE": "żółć ☃ 特 🎉",
    "GLOB": "* ? [a] ~",
    "EMPTY": "",
    "PLAIN": "a-b_c@d%e+f=g:h,i.j/k",
}


@case
def env_vars_quoting(sb):
    job = {"env_vars": [{"name": k, "value": b64(v)} for k, v in TRICKY.items()],
           "commands": cmds(*["printf '%%s|' \"$%s\"" % k for k in TRICKY])}
    r = run_job(sb, job)
    eq(r.result(), "passed", "result", r)
    eq(r.step(ENV_STEP), (ENV_STEP, "".join("Exporting %s\n" % k for k in sorted(TRICKY)), 0),
       "exported names, sorted", r)
    for k, v in TRICKY.items():
        eq(r.step("printf '%%s|' \"$%s\"" % k)[1], v + "|", "value of " + k, r)


@case
def agent_env_vars_win(sb):
    job = {"env_vars": [{"name": "B", "value": b64("job")}, {"name": "A", "value": b64("job")}],
           "commands": cmds('echo "$A|$B|$C|$D"')}
    r = run_job(sb, job, args=["--env-vars", "B=agent", "--env-vars", "C=agent c",
                               "--env-vars", "D=x=y"])
    eq(r.step('echo "$A|$B|$C|$D"')[1], "job|agent|agent c|x=y\n",
       "agent values win; NAME=VALUE splits at the first '='", r)
    eq(r.step(ENV_STEP)[1], "Exporting A\nExporting B\nExporting C\nExporting D\n",
       "each name once, sorted", r)


# --- files ------------------------------------------------------------------------

@case
def files_paths_and_modes(sb):
    absolute = sb.path("abs", "deep", "dir", "file.bin")
    binary = bytes(range(256)) * 3 + b"\r\n\0end"
    script = b"#!/bin/sh\necho b\n"
    job = {"files": [
        {"path": "rel/dir/a.txt", "content": b64(binary), "mode": "0600"},
        {"path": "~/tilde/nested/b.sh", "content": b64(script), "mode": "0755"},
        {"path": absolute, "content": b64(binary), "mode": "644"},
    ], "commands": cmds("cmp rel/dir/a.txt %s && echo same" % absolute, "~/tilde/nested/b.sh")}
    r = run_job(sb, job)
    eq(r.result(), "passed", "result", r)
    eq(r.step("cmp rel/dir/a.txt %s && echo same" % absolute)[1], "same\n", "contents", r)
    eq(r.step("~/tilde/nested/b.sh")[1], "b\n", "the 0755 file is executable", r)
    for p, content, mode in ((os.path.join(sb.home, "rel/dir/a.txt"), binary, 0o600),
                             (os.path.join(sb.home, "tilde/nested/b.sh"), script, 0o755),
                             (absolute, binary, 0o644)):
        check(os.path.isfile(p), "%s was not created" % p, r)
        with open(p, "rb") as f:
            eq(f.read(), content, "content of %s, byte for byte" % p, r)
        eq(oct(stat.S_IMODE(os.stat(p).st_mode)), oct(mode), "mode of " + p, r)
    # The log line shows the normalised path (shared/spec/executors.md 4.6).
    eq(r.step(FILES_STEP),
       (FILES_STEP,
        "Injecting %s/rel/dir/a.txt with file mode 0600\n"
        "Injecting %s/tilde/nested/b.sh with file mode 0755\n"
        "Injecting %s with file mode 644\n" % (sb.home, sb.home, absolute), 0), "files step", r)


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
    check(step[1].startswith("Injecting "), "the file is announced first", r)
    check(step[1].endswith("bad file permission '0999'\n"), "bad mode message", r)
    absent(r, "echo never")
    eq(r.names()[-2:], [ENV_STEP, 'echo "epilogue $SEMAPHORE_JOB_RESULT"'], "epilogue runs", r)
    eq(r.step('echo "epilogue $SEMAPHORE_JOB_RESULT"')[1], "epilogue failed\n", "epilogue", r)


@case
def file_bad_base64(sb):
    job = {"files": [{"path": "x.txt", "content": "!!!not base64!!!", "mode": "0644"}],
           "commands": cmds("echo never"),
           "epilogue_always_commands": cmds('echo "epilogue $SEMAPHORE_JOB_RESULT"')}
    r = run_job(sb, job)
    eq(r.code, 1, "exit status", r)
    eq(r.result(), "failed", "result", r)
    step = r.step(FILES_STEP)
    eq(step[2], 1, "files step fails", r)
    check(step[1].endswith("Failed to decode the content of the file.\n"), "base64 message", r)
    absent(r, "echo never")
    eq(r.step('echo "epilogue $SEMAPHORE_JOB_RESULT"')[1], "epilogue failed\n", "epilogue", r)
    check(not os.path.exists(os.path.join(sb.home, "x.txt")), "no file written", r)


# --- commands and epilogues ----------------------------------------------------------

@case
def first_failure_stops_commands(sb):
    job = {"commands": cmds("echo one", "false", "echo three"),
           "epilogue_always_commands": cmds('echo "always $SEMAPHORE_JOB_RESULT"'),
           "epilogue_on_pass_commands": cmds("echo on-pass"),
           "epilogue_on_fail_commands": cmds('echo "on-fail $SEMAPHORE_JOB_RESULT"', "false",
                                             "echo after-fail")}
    r = run_job(sb, job)
    eq(r.code, 1, "exit status", r)
    eq(r.steps(), [(ENV_STEP, "", 0), (FILES_STEP, "", 0), ("echo one", "one\n", 0),
                   ("false", "", 1), RESULT_EXPORT,
                   ('echo "always $SEMAPHORE_JOB_RESULT"', "always failed\n", 0),
                   ('echo "on-fail $SEMAPHORE_JOB_RESULT"', "on-fail failed\n", 0),
                   ("false", "", 1)], "steps", r)
    eq(r.result(), "failed", "epilogues never change the result", r)


@case
def on_pass_epilogue(sb):
    job = {"commands": cmds("true"),
           "epilogue_always_commands": cmds("false", "echo after-false"),
           "epilogue_on_pass_commands": cmds('echo "on-pass $SEMAPHORE_JOB_RESULT"'),
           "epilogue_on_fail_commands": cmds("echo on-fail")}
    r = run_job(sb, job)
    eq(r.names(), [ENV_STEP, FILES_STEP, "true", ENV_STEP, "false",
                   'echo "on-pass $SEMAPHORE_JOB_RESULT"'], "steps", r)
    eq(r.step('echo "on-pass $SEMAPHORE_JOB_RESULT"')[1], "on-pass passed\n", "on-pass", r)
    eq(r.result(), "passed", "a failing epilogue does not change the result", r)
    eq(r.code, 0, "exit status", r)


@case
def state_persists(sb):
    job = {"commands": cmds("pwd", "cd /tmp", "pwd", "cd ~ && pwd", "export FOO=bar",
                            "echo $FOO", "greet() { echo \"hi $1\"; }", "greet you",
                            "BAR=local", "echo $BAR", "alias hey='echo hey'", "hey")}
    r = run_job(sb, job)
    eq(r.result(), "passed", "result", r)
    eq(r.step("pwd", 0)[1], sb.home + "\n", "the shell starts in $HOME", r)
    eq(r.step("pwd", 1)[1], "/tmp\n", "cd persists", r)
    eq(r.step("cd ~ && pwd")[1], sb.home + "\n", "~ is $HOME", r)
    eq(r.step("echo $FOO")[1], "bar\n", "export persists", r)
    eq(r.step("greet you")[1], "hi you\n", "functions persist", r)
    eq(r.step("echo $BAR")[1], "local\n", "shell variables persist", r)


@case
def multiline_heredoc(sb):
    directive = "cat <<'EOF'\nline one\n  $NOT_EXPANDED\nEOF\nif true; then\n  echo done\nfi"
    r = run_job(sb, {"commands": cmds(directive, "echo next")})
    eq(r.step(directive), (directive, "line one\n  $NOT_EXPANDED\ndone\n", 0), "heredoc", r)
    eq(r.step("echo next")[1], "next\n", "the next command", r)


@case
def unicode_and_invalid_utf8(sb):
    emoji = "for i in $(seq 3000); do printf '\\xf0\\x9f\\x8e\\x89'; done"
    job = {"commands": cmds("echo 'żółć ☃ 特 🎉'", "printf '\\xff\\xfe'", "printf 'a\\xff\\xfeb\\n'",
                            "printf '\\xe7\\x89'", emoji)}
    r = run_job(sb, job)  # run_job decodes stdout strictly as UTF-8; parse_events checks JSON
    eq(r.result(), "passed", "result", r)
    eq(r.step("echo 'żółć ☃ 特 🎉'")[1], "żółć ☃ 特 🎉\n", "unicode", r)
    eq(r.step("printf '\\xff\\xfe'")[1], "\ufffd\ufffd", "invalid bytes become U+FFFD", r)
    eq(r.step("printf 'a\\xff\\xfeb\\n'")[1], "a\ufffd\ufffdb\n", "invalid bytes inside text", r)
    check(r.step("printf '\\xe7\\x89'")[1] in ("\ufffd", "\ufffd\ufffd"),
          "a truncated sequence at the end becomes U+FFFD", r)
    eq(r.step(emoji)[1], "🎉" * 3000, "12 kB of 4-byte characters never split", r)


@case
def unknown_command(sb):
    r = run_job(sb, {"commands": cmds("no-such-command-xyz", "echo never")})
    step = r.step("no-such-command-xyz")
    eq(step[2], 127, "exit code", r)
    check("no-such-command-xyz" in step[1] and "not found" in step[1], "bash says so", r)
    absent(r, "echo never")
    eq(r.result(), "failed", "result", r)
    eq(r.code, 1, "exit status", r)


@case
def alias(sb):
    r = run_job(sb, {"commands": [{"directive": "echo aliased", "alias": "Say it"},
                                  {"directive": "echo plain", "alias": ""}]})
    eq(r.step("Say it"), ("Say it", "Running: echo aliased\naliased\n", 0), "alias step", r)
    eq(r.step("echo plain"), ("echo plain", "plain\n", 0), "an empty alias is no alias", r)


def _exit130(sb, value, expected):
    pre = "export SEMAPHORE_JOB_RESULT=%s; " % value if value is not None else ""
    job = {"commands": cmds(pre + "return 130", "echo never"),
           "epilogue_always_commands": cmds("echo never-epilogue"),
           "epilogue_on_pass_commands": cmds("echo never-on-pass"),
           "epilogue_on_fail_commands": cmds("echo never-on-fail")}
    r = run_job(sb, job)
    eq(r.names(), [ENV_STEP, FILES_STEP, pre + "return 130", CHECK_STEP],
       "no more commands, no epilogues", r)
    eq(r.step(pre + "return 130")[2], 130, "exit code", r)
    eq(r.step(CHECK_STEP)[2], 0, "the check step passes", r)
    eq(r.result(), expected, "result", r)
    return r


@case
def exit130_passed(sb):
    r = _exit130(sb, "passed", "passed")
    eq(r.step(CHECK_STEP)[1],
       "SEMAPHORE_JOB_RESULT=passed - stopping job and marking it as passed", "message", r)
    eq(r.code, 0, "exit status", r)


@case
def exit130_failed(sb):
    r = _exit130(sb, "failed", "failed")
    eq(r.step(CHECK_STEP)[1],
       "SEMAPHORE_JOB_RESULT=failed - stopping job and marking it as failed", "message", r)
    eq(r.code, 1, "exit status", r)


@case
def exit130_unset(sb):
    r = _exit130(sb, None, "stopped")
    eq(r.step(CHECK_STEP)[1],
       "SEMAPHORE_JOB_RESULT is set to '' - stopping job and marking it as stopped", "message", r)
    eq(r.code, 130, "exit status", r)


@case
def exit_in_command(sb):
    job = {"commands": cmds("echo Hello && exit 3", "echo never"),
           "epilogue_always_commands": cmds("echo never-always", "echo never-always-2"),
           "epilogue_on_pass_commands": cmds("echo never-on-pass"),
           "epilogue_on_fail_commands": cmds("echo never-on-fail")}
    t0 = time.monotonic()
    r = run_job(sb, job, timeout=30)
    check(time.monotonic() - t0 < 15, "a dead shell must not make the job hang", r)
    eq(r.step("echo Hello && exit 3"), ("echo Hello && exit 3", "Hello\n", 1),
       "the command that kills the shell ends with exit code 1", r)
    absent(r, "echo never")
    eq(r.step("echo never-always"), ("echo never-always", "", 1),
       "a later epilogue reports 1 without running", r)
    absent(r, "echo never-always-2")
    absent(r, "echo never-on-pass")
    eq(r.step("echo never-on-fail"), ("echo never-on-fail", "", 1),
       "the on-fail epilogue reports 1 without running", r)
    eq(r.result(), "failed", "result", r)
    eq(r.code, 1, "exit status", r)


@case
def forty_thousand_lines(sb):
    r = run_job(sb, {"commands": cmds("seq 1 40000", "echo after")})
    eq(r.result(), "passed", "result", r)
    out = r.step("seq 1 40000")[1]
    expected = "".join("%d\n" % i for i in range(1, 40001))
    if out != expected:
        i = next((k for k in range(min(len(out), len(expected))) if out[k] != expected[k]),
                 min(len(out), len(expected)))
        raise Failure("seq output differs at byte %d (%d bytes, expected %d): got %r, expected %r"
                      % (i, len(out), len(expected), out[i - 20:i + 20], expected[i - 20:i + 20]))
    eq(r.step("echo after")[1], "after\n", "the next command", r)


@case
def output_delivered_while_the_job_waits(sb):
    """The worker holds events back while the PTY keeps its buffer full (issue 20): none may
    wait for the job's next output. Three full 4 KiB chunks printed before a pause reach
    stdout during the pause, and each slow line (stamped with the time it was printed)
    within the 100 ms chunk timer plus slack for a busy machine."""
    burst = "head -c 12288 /dev/zero | tr '\\0' x; sleep 3; echo after-burst"
    slow = "for i in 1 2 3; do echo line$i $(date +%s.%N); sleep 1; done"
    p = subprocess.Popen([agent_bin(), "run", "--json", sb.job_file({"commands": cmds(burst, slow)})],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=sb.env(),
                         cwd=sb.root)
    arrivals = []  # (wall-clock seconds, output)
    try:
        for line in p.stdout:
            ev = json.loads(line)
            if ev["event"] == "cmd_output":
                arrivals.append((time.time(), ev["output"]))
        p.wait(timeout=45)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    seen = "\n  cmd_output arrivals (s, output): %r" % [(round(t % 100, 3), o[:40]) for t, o in arrivals]
    chunks = [(t, o) for t, o in arrivals if o and set(o) == {"x"}]
    eq([len(o) for _, o in chunks], [4096, 4096, 4096], "the burst as three full chunks" + seen)
    after = [t for t, o in arrivals if o == "after-burst\n"]
    check(after, "after-burst arrives" + seen)
    # The pause is 3 s; the chunks must be out well before it ends.
    check(after[0] - chunks[-1][0] >= 2.0,
          "the burst reaches stdout during the pause (%.3f s before the next output)"
          % (after[0] - chunks[-1][0]) + seen)
    lines = [(t, o) for t, o in arrivals if o.startswith("line")]
    eq(len(lines), 3, "three slow lines, one event each" + seen)
    for t, o in lines:
        printed = float(o.split()[1])
        check(t - printed < 0.6, "%r reaches stdout %.3f s after it was printed (at most 0.6 s)"
              % (o, t - printed) + seen)


@case
def marker_like_output(sb):
    directives = ["printf '\\001abc:E:0\\n'", "printf '\\x01'", "printf 'x\\001y\\n'",
                  "printf '\\001%s:E:0\\n' deadbeef", "echo 949556c7-1-end 0",
                  "printf '\\x01\\x02\\x1b[0m\\a'"]
    r = run_job(sb, {"commands": cmds(*directives + ["echo still-here"])})
    eq(r.step(directives[0]), (directives[0], "\x01abc:E:0\n", 0), "fake marker 1", r)
    eq(r.step(directives[1]), (directives[1], "\x01", 0), "lone 0x01", r)
    eq(r.step(directives[2]), (directives[2], "x\x01y\n", 0), "0x01 inside a line", r)
    eq(r.step(directives[3]), (directives[3], "\x01deadbeef:E:0\n", 0), "fake marker 2", r)
    eq(r.step(directives[4]), (directives[4], "949556c7-1-end 0\n", 0), "a marker-like line", r)
    eq(r.step(directives[5]), (directives[5], "\x01\x02\x1b[0m\x07", 0), "control bytes", r)
    eq(r.step("echo still-here"), ("echo still-here", "still-here\n", 0), "later command", r)
    eq(r.result(), "passed", "result", r)


# --- hooks ------------------------------------------------------------------------------

PROCEED = "Warning: The agent is configured to proceed with the job even if the pre-job hook fails.\n"
FAIL = "Warning: The agent is configured to fail the job if the pre-job hook fails.\n"


@case
def pre_and_post_hooks(sb):
    pre = sb.write("pre.sh", "echo pre-hook ran\nexport FROM_HOOK=yes\n")
    post = sb.write("post.sh", 'echo "post-hook ran, result: $SEMAPHORE_JOB_RESULT"\nexit 5\n')
    job = {"commands": cmds('echo "hook var: ${FROM_HOOK:-unset}"'),
           "epilogue_always_commands": cmds("echo epilogue")}
    r = run_job(sb, job, args=["--pre-job-hook-path", pre, "--post-job-hook-path", post])
    eq(r.names(), [ENV_STEP, FILES_STEP, PRE_HOOK_STEP, 'echo "hook var: ${FROM_HOOK:-unset}"',
                   ENV_STEP, "echo epilogue", POST_HOOK_STEP], "step order", r)
    eq(r.step(PRE_HOOK_STEP),
       (PRE_HOOK_STEP, "Running: bash %s\n%spre-hook ran\n" % (pre, PROCEED), 0), "pre-hook", r)
    eq(r.step('echo "hook var: ${FROM_HOOK:-unset}"')[1], "hook var: unset\n",
       "a hook run with bash does not change the job's shell", r)
    post_step = r.step(POST_HOOK_STEP)
    eq(post_step[2], 5, "post-hook exit code", r)
    check(post_step[1].startswith("Running: bash %s\npost-hook ran" % post), "post-hook output", r)
    eq(r.result(), "passed", "the post-job hook never changes the result", r)
    eq(r.code, 0, "exit status", r)


@case
def sourced_pre_hook(sb):
    pre = sb.write("pre.sh", "export FROM_HOOK=yes\ncd /\n")
    r = run_job(sb, {"commands": cmds('echo "$FROM_HOOK"')},
                args=["--pre-job-hook-path", pre, "--source-pre-job-hook"])
    eq(r.step(PRE_HOOK_STEP), (PRE_HOOK_STEP, "Running: source %s\n%s" % (pre, PROCEED), 0),
       "sourced hook step", r)
    eq(r.step('echo "$FROM_HOOK"')[1], "yes\n", "a sourced hook exports into the job", r)
    eq(r.result(), "passed", "result", r)


@case
def failing_pre_hook_proceeds(sb):
    pre = sb.write("pre.sh", "echo failing\nexit 4\n")
    r = run_job(sb, {"commands": cmds("echo ran")}, args=["--pre-job-hook-path", pre])
    eq(r.step(PRE_HOOK_STEP), (PRE_HOOK_STEP, "Running: bash %s\n%sfailing\n" % (pre, PROCEED), 4),
       "hook step", r)
    eq(r.step("echo ran")[1], "ran\n", "commands still run", r)
    eq(r.result(), "passed", "result", r)
    eq(r.code, 0, "exit status", r)


@case
def failing_pre_hook_fails_job(sb):
    pre = sb.write("pre.sh", "exit 4\n")
    r = run_job(sb, {"commands": cmds("echo ran"), "epilogue_always_commands": cmds("echo ep")},
                args=["--pre-job-hook-path", pre, "--fail-on-pre-job-hook-error"])
    eq(r.step(PRE_HOOK_STEP), (PRE_HOOK_STEP, "Running: bash %s\n%s" % (pre, FAIL), 4), "hook", r)
    absent(r, "echo ran")
    eq(r.result(), "failed", "result", r)
    eq(r.code, 1, "exit status", r)


# --- stopping, dying, cleaning up ---------------------------------------------------------

@case
def sigint_stops_job(sb):
    n = unique_seconds()
    bg = Background(sb, {"commands": cmds("echo started; sleep " + n, "echo never"),
                         "epilogue_always_commands": cmds("echo epilogue")})
    try:
        bg.wait_output("started")
        t0 = time.monotonic()
        bg.proc.send_signal(signal.SIGINT)
        r = bg.wait(timeout=20)
    finally:
        bg.kill()
    elapsed = time.monotonic() - t0
    check(elapsed < 10, "stopping took %.1fs" % elapsed, r)
    eq(r.code, 130, "exit status", r)
    eq(r.result(), "stopped", "result", r)
    check(r.step("echo started; sleep " + n)[2] != 0, "the stopped command did not pass", r)
    absent(r, "echo never")
    wait_for(lambda: not processes_with_argv(["sleep", n]), 5, "sleep %s to be gone" % n,
             dump=r.dump)


@case
def sigterm_during_epilogue(sb):
    n = unique_seconds()
    bg = Background(sb, {"commands": cmds("echo cmd"),
                         "epilogue_always_commands": cmds("echo ep-started; sleep " + n,
                                                          "echo never-always"),
                         "epilogue_on_pass_commands": cmds("echo never-on-pass")})
    try:
        bg.wait_output("ep-started")
        t0 = time.monotonic()
        bg.proc.send_signal(signal.SIGTERM)
        r = bg.wait(timeout=20)
    finally:
        bg.kill()
    check(time.monotonic() - t0 < 10, "stopping must take less than 10 s", r)
    eq(r.result(), "stopped", "a job stopped during its epilogue is stopped", r)
    eq(r.code, 130, "exit status", r)
    absent(r, "echo never-always")
    absent(r, "echo never-on-pass")
    wait_for(lambda: not processes_with_argv(["sleep", n]), 5, "sleep %s to be gone" % n,
             dump=r.dump)


@case
def worker_missing_gets_a_log(sb):
    """A worker that cannot be started: the job does not run, and its log (not
    only stderr) says why, in a failed step of its own (issue 22)."""
    missing = sb.path("no-such-worker")
    r = run_job(sb, {"commands": cmds("echo should-not-run")},
                env=sb.env(SEMAPHORE_AGENT_WORKER_PATH=missing), timeout=20)
    eq(r.code, 1, "exit status of a failed job", r)
    eq(r.result(), "failed", "result", r)
    eq(r.names(), ["Setting up the job"], "one step, and no command ran", r)
    directive, out, code = r.steps()[0]
    eq(code, 1, "the step failed", r)
    check("This agent cannot run the job: cannot start the worker %s: no such file or directory"
          % missing in out, "the cause, in the log", r)
    eq(sb.leftover_job_dirs(), [], "the job directory is removed")


@case
def worker_killed(sb):
    n = unique_seconds()
    bg = Background(sb, {"commands": cmds("echo started; sleep " + n, "echo never")})
    try:
        bg.wait_output("started")
        workers = [c for c in children_of(bg.proc.pid) if "semaphore-agent-worker" in cmdline(c)]
        eq(len(workers), 1, "one worker process, child of the agent (%r)" % children_of(bg.proc.pid))
        os.kill(workers[0], signal.SIGKILL)
        r = bg.wait(timeout=20)
    finally:
        bg.kill()
    eq(r.code, 1, "exit status", r)
    eq(r.result(), "failed", "result", r)
    outputs = [e["output"] for e in r.parsed() if e["event"] == "cmd_output"]
    check(any("worker" in o.lower() for o in outputs), "a cmd_output line mentions the worker", r)
    absent(r, "echo never")
    wait_for(lambda: not processes_with_argv(["sleep", n]), 10,
             "the job's sleep %s to be killed" % n, dump=r.dump)


# --- sizes: no size the job request allows kills a job ---------------------------

@case
def one_mib_command_intact(sb):
    # 1 MiB of heredoc (the old frame limit, 256 KiB, killed the worker and
    # the log never showed the command), and an aliased 300 KiB command,
    # whose "Running:" line carries it whole.
    body = "".join("line %06d %s\n" % (i, "x" * 50) for i in range(17000))
    check(len(body) > 1 << 20, "the heredoc is over 1 MiB")
    big = "cat <<'SA_EOF'\n" + body + "SA_EOF"
    aliased = "echo aliased #" + "y" * (300 << 10)
    job = {"commands": [{"directive": big}, {"directive": aliased, "alias": "the aliased one"}]}
    t0 = time.monotonic()
    r = run_job(sb, job, timeout=90)
    took = time.monotonic() - t0
    eq(r.code, 0, "exit status", r)
    ev = r.parsed()
    started = [e["directive"] for e in ev if e["event"] == "cmd_started"]
    check(big in started, "the 1 MiB directive arrives intact in cmd_started")
    check(any(e["event"] == "cmd_finished" and e["directive"] == big and e["exit_code"] == 0 for e in ev),
          "and in cmd_finished, exit 0")
    eq(r.step(big)[1], body, "the heredoc's output arrives intact")
    eq(r.step("the aliased one")[1], "Running: %s\naliased\n" % aliased, "the alias's Running: line, whole")
    check(took < 60, "in reasonable time (%.1f s)" % took)


@case
def twelve_thousand_env_vars(sb):
    # 12,000 "Exporting NAME" lines are 420 KB: as one event (before), more
    # than the event frame took, and the worker was killed.
    names = ["JOB_VARIABLE_NUMBER_%05d" % i for i in range(12000)]
    job = {"env_vars": [{"name": n, "value": b64("value of %s" % n)} for n in names],
           "commands": cmds("env | grep -c '^JOB_VARIABLE_NUMBER_[0-9]\\{5\\}='",
                            'echo "$JOB_VARIABLE_NUMBER_00000|$JOB_VARIABLE_NUMBER_11999"')}
    r = run_job(sb, job, timeout=90)
    eq(r.code, 0, "exit status", r)
    exporting = [e["output"] for e in r.parsed() if e["event"] == "cmd_output"
                 and e["output"].startswith("Exporting JOB_VARIABLE_NUMBER_")]
    eq(exporting, ["Exporting %s\n" % n for n in names], "one Exporting event per variable, sorted")
    eq(r.steps()[2][1], "12000\n", "all of them in the job's environment", r)
    eq(r.steps()[3][1], "value of JOB_VARIABLE_NUMBER_00000|value of JOB_VARIABLE_NUMBER_11999\n", "values", r)


@case
def too_large_job_refused_at_parse(sb):
    limit = 8 << 20
    _bad(sb, json.dumps({"commands": [{"directive": "true"}, {"directive": "#" * (limit + 1)}]}),
         "commands[1].directive", str(limit + 1), "bytes, more than")
    _bad(sb, json.dumps({"files": [{"path": "p" * (limit + 1), "content": "", "mode": "0644"}]}),
         "files[0].path")
    # 49 MiB of content is 65 MiB of base64: more than a worker takes.
    content = base64.b64encode(b"\0" * (49 << 20)).decode()
    _bad(sb, json.dumps({"commands": [{"directive": "true"}],
                         "files": [{"path": "big.bin", "content": content, "mode": "0644"}]}),
         "files: the job request is about", "files is the largest part")


@case
def supervisor_explains_a_killed_worker(sb):
    # A "worker" announcing a frame no worker builds: the supervisor kills it
    # and the job log says why, not just "killed by signal 9".
    fake = sb.write("fake-worker", "#!/usr/bin/python3\nimport os, struct, time\n"
                    "ev = b'{\"event\":\"job_started\",\"timestamp\":%d}' % time.time()\n"
                    "os.write(3, struct.pack('>IB', len(ev), 3) + ev)\n"
                    "ev = b'{\"event\":\"cmd_started\",\"timestamp\":%d,\"directive\":\"echo never\"}' % time.time()\n"
                    "os.write(3, struct.pack('>IB', len(ev), 3) + ev)\n"
                    "os.write(3, bytes([0x7f, 0xff, 0xff, 0xff, 3]))\ntime.sleep(60)\n", mode=0o755)
    r = run_job(sb, {"commands": cmds("echo never")}, env=sb.env(SEMAPHORE_AGENT_WORKER_PATH=fake),
                timeout=30)
    eq(r.result(), "failed", "result", r)
    outputs = "".join(e["output"] for e in r.parsed() if e["event"] == "cmd_output")
    check("The agent stopped the job's worker: it sent a frame no worker builds (frame of type 3 too large: "
          "2147483647 bytes)" in outputs, "the job log says why", r)


# Between the supervisor and the real worker: raises the JOB frame's
# protocol version by one, then relays the worker's frames back.
_VERSION_RELAY = r"""#!/usr/bin/python3
import json, os, socket, struct, subprocess, sys
def read_exact(fd, n):
    b = b""
    while len(b) < n:
        c = os.read(fd, n - len(b))
        if not c:
            sys.exit(3)
        b += c
    return b
length, kind = struct.unpack(">IB", read_exact(3, 5))
frame = json.loads(read_exact(3, length))
frame["version"] += 1
payload = json.dumps(frame).encode()
supervisor = os.dup(3)
ours, theirs = socket.socketpair()
os.dup2(theirs.fileno(), 3)
worker = subprocess.Popen([WORKER], pass_fds=(3,))
os.close(3)
theirs.close()
ours.sendall(struct.pack(">IB", len(payload), kind) + payload)
while True:
    b = ours.recv(65536)
    if not b:
        break
    os.write(supervisor, b)
sys.exit(worker.wait())
"""


@case
def worker_refuses_another_protocol_version(sb):
    """A worker handed a JOB frame of another protocol version (a worker
    binary from another build) runs nothing; the agent's log says why, and
    the job fails with a log, as for any worker that cannot start (issue 18)."""
    relay = sb.write("version-relay", _VERSION_RELAY.replace("WORKER", repr(worker_bin())), mode=0o755)
    r = run_job(sb, {"commands": cmds("echo never")}, env=sb.env(SEMAPHORE_AGENT_WORKER_PATH=relay),
                timeout=30)
    eq(r.code, 1, "exit status of a failed job", r)
    # As for any worker that ends before job_started (the supervisor ends
    # the log): no job_started, and the last event fails the job.
    ev = r.parsed()
    eq((ev[-1]["event"], ev[-1].get("result")), ("job_finished", "failed"), "the job's last event", r)
    eq([e for e in ev if e["event"] == "cmd_started"], [], "no command ran", r)
    m = re.search(r"worker: version: the supervisor speaks worker protocol (\d+), this worker (\d+)", r.stderr)
    check(m, "the agent's log names the version mismatch", r)
    eq(int(m.group(1)), int(m.group(2)) + 1, "the versions it names", r)
    outputs = "".join(e["output"] for e in r.parsed() if e["event"] == "cmd_output")
    check("The job's worker process exited with status 2 before the job finished." in outputs,
          "the job log says the worker ended", r)


@case
def background_processes_killed(sb):
    n = [unique_seconds() for _ in range(4)]
    job = {"commands": cmds("sleep %s &" % n[0],
                            "(setsid sleep %s &)" % n[1],
                            "nohup sleep %s >/dev/null 2>&1 &" % n[2],
                            "(trap '' TERM HUP INT; exec sleep %s) & disown" % n[3],
                            "echo done")}
    t0 = time.monotonic()
    r = run_job(sb, job, timeout=30)
    elapsed = time.monotonic() - t0
    eq(r.result(), "passed", "result", r)
    check(elapsed < 10, "the job end must not wait for background processes (%.1fs)" % elapsed, r)
    for s in n:
        wait_for(lambda: not processes_with_argv(["sleep", s]), 5, "sleep %s to be gone" % s,
                 dump=r.dump)


# --- job files --------------------------------------------------------------------------------

@case
def yaml_job(sb):
    text = ("# a comment\n"
            "job_id: y1\n"
            "env_vars:\n  - name: N\n    value: %s\n"
            "files:\n  - path: f.txt\n    content: %s\n    mode: \"0640\"\n"
            "commands:\n"
            "  - directive: echo \"$N\" && cat f.txt\n"
            "  - directive: echo 42\n"
            "  - directive: |\n      echo multi\n      echo line\n"
            "    alias: Block scalar\n"
            "epilogue_on_pass_commands:\n  - directive: echo \"on pass $SEMAPHORE_JOB_RESULT\"\n"
            % (b64("yaml value"), b64("file\n")))
    path = sb.write("job.yaml", text)
    r = run_job(sb, path)
    eq(r.result(), "passed", "result", r)
    eq(r.step('echo "$N" && cat f.txt')[1], "yaml value\nfile\n", "env var and file", r)
    eq(r.step("echo 42")[1], "42\n", "a number-looking directive", r)
    eq(r.step("Block scalar")[1], "Running: echo multi\necho line\n\nmulti\nline\n",
       "a block scalar keeps its newlines", r)
    eq(r.step('echo "on pass $SEMAPHORE_JOB_RESULT"')[1], "on pass passed\n", "epilogue", r)
    eq(oct(stat.S_IMODE(os.stat(os.path.join(sb.home, "f.txt")).st_mode)), oct(0o640), "mode", r)


def _bad(sb, text, *needles):
    path = sb.write("bad.json", text)
    r = run_job(sb, path)
    eq(r.code, 2, "exit status for an unusable job file %r" % text, r)
    for needle in needles:
        check(needle in r.stderr, "stderr must name %r for %r" % (needle, text), r)
    eq(r.stdout, "", "no events for an unusable job file", r)


@case
def unusable_job_files(sb):
    _bad(sb, '{"commands": [', "JSON")
    _bad(sb, '{"commands": "echo"}', "commands")
    _bad(sb, '{"commands": [{"directive": "true"}], "env_vars": [{"name": "A", "value": "%%%"}]}',
         "env_vars[0].value")
    _bad(sb, '{"env_vars": [{"name": "A", "value": "YQ=="}, {"name": "B", "value": "not base64!"}]}',
         "env_vars[1].value")
    _bad(sb, '{"commands": [{"alias": "x"}]}', "commands[0].directive")
    _bad(sb, '{"env_vars": [{"name": "A B", "value": ""}]}', "env_vars[0].name")
    _bad(sb, '{"executor": "podman"}', "executor")
    _bad(sb, "[1, 2]")
    missing = sb.path("missing.json")
    r = run_job(sb, missing)
    eq(r.code, 2, "exit status for a missing job file", r)
    check(missing in r.stderr, "stderr names the missing file", r)
    eq(r.stdout, "", "no events", r)


@case
def readable_mode(sb):
    r = run_job(sb, {"commands": cmds("echo visible", "echo second")}, json_mode=False)
    eq(r.code, 0, "exit status", r)
    lines = r.stdout.splitlines()
    for directive in (ENV_STEP, FILES_STEP, "echo visible", "echo second"):
        check(any(line.endswith(directive) for line in lines),
              "a header line for %r" % directive, r)
    check("visible" in lines and "second" in lines, "command output on its own lines", r)
    check("Job passed" in r.stdout, "says the job passed", r)
    check("\x1b[" not in r.stdout, "no colour when stdout is not a terminal", r)
    check('"event"' not in r.stdout, "no JSON in the readable log", r)

    r = run_job(sb, {"commands": cmds("false")}, json_mode=False)
    eq(r.code, 1, "exit status of a failing job", r)
    check("Job failed" in r.stdout, "says the job failed", r)


@case
def help_and_version(sb):
    for args in (["--version"], ["version"], ["run", "--version"]):
        p = subprocess.run([agent_bin()] + args, capture_output=True, text=True, timeout=10)
        eq(p.returncode, 0, "exit status of %s" % args)
        check(re.search(r"\d+\.\d+\.\d+", p.stdout), "%s prints a version: %r" % (args, p.stdout))
    for sub in ("run", "start", "check-config", "version", "serve"):
        p = subprocess.run([agent_bin(), sub, "--help"], capture_output=True, text=True, timeout=10)
        eq(p.returncode, 0, "%s --help exit status" % sub)
        check("Usage: semaphore-agent " + sub in p.stdout, "%s --help: %r" % (sub, p.stdout))
    p = subprocess.run([agent_bin(), "frobnicate"], capture_output=True, text=True, timeout=10)
    check(p.returncode != 0, "an unknown subcommand fails")
    check("frobnicate" in p.stderr, "and names it: %r" % p.stderr)
    p = subprocess.run([agent_bin(), "run"], capture_output=True, text=True, timeout=10)
    eq(p.returncode, 2, "run without a job file")


# What a mistyped command line gets, word for word: scripts and unit files
# depend on these exit statuses, and people search for these messages.
OPTION_ERRORS = [
    ("semaphore-agent", [], 2, "Usage: semaphore-agent COMMAND [OPTIONS]"),
    ("semaphore-agent", ["bogus"], 2, "semaphore-agent: unknown command 'bogus'"),
    ("semaphore-agent", ["run"], 2, "semaphore-agent run: missing JOB_FILE"),
    ("semaphore-agent", ["run", "--bogus"], 2, "semaphore-agent run: unknown option '--bogus'"),
    ("semaphore-agent", ["run", "--pre-job-hook-path"], 2, "semaphore-agent run: --pre-job-hook-path: needs a value"),
    ("semaphore-agent", ["run", "a.json", "b.json"], 2,
     "semaphore-agent run: only one JOB_FILE may be given ('b.json' is extra)"),
    ("semaphore-agent", ["run", "--files", "nocolon", "j"], 2,
     "semaphore-agent run: --files: 'nocolon' is not HOSTPATH:DESTINATION"),
    ("semaphore-agent", ["run", "--env-vars=NOVALUE", "j"], 2, "semaphore-agent run: --env-vars: 'NOVALUE' is not NAME=VALUE"),
    ("semaphore-agent", ["run", "--job-memory-max", "12Q", "j"], 2,
     "semaphore-agent run: job-memory-max: '12Q' is not a size like 512M or 2G"),
    ("semaphore-agent", ["run", "--job-pids-max=0", "j"], 2, "semaphore-agent run: job-pids-max: '0' is not a positive number"),
    ("semaphore-agent", ["run", "--job-cpu-max", "x", "j"], 2,
     "semaphore-agent run: job-cpu-max: 'x' is not a number of CPUs like 1.5"),
    ("semaphore-agent", ["run", "--job-isolation", "weird", "j"], 2,
     "semaphore-agent run: --job-isolation: 'weird' is not one of default, strict"),
    ("semaphore-agent", ["serve", "--bogus"], 2, "semaphore-agent serve: --bogus: needs a value"),
    ("semaphore-agent", ["serve", "--bogus", "1"], 2, "semaphore-agent serve: Unrecognized option 'bogus'. Exiting..."),
    ("semaphore-agent", ["serve", "--port=abc"], 2, "semaphore-agent serve: port: 'abc' is not a number"),
    ("semaphore-agent", ["serve", "--port"], 2, "semaphore-agent serve: --port: needs a value"),
    ("semaphore-agent", ["serve"], 2, "semaphore-agent serve: auth-token-secret: required (--auth-token-secret)"),
    ("semaphore-agent", ["serve", "--auth-token-secret=s", "--port=0"], 2, "semaphore-agent serve: port: 0 is not a TCP port"),
    ("semaphore-agent", ["serve", "--auth-token-secret", "s", "--callback-retry-attempts", "0"], 2,
     "semaphore-agent serve: callback-retry-attempts: must be at least 1"),
    ("agentctl", [], 2, "agentctl: missing command"),
    ("agentctl", ["frobnicate"], 2, "agentctl: unknown command 'frobnicate'"),
    ("agentctl", ["--socket"], 2, "agentctl: unexpected argument '--socket'"),
    ("agentctl", ["--json=1", "status"], 2, "agentctl: unexpected argument '--json=1'"),
    ("agentctl", ["status", "drain"], 2, "agentctl: unexpected argument 'drain'"),
    ("agentctl", ["--socket=/nonexistent/agent.sock", "status"], 3,
     "agentctl: no agent is listening on /nonexistent/agent.sock (No such file or directory)"),
    ("agentctl", ["--socket", "/nonexistent/agent.sock", "health"], 1,
     "agentctl: no agent is listening on /nonexistent/agent.sock (No such file or directory)"),
]


@case
def option_errors(sb):
    for prog, args, code, first_line in OPTION_ERRORS:
        p = subprocess.run([os.path.join(build_dir(), "daemon", prog)] + args, capture_output=True, text=True,
                           timeout=10, env=sb.env(), cwd=sb.root)
        eq((p.returncode, p.stderr.split("\n")[0]), (code, first_line), "%s %s" % (prog, " ".join(args)))
    # The socket's default place, and the variable that moves it.
    p = subprocess.run([os.path.join(build_dir(), "daemon", "agentctl"), "status"], capture_output=True,
                       text=True, timeout=10, env=sb.env(SEMAPHORE_AGENT_CONTROL_SOCKET=sb.path("none.sock")))
    eq(p.stderr.split(" (")[0], "agentctl: no agent is listening on " + sb.path("none.sock"), "the variable")


@case
def meson_list_in_sync(sb):
    check_meson_list('test_run', CASES)
