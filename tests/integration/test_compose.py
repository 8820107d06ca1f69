"""The docker compose executor against a real Docker engine (issue 9).

Jobs run through `semaphore-agent run` (and once through `start`) with images
built locally by docker_env (no registry but the private one started here on
127.0.0.1 for the login cases). Every case checks that none of its job's
containers or networks is left afterwards. Without an engine the cases skip,
except under CI=true, where they fail.
"""
import os
import re
import signal
import socket
import subprocess
import uuid

import docker_env
from harness import (LONG_OUTPUT, Background, Failure, Sandbox, agent_bin, b64, check, check_meson_list, eq,
                     event_shapes, processes_with_argv, receive_datagrams, run_job, unique_seconds, wait_for)

CASES = {}

PULL = "Pulling docker images..."
START = "Starting the docker image..."
ENV_STEP = "Exporting environment variables"
FILES_STEP = "Injecting Files"
CREDS = "Setting up image pull credentials"


class Skip(Exception):
    """run_case.py turns this into meson's skip status (77)."""


def project_of(job_id):
    """The agent's project name: docker_safe_name("semaphore-" + id)."""
    return re.sub(r"[^a-z0-9_-]", "-", "semaphore-" + job_id[:40].lower())


def job_leftovers(job_id):
    prefix = project_of(job_id)
    return [x for x in docker_env.leftovers() if x.split(" ", 1)[1].startswith(prefix)]


def case(fn):
    def wrapped():
        try:
            docker_env.ensure()
        except docker_env.Unavailable as e:
            if os.environ.get("CI") == "true":
                raise Failure("CI must have a Docker engine: %s" % e)
            raise Skip(str(e))
        sb = Sandbox()
        # Logins go to the sandbox, never to the developer's ~/.docker.
        os.makedirs(sb.path("docker-config"))
        sb.extra_env = {"DOCKER_CONFIG": sb.path("docker-config")}
        sb.job_ids = []
        try:
            fn(sb)
            for j in sb.job_ids:
                eq(job_leftovers(j), [], "no container or network of job %s may remain" % j)
            eq(sb.leftover_job_dirs(), [], "no job directory may remain")
        finally:
            for j in sb.job_ids:  # a failed case must not leave its containers behind
                for x in job_leftovers(j):
                    kind, name = x.split(" ", 1)
                    subprocess.run(["docker", kind, "rm", "-f", name], capture_output=True)
            sb.close()
    CASES[fn.__name__] = wrapped
    return fn


def job(sb, commands, containers=None, **extra):
    j = {
        "job_id": str(uuid.uuid4()),
        "executor": "dockercompose",
        "compose": {"containers": containers or [{"name": "main", "image": docker_env.BASH_IMAGE}]},
        "commands": [{"directive": c} for c in commands],
        "epilogue_always_commands": [], "epilogue_on_pass_commands": [],
        "epilogue_on_fail_commands": [],
        "env_vars": [], "files": [],
        "callbacks": {"finished": "", "teardown_finished": ""},
    }
    j.update(extra)
    sb.job_ids.append(j["job_id"])
    return j


def run(sb, j, args=(), timeout=120):
    return run_job(sb, j, args=args, timeout=timeout, env=sb.env(**sb.extra_env))


def output_of(r, directive, nth=0):
    return r.step(directive, nth)[1]


@case
def hello_world(sb):
    r = run(sb, job(sb, ["echo Hello World"]))
    eq(r.result(), "passed", "result", r)
    eq(r.names(), [PULL, START, ENV_STEP, FILES_STEP, "echo Hello World", ENV_STEP],
       "the compose event sequence (executors.md 1.8)", r)
    eq(r.step(PULL)[2], 0, "pull exit code", r)
    eq(r.step(START), (START, "Starting a new bash session.\n", 0), "session step", r)
    eq(output_of(r, "echo Hello World"), "Hello World\n", "command output", r)
    eq(r.step(ENV_STEP, 1), (ENV_STEP, "Exporting SEMAPHORE_JOB_RESULT\n", 0), "epilogue export", r)
    eq(r.code, 0, "exit status", r)


def _without_long_output(shapes):
    return [s for s in shapes if s != LONG_OUTPUT]


@case
def golden_event_sequence(sb):
    """Event by event, as the original logs a compose job (executors.md 1.8):
    one Exporting event per variable, one Injecting event per file, the
    epilogue's export, always and on-pass sections."""
    j = job(sb, ['echo "$A_VAR$B_VAR$C_VAR"', "cat ~/golden/one.txt /tmp/two.txt"],
            env_vars=[{"name": "B_VAR", "value": b64("b")}, {"name": "A_VAR", "value": b64("a")}],
            files=[{"path": "golden/one.txt", "content": b64("one\n"), "mode": "0600"},
                   {"path": "/tmp/two.txt", "content": b64("two\n"), "mode": "0644"}],
            epilogue_always_commands=[{"directive": "echo always"}],
            epilogue_on_pass_commands=[{"directive": "echo on-pass"}],
            epilogue_on_fail_commands=[{"directive": "echo on-fail"}])
    r = run(sb, j, args=["--env-vars", "C_VAR=c"])
    eq(_without_long_output(event_shapes(r, PULL)), [
        ("job_started",),
        ("cmd_started", PULL),
        ("cmd_finished", PULL, 0),
        ("cmd_started", START),
        ("cmd_output", "Starting a new bash session.\n"),
        ("cmd_finished", START, 0),
        ("cmd_started", ENV_STEP),
        ("cmd_output", "Exporting A_VAR\n"),
        ("cmd_output", "Exporting B_VAR\n"),
        ("cmd_output", "Exporting C_VAR\n"),
        ("cmd_finished", ENV_STEP, 0),
        ("cmd_started", FILES_STEP),
        ("cmd_output", "Injecting golden/one.txt with file mode 0600\n"),
        ("cmd_output", "Injecting /tmp/two.txt with file mode 0644\n"),
        ("cmd_finished", FILES_STEP, 0),
        ("cmd_started", 'echo "$A_VAR$B_VAR$C_VAR"'),
        ("cmd_output", "abc\n"),
        ("cmd_finished", 'echo "$A_VAR$B_VAR$C_VAR"', 0),
        ("cmd_started", "cat ~/golden/one.txt /tmp/two.txt"),
        ("cmd_output", "one\ntwo\n"),
        ("cmd_finished", "cat ~/golden/one.txt /tmp/two.txt", 0),
        ("cmd_started", ENV_STEP),
        ("cmd_output", "Exporting SEMAPHORE_JOB_RESULT\n"),
        ("cmd_finished", ENV_STEP, 0),
        ("cmd_started", "echo always"),
        ("cmd_output", "always\n"),
        ("cmd_finished", "echo always", 0),
        ("cmd_started", "echo on-pass"),
        ("cmd_output", "on-pass\n"),
        ("cmd_finished", "echo on-pass", 0),
        ("job_finished", "passed"),
    ], "every event, in order", r)


@case
def golden_failed_job_epilogue(sb):
    """executors.md 1.6's e2e: a broken mode fails the files step with its own
    event, the epilogue export still runs, then always and on-fail."""
    j = job(sb, ["echo never"],
            files=[{"path": "test.txt", "content": b64("x"), "mode": "obviously broken"}],
            epilogue_always_commands=[{"directive": "echo always"}],
            epilogue_on_pass_commands=[{"directive": "echo on-pass"}],
            epilogue_on_fail_commands=[{"directive": "echo on-fail"}])
    r = run(sb, j)
    eq(_without_long_output(event_shapes(r, PULL))[6:], [
        ("cmd_started", ENV_STEP),
        ("cmd_finished", ENV_STEP, 0),
        ("cmd_started", FILES_STEP),
        ("cmd_output", "Injecting test.txt with file mode obviously broken\n"),
        ("cmd_output", "Failed to set file mode to obviously broken\n"),
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
    ], "every event after the session started, in order", r)


@case
def env_vars(sb):
    tricky = "a: b # c 'd' \"e\" $HOME `x` \\ end"
    j = job(sb, ["echo \"[$TRICKY]\"", "echo $FROM_AGENT $SHARED", "cat ~/.bash_profile"],
            env_vars=[{"name": "TRICKY", "value": b64(tricky)},
                      {"name": "SHARED", "value": b64("from-job")},
                      {"name": "A_FIRST", "value": b64("1")}])
    r = run(sb, j, args=["--env-vars", "FROM_AGENT=agent", "--env-vars", "SHARED=agent-wins"])
    eq(r.result(), "passed", "result", r)
    eq(r.step(ENV_STEP)[1],
       "Exporting A_FIRST\nExporting FROM_AGENT\nExporting SHARED\nExporting TRICKY\n",
       "exported names, sorted", r)
    eq(output_of(r, "echo \"[$TRICKY]\""), "[%s]\n" % tricky, "the value survives quoting", r)
    eq(output_of(r, "echo $FROM_AGENT $SHARED"), "agent agent-wins\n", "the agent's value wins", r)
    check(re.search(r"^source '?/.*/compose/\.env'?$", output_of(r, "cat ~/.bash_profile"), re.M),
          "debug sessions source the env file from ~/.bash_profile", r)


@case
def terminal_behaviour(sb):
    """executors.md 1.8: echo turned back on does not leak into output; broken UTF-8."""
    r = run(sb, job(sb, ["stty echo", "echo Hello World", "printf '\\x96\\x96\\x96\\x96\\x96\\n'"]))
    eq(r.result(), "passed", "result", r)
    eq(output_of(r, "echo Hello World"), "Hello World\n", "no echo of the instruction line", r)
    eq(r.steps()[-2][1], "\ufffd" * 5 + "\n", "five invalid bytes become five U+FFFD", r)


@case
def compose_v2_plugin(sb):
    """With a `docker compose` plugin (a shim over docker-compose v1 here) the agent uses it."""
    plugins = sb.path("docker-config", "cli-plugins")
    os.makedirs(plugins)
    calls = sb.path("plugin-calls")
    shim = os.path.join(plugins, "docker-compose")
    with open(shim, "w") as f:
        f.write('#!/bin/bash\n'
                'if [ "$1" = docker-cli-plugin-metadata ]; then\n'
                '  echo \'{"SchemaVersion":"0.1.0","Vendor":"test","Version":"v2.20.0",'
                '"ShortDescription":"test shim"}\'; exit 0; fi\n'
                'shift  # "compose"\n'
                'echo "$*" >> %s\n'
                'if [ "$1" = version ]; then echo "Docker Compose version v2.20.0"; exit 0; fi\n'
                'exec docker-compose "$@"\n' % calls)
    os.chmod(shim, 0o755)
    r = run(sb, job(sb, ["echo via-plugin"]))
    eq(r.result(), "passed", "result", r)
    eq(output_of(r, "echo via-plugin"), "via-plugin\n", "output", r)
    with open(calls) as f:
        seen = f.read().splitlines()
    eq(seen[0], "version", "detection asks the plugin first")
    check(any(" run --rm main true" in c for c in seen), "the pull runs through the plugin: %r" % seen)
    check(any(c.endswith("down --remove-orphans --volumes --timeout 3") for c in seen),
          "so does the clean-up: %r" % seen)


@case
def files(sb):
    j = job(sb, ["cat ~/rel/dir/a.txt /etc/abs.txt ~/home.txt",
                 "stat -c '%a %n' ~/rel/dir/a.txt /etc/abs.txt ~/home.txt"],
            files=[{"path": "rel/dir/a.txt", "content": b64("relative\n"), "mode": "0600"},
                   {"path": "/etc/abs.txt", "content": b64("absolute\n"), "mode": "0644"},
                   {"path": "~/home.txt", "content": b64("home\n"), "mode": "0755"}])
    r = run(sb, j)
    eq(r.result(), "passed", "result", r)
    eq(r.step(FILES_STEP)[1],
       "Injecting rel/dir/a.txt with file mode 0600\nInjecting /etc/abs.txt with file mode 0644\n"
       "Injecting ~/home.txt with file mode 0755\n", "injection lines", r)
    eq(output_of(r, "cat ~/rel/dir/a.txt /etc/abs.txt ~/home.txt"), "relative\nabsolute\nhome\n",
       "contents in the container", r)
    eq(output_of(r, "stat -c '%a %n' ~/rel/dir/a.txt /etc/abs.txt ~/home.txt"),
       "600 /root/rel/dir/a.txt\n644 /etc/abs.txt\n755 /root/home.txt\n", "modes", r)


@case
def bad_file_mode(sb):
    j = job(sb, ["echo never"],
            files=[{"path": "test.txt", "content": b64("x"), "mode": "obviously broken"}])
    r = run(sb, j)
    eq(r.result(), "failed", "result", r)
    eq(r.step(FILES_STEP),
       (FILES_STEP, "Injecting test.txt with file mode obviously broken\n"
                    "Failed to set file mode to obviously broken\n", 1), "files step", r)
    check("echo never" not in r.names(), "no command runs after a failed injection", r)
    eq(r.step(ENV_STEP, 1)[1], "Exporting SEMAPHORE_JOB_RESULT\n", "the epilogue export still runs", r)


@case
def linked_service(sb):
    # A `$` in a container's value is not substituted by compose; a `.` in the
    # job id is no problem for the project name.
    dollar = "pa$word ${HOME} $$ $"
    containers = [{"name": "main", "image": docker_env.BASH_IMAGE,
                   "env_vars": [{"name": "MAIN_VAR", "value": b64(dollar)}]},
                  {"name": "web", "image": docker_env.SERVICE_IMAGE,
                   "env_vars": [{"name": "SVC_VAR", "value": b64("x: y")}]}]
    cmd = "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://web:8080/ && break; sleep 0.5; done"
    j = job(sb, [cmd, 'echo "[$MAIN_VAR]"'], containers=containers)
    j["job_id"] = "dotted.%s" % uuid.uuid4().hex[:12]
    sb.job_ids.append(j["job_id"])
    r = run(sb, j)
    eq(r.result(), "passed", "result", r)
    eq(output_of(r, cmd), docker_env.SERVICE_PAGE, "the linked service answers by its name", r)
    eq(output_of(r, 'echo "[$MAIN_VAR]"'), "[%s]\n" % dollar, "compose substitutes nothing", r)


@case
def failing_command(sb):
    r = run(sb, job(sb, ["echo before", "false", "echo never"]))
    eq(r.result(), "failed", "result", r)
    eq(r.step("false")[2], 1, "exit code of false", r)
    check("echo never" not in r.names(), "the job stops at the first failure", r)
    r = run(sb, job(sb, ["echhhho Hello"]))
    eq(r.step("echhhho Hello")[1:], ("bash: echhhho: command not found\n", 127),
       "an unknown command", r)


@case
def nonexistent_image(sb):
    image = "sa-test-does-not-exist-%s:none" % uuid.uuid4().hex[:8]
    r = run(sb, job(sb, ["echo never"], containers=[{"name": "main", "image": image}]))
    eq(r.result(), "failed", "result", r)
    eq(r.names(), [PULL], "only the pull step runs", r)
    eq(r.step(PULL)[2], 1, "the pull step fails with 1", r)
    check(image.split(":")[0] in r.step(PULL)[1], "compose's output names the image", r)


@case
def image_without_bash(sb):
    r = run(sb, job(sb, ["echo never"], containers=[{"name": "main", "image": docker_env.NOBASH_IMAGE}]))
    eq(r.result(), "failed", "result", r)
    eq(r.names(), [PULL, START], "the job ends at the session step", r)
    out = r.step(START)[1]
    check(out.startswith("Starting a new bash session.\nFailed to start the docker image\n"),
          "the session step says it failed", r)
    check("executable file not found" in out, "the reason comes from the engine", r)
    eq(r.step(START)[2], 1, "session exit code", r)


@case
def stop_during_long_command(sb):
    j = job(sb, ["echo started-long; sleep 600", "echo never"])
    bg = Background(sb, j)  # no login here, so no DOCKER_CONFIG needed
    try:
        bg.wait_output("started-long", timeout=90)
        prefix = project_of(j["job_id"])
        check(any(prefix in x for x in docker_env.leftovers()), "the job's container is running")
        bg.proc.send_signal(signal.SIGINT)
        r = bg.wait(timeout=90)
    finally:
        bg.kill()
    eq(r.result(), "stopped", "result", r)
    eq(r.step("echo started-long; sleep 600")[2], 1, "the stopped command ends with 1", r)
    check("echo never" not in r.names(), "nothing runs after the stop", r)
    eq(r.code, 130, "exit status of a stopped run", r)


def _host_file(sb):
    p = sb.write("host-file.txt", "from the host\n")
    return p


@case
def host_files_present(sb):
    p = _host_file(sb)
    r = run(sb, job(sb, ["cat /injected/host.txt"]), args=["--files", p + ":/injected/host.txt"])
    eq(r.result(), "passed", "result", r)
    eq(output_of(r, "cat /injected/host.txt"), "from the host\n", "the host file is mounted", r)


@case
def host_files_missing_ignored(sb):
    p = _host_file(sb)
    missing = sb.path("missing.txt")
    r = run(sb, job(sb, ["cat /injected/host.txt", "test ! -e /injected/missing.txt"]),
            args=["--files", p + ":/injected/host.txt," + missing + ":/injected/missing.txt"])
    eq(r.result(), "passed", "a missing file is dropped, the job goes on", r)
    check("Error injecting file " + missing in r.stderr and "ignoring it" in r.stderr,
          "the agent log says which file was ignored", r)


@case
def host_files_missing_fails(sb):
    missing = sb.path("missing.txt")
    r = run(sb, job(sb, ["echo never"]),
            args=["--files", missing + ":/x.txt", "--fail-on-missing-files"])
    eq(r.result(), "failed", "result", r)
    eq([e["event"] for e in r.parsed()], ["job_started", "job_finished"],
       "the job log is only job_started and job_finished (executors.md 1.2)", r)
    check("Error injecting file " + missing in r.stderr, "the agent log names the file", r)


@case
def host_setup_commands(sb):
    marker = sb.path("host-setup-ran")
    secs = unique_seconds()
    j = job(sb, ["echo in-container"])
    # A command that leaves a process holding its output must not hang the job.
    j["compose"]["host_setup_commands"] = [{"directive": "echo HostSetupCommands > " + marker},
                                           {"directive": "sleep %s &" % secs}]
    r = run(sb, j)
    eq(r.result(), "passed", "result", r)
    eq(processes_with_argv(["sleep", secs]), [], "the host setup's leftover dies with the job")
    with open(marker) as f:
        eq(f.read(), "HostSetupCommands\n", "the command ran on the host")
    check("HostSetupCommands" not in r.stdout, "its output stays out of the job log", r)
    j = job(sb, ["echo never"])
    j["compose"]["host_setup_commands"] = [{"directive": "exit 3"}, {"directive": "touch " + marker + "2"}]
    r = run(sb, j)
    eq([e["event"] for e in r.parsed()], ["job_started", "job_finished"],
       "a failing host setup command fails the job before any step", r)
    eq(r.result(), "failed", "result", r)
    check(not os.path.exists(marker + "2"), "nothing runs after the failing command")


class Registry:
    """docker-registry on 127.0.0.1 with htpasswd auth and one private image."""

    def __init__(self, sb, user="tester", password="s3cret"):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.addr = "127.0.0.1:%d" % self.port
        root = sb.path("registry")
        os.makedirs(root)
        pw = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True,
                            text=True, check=True).stdout
        with open(root + "/htpasswd", "w") as f:
            f.write(pw)
        with open(root + "/config.yml", "w") as f:
            f.write("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\n"
                    "http:\n  addr: %s\nauth:\n  htpasswd:\n    realm: test\n    path: %s/htpasswd\n"
                    % (root, self.addr, root))
        self.log = open(root + "/log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", root + "/config.yml"],
                                     stdout=self.log, stderr=self.log)
        env = dict(os.environ, DOCKER_CONFIG=sb.path("registry", "pusher"))
        wait_for(lambda: subprocess.run(["docker", "login", "-u", user, "-p", password,
                                         self.addr], capture_output=True, env=env).returncode == 0,
                 20, "the registry accepts a login")
        self.image = "%s/private/bash:1" % self.addr
        subprocess.run(["docker", "tag", docker_env.BASH_IMAGE, self.image], check=True)
        subprocess.run(["docker", "push", self.image], check=True, capture_output=True, env=env)
        subprocess.run(["docker", "rmi", self.image], check=True, capture_output=True)

    def close(self):
        subprocess.run(["docker", "rmi", "-f", self.image], capture_output=True)
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


def _credentials(reg, password):
    return [{"env_vars": [{"name": "DOCKER_CREDENTIAL_TYPE", "value": b64("GenericDocker")},
                          {"name": "DOCKER_USERNAME", "value": b64("tester")},
                          {"name": "DOCKER_PASSWORD", "value": b64(password)},
                          {"name": "DOCKER_URL", "value": b64(reg.addr)}],
             "files": []}]


def _login_job(sb, password, command):
    """A job whose main image is only in the local registry, with a GenericDocker login."""
    reg = Registry(sb)
    try:
        j = job(sb, [command], containers=[{"name": "main", "image": reg.image}])
        j["compose"]["image_pull_credentials"] = _credentials(reg, password)
        return run(sb, j)
    finally:
        reg.close()


@case
def login_generic_docker_good(sb):
    r = _login_job(sb, "s3cret", "echo pulled-privately")
    eq(r.result(), "passed", "result", r)
    eq(r.names()[:3], [CREDS, PULL, START], "credentials come first", r)
    out = r.step(CREDS)[1]
    check(out.startswith("Setting up credentials for Docker\n"
                         "docker login -u \"$DOCKER_USERNAME\" -p \"$DOCKER_PASSWORD\" $DOCKER_URL\n"),
          "banner and login command", r)
    check("Login Succeeded\n" in out, "docker says the login succeeded", r)
    check("s3cret" not in r.stdout, "the password never reaches the log", r)
    eq(r.step(CREDS)[2], 0, "credentials exit code", r)
    check(os.path.exists(sb.path("docker-config", "config.json")), "the login went to DOCKER_CONFIG")


@case
def login_generic_docker_bad(sb):
    r = _login_job(sb, "wrong-password", "echo never")
    eq(r.result(), "failed", "result", r)
    eq(r.names(), [CREDS], "a failed login ends the job before the pull", r)
    out = r.step(CREDS)[1]
    check("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n" in out and
          "401 Unauthorized" in out, "docker's own words about the failure", r)
    eq(r.step(CREDS)[2], 1, "credentials exit code", r)


@case
def login_gcr_removes_key_file(sb):
    """GCR: the key file is written on the host for `docker login` to read
    (/tmp/gcr/keyfile.json, as the original), then removed."""
    key = '{"type":"service_account","private_key_id":"k-%s"}' % uuid.uuid4().hex[:8]
    path = "/tmp/gcr/keyfile.json"
    if os.path.lexists(path):
        os.unlink(path)
    reg = Registry(sb, user="_json_key", password=key)
    try:
        j = job(sb, ["echo pulled-from-gcr"], containers=[{"name": "main", "image": reg.image}])
        j["compose"]["image_pull_credentials"] = [{
            "env_vars": [{"name": "DOCKER_CREDENTIAL_TYPE", "value": b64("GCR")},
                         {"name": "GCR_HOSTNAME", "value": b64(reg.addr)}],
            "files": [{"path": path, "content": b64(key), "mode": "0644"}]}]
        r = run(sb, j)
    finally:
        reg.close()
    eq(r.result(), "passed", "result", r)
    out = r.step(CREDS)[1]
    check(out.startswith("Setting up credentials for GCR\n"
                         "cat /tmp/gcr/keyfile.json | docker login -u _json_key --password-stdin "
                         "https://$GCR_HOSTNAME\n"), "banner and login command", r)
    check("Login Succeeded\n" in out, "docker says the login succeeded", r)
    check(key not in r.stdout, "the key never reaches the log", r)
    check(not os.path.lexists(path), "the key file is gone after the login")


@case
def two_jobs_side_by_side(sb):
    """Same main container name, same time: per-job names keep them apart."""
    procs = []
    for i in range(2):
        j = job(sb, ["echo side-%d; sleep 2" % i])
        path = sb.job_file(j, "job%d.json" % i)
        procs.append(subprocess.Popen(
            [agent_bin(), "run", "--json", path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sb.env(**sb.extra_env)))
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=120)
        check(p.returncode == 0 and b'"result":"passed"' in out.replace(b" ", b""),
              "job %d passed alongside the other:\n%s\n%s" % (i, out.decode(), err.decode()))


@case
def through_start(sb):
    """`start` hands the job and its --files to the compose executor; the log is pushed."""
    from fake_api import FakeApi
    from test_start import Agent, expect_exit
    api = FakeApi()
    try:
        p = _host_file(sb)
        j = job(sb, ["cat /injected/host.txt", "test ! -e /dev/kvm"])
        api.add_job(j["job_id"], j)
        a = Agent(sb, api, ["--disconnect-after-job", "--files", p + ":/injected/host.txt"],
                  env=sb.env(**sb.extra_env))
        try:
            expect_exit(a, 0, "JOB_FINISHED", timeout=120)
        finally:
            a.kill()
        ev = api.events(j["job_id"])
        eq(ev[-1].get("result"), "passed", "pushed job_finished:\n" + a.output())
        out = "".join(e.get("output", "") for e in ev if e["event"] == "cmd_output")
        check("from the host\n" in out, "the mounted host file in the pushed log:\n" + out)
    finally:
        api.stop()


def _private_jump_point(sb):
    """/tmp/ssh_jump_point is the one fixed path (sem expects it), and other
    agents on the machine write it too. The agent under test runs in its own
    mount namespace with a private file bound over that path: it writes where
    the real one is, the test reads what this agent wrote, and /tmp is shared
    otherwise (docker resolves the job's mounts in the host's namespace)."""
    private = sb.write("ssh_jump_point", "")
    if not os.path.exists("/tmp/ssh_jump_point"):
        open("/tmp/ssh_jump_point", "a").close()
    wrapper = sb.write("agent-in-private-ns", "#!/bin/sh\n"
                       "exec unshare --mount --propagation private sh -c "
                       "'mount --bind \"$0\" /tmp/ssh_jump_point && exec \"$@\"' %s %s \"$@\"\n"
                       % (private, agent_bin()), mode=0o755)
    return private, wrapper


@case
def serve_mode(sb):
    """Hosted mode: SSH keys, the compose jump point, /dev/kvm, --files."""
    import serve_client
    p = _host_file(sb)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIComposeKey compose@test"
    kvm = os.path.exists("/dev/kvm")
    j = job(sb, ["cat /injected/host.txt", "ls /dev | grep kvm || echo no-kvm"],
            ssh_public_keys=[b64(key)])
    jump_point, wrapper = _private_jump_point(sb)
    real_agent_bin = serve_client.agent_bin
    serve_client.agent_bin = lambda: wrapper
    try:
        srv = serve_client.Serve(sb, ["--files", p + ":/injected/host.txt"], env=sb.env(**sb.extra_env))
    finally:
        serve_client.agent_bin = real_agent_bin
    try:
        eq(srv.post_job(j).status, 200, "POST /jobs")
        ev = srv.wait_finished(j["job_id"], timeout=120)
    finally:
        srv.stop()
    out = "".join(e.get("output", "") for e in ev if e["event"] == "cmd_output")
    eq(ev[-1]["result"], "passed", "result:\n" + out)
    check("from the host\n" in out, "--files in serve mode:\n" + out)
    check(("kvm\n" if kvm else "no-kvm\n") in out, "/dev/kvm in the container when the host has it:\n" + out)
    with open(os.path.join(sb.home, ".ssh", "authorized_keys")) as f:
        eq(f.read(), key + "\n", "the job's key is authorized")
    with open(jump_point) as f:
        text = f.read()
    check("docker exec -ti %s-main bash --login" % project_of(j["job_id"]) in text,
          "the jump point enters the job's main container: %r" % text)


# --- StatsD pull metrics (issue 21) -----------------------------------------------------
# Image names with "/", "." and ":" so that the tag needs cleaning. The
# "registry" 127.0.0.1:1 refuses connections at once: a missing image fails
# its pull without leaving the machine, a present one is never pulled.
REGISTRY = "127.0.0.1:1"


def _local_tag(sb, name):
    subprocess.run(["docker", "tag", docker_env.BASH_IMAGE, name], check=True)
    sb.tags.append(name)


def _serve_pull(sb, image):
    """Runs one compose job with `image` as its main container in serve mode
    with StatsD on a UDP listener on 127.0.0.1. Returns the datagrams, the
    job's events and the pull step's cmd_finished event."""
    from serve_client import Serve
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    got = []
    j = job(sb, ["echo pulled"], containers=[{"name": "main", "image": image}])
    srv = Serve(sb, ["--statsd-host", "127.0.0.1", "--statsd-port", str(udp.getsockname()[1]),
                     "--statsd-namespace", "agent.test"], env=sb.env(**sb.extra_env))
    try:
        eq(srv.post_job(j).status, 200, "POST /jobs")
        ev = srv.wait_finished(j["job_id"], timeout=120)
        receive_datagrams(udp, got, "agent.test.jobs.duration:")  # jobs.duration is sent last, at the job's end
    finally:
        srv.stop()
        udp.close()
    pulls = [e for e in ev if e["event"] == "cmd_finished" and e["directive"] == PULL]
    eq(len(pulls), 1, "one pull step: %r" % ev)
    return got, ev, pulls[0]


def _expect_pull_datagrams(got, pull, tag, ok, legacy):
    """Every pull datagram, byte for byte, in the order sent. The duration in
    ms is the one value the test cannot know: it must lie within a second of
    the step's own (whole-second) timestamps."""
    secs = pull["finished_at"] - pull["started_at"]
    pulls = [g for g in got if ".docker" in g]
    timing = "tagged.agent.test.%s.no_tag.no_tag.compose_ci.docker_pull.duration:" % tag
    ms = [g for g in pulls if g.startswith(timing)]
    eq(len(ms), 1, "one pull duration timing: %r" % got)
    m = re.fullmatch(re.escape(timing) + r"(\d+)\|ms", ms[0])
    check(m, "the timing's wire form: %r" % ms[0])
    check((secs - 1) * 1000 <= int(m.group(1)) <= (secs + 1) * 1000,
          "%s ms within a second of the step's %d s" % (m.group(1), secs))
    legacy_tag = "tagged.agent.test.semaphoreci_android.no_tag.no_tag."
    want = []
    if legacy:
        want.append(legacy_tag + "compose.docker.pull.rate:1|g")
    want.append(ms[0])
    want.append("tagged.agent.test.%s.no_tag.no_tag.compose_ci.docker_pull.%s.rate:1|g"
                % (tag, "success" if ok else "failure"))
    if legacy and not ok:
        want.append(legacy_tag + "compose.docker.error.rate:1|g")
    if legacy:
        want.append(legacy_tag + "compose.docker.pull.duration:%d|g" % secs)
    eq(pulls, want, "the pull datagrams")
    # The job metrics stay as they were.
    check("agent.test.jobs.started:1|c" in got, "jobs.started: %r" % got)
    check("agent.test.jobs.finished.%s:1|c" % ("passed" if ok else "failed") in got, "jobs.finished: %r" % got)


def _statsd_case(fn):
    def body(sb):
        sb.tags = []
        try:
            fn(sb)
        finally:
            for t in sb.tags:  # the tag only: the image keeps its own name
                subprocess.run(["docker", "rmi", t], capture_output=True)
    body.__name__ = fn.__name__
    return case(body)


@_statsd_case
def statsd_pull_passed(sb):
    image = REGISTRY + "/sa-test/bash.img:4.2"
    _local_tag(sb, image)
    got, ev, pull = _serve_pull(sb, image)
    eq(ev[-1]["result"], "passed", "result: %r" % ev)
    eq(pull["exit_code"], 0, "the pull passes")
    _expect_pull_datagrams(got, pull, "127_0_0_1_1_sa-test_bash_img_4_2", True, False)


@_statsd_case
def statsd_pull_failed(sb):
    name = "sa-test/missing-%s.img" % uuid.uuid4().hex[:8]
    got, ev, pull = _serve_pull(sb, REGISTRY + "/" + name + ":0.1")
    eq(ev[-1]["result"], "failed", "result: %r" % ev)
    eq(pull["exit_code"], 1, "the pull fails")
    tag = "127_0_0_1_1_" + name.replace("/", "_").replace(".", "_") + "_0_1"
    _expect_pull_datagrams(got, pull, tag, False, False)


@_statsd_case
def statsd_pull_legacy_passed(sb):
    image = REGISTRY + "/semaphoreci/android:sa-test.4"
    _local_tag(sb, image)
    got, ev, pull = _serve_pull(sb, image)
    eq(ev[-1]["result"], "passed", "result: %r" % ev)
    _expect_pull_datagrams(got, pull, "127_0_0_1_1_semaphoreci_android_sa-test_4", True, True)


@_statsd_case
def statsd_pull_legacy_failed(sb):
    suffix = uuid.uuid4().hex[:8]
    got, ev, pull = _serve_pull(sb, REGISTRY + "/semaphoreci/android-%s:30.1" % suffix)
    eq(ev[-1]["result"], "failed", "result: %r" % ev)
    eq(pull["exit_code"], 1, "the pull fails")
    _expect_pull_datagrams(got, pull, "127_0_0_1_1_semaphoreci_android-%s_30_1" % suffix, False, True)


@_statsd_case
def statsd_pull_through_start(sb):
    """`start` sends the same metrics as serve, from its statsd-* settings."""
    from fake_api import FakeApi
    from test_start import Agent, expect_exit
    image = REGISTRY + "/sa-test/start.img:4.3"
    _local_tag(sb, image)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    api = FakeApi()
    got = []
    try:
        j = job(sb, ["echo pulled"], containers=[{"name": "main", "image": image}])
        api.add_job(j["job_id"], j)
        a = Agent(sb, api, ["--disconnect-after-job", "--statsd-host", "127.0.0.1",
                            "--statsd-port", str(udp.getsockname()[1]), "--statsd-namespace", "agent.test"],
                  env=sb.env(**sb.extra_env))
        try:
            expect_exit(a, 0, "JOB_FINISHED", timeout=120)
        finally:
            a.kill()
        ev = api.events(j["job_id"])
        eq(ev[-1].get("result"), "passed", "pushed job_finished:\n" + a.output())
        receive_datagrams(udp, got, "agent.test.jobs.duration:")
    finally:
        api.stop()
        udp.close()
    pulls = [e for e in ev if e["event"] == "cmd_finished" and e["directive"] == PULL]
    eq(len(pulls), 1, "one pull step: %r" % ev)
    _expect_pull_datagrams(got, pulls[0], "127_0_0_1_1_sa-test_start_img_4_3", True, False)


def meson_list_in_sync():
    check_meson_list('test_compose', CASES)


CASES["meson_list_in_sync"] = meson_list_in_sync
