"""A real Docker engine for the docker compose tests, and the images they use.

Everything is local: dockerd is started here when none answers, images are
made from host binaries with `docker import` (no registry), and the private
registry of the login test listens on 127.0.0.1. Concurrent tests share one
engine and one set of images, guarded by a lock file.

When the engine cannot start, the tests skip with the reason, except under
CI=true, where a missing engine is a failure (issue 9).
"""
import fcntl
import os
import shutil
import subprocess
import tempfile
import time

LOCK = "/tmp/sa-test-docker.lock"
DOCKERD_PID = "/tmp/sa-test-dockerd.pid"
DOCKERD_LOG = "/tmp/sa-test-dockerd.log"
IMAGE_TAG = "4"  # bump when the images below change

BASH_IMAGE = "sa-test-bash:" + IMAGE_TAG      # bash + busybox tools
NOBASH_IMAGE = "sa-test-nobash:" + IMAGE_TAG  # busybox only
SERVICE_IMAGE = "sa-test-http:" + IMAGE_TAG   # busybox httpd serving /www/index.html
SERVICE_PAGE = "hello from the linked service\n"

# The applets the job's shell and the agent's own commands need.
APPLETS = ["sh", "cat", "ls", "mkdir", "cp", "chmod", "rm", "mv", "sleep", "true", "false",
           "echo", "env", "id", "base64", "stty", "grep", "sed", "sort", "stat", "head",
           "tail", "wc", "nc", "wget", "hostname", "printf", "test", "uname", "ps", "kill"]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Unavailable(Exception):
    """The engine cannot run here; the message says why."""


def _docker_ok():
    try:
        return subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _start_dockerd():
    if not shutil.which("dockerd") or not shutil.which("docker-compose"):
        raise Unavailable("dockerd or docker-compose is not installed (make deps installs "
                          "docker.io and docker-compose)")
    with open(DOCKERD_LOG, "ab") as log:
        p = subprocess.Popen(["dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    with open(DOCKERD_PID, "w") as f:
        f.write(str(p.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _docker_ok():
            return
        if p.poll() is not None:
            break
        time.sleep(0.25)
    with open(DOCKERD_LOG, "rb") as f:
        tail = f.read()[-2000:].decode(errors="replace")
    raise Unavailable("dockerd did not start (see %s):\n%s" % (DOCKERD_LOG, tail))


def _copy_with_libs(root, binary):
    dest = root + "/bin/" + os.path.basename(binary)
    shutil.copy2(os.path.realpath(binary), dest)
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    for word in out.split():
        if word.startswith("/") and os.path.exists(word):
            target = root + word
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                shutil.copy2(os.path.realpath(word), target)


def _import(root, tag, cmd=None):
    changes = ["-c", "ENV PATH=" + PATH]
    if cmd:
        changes += ["-c", "CMD " + cmd]
    tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "import"] + changes + ["-", tag], stdin=tar.stdout, check=True,
                   stdout=subprocess.DEVNULL)
    tar.wait()


def _busybox_root(applets):
    busybox = shutil.which("busybox")  # busybox-static: no libraries to copy
    if not busybox:
        raise Unavailable("busybox is not installed (make deps installs busybox-static)")
    root = tempfile.mkdtemp(prefix="sa-img-")
    for d in ("bin", "tmp", "etc", "root", "www"):
        os.makedirs(os.path.join(root, d))
    os.chmod(root + "/tmp", 0o1777)
    shutil.copy2(os.path.realpath(busybox), root + "/bin/busybox")
    for a in applets:
        os.symlink("busybox", root + "/bin/" + a)
    with open(root + "/etc/passwd", "w") as f:
        f.write("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n")
    with open(root + "/etc/group", "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    return root


def _image_exists(tag):
    return subprocess.run(["docker", "image", "inspect", tag], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def _build_images():
    if not _image_exists(BASH_IMAGE):
        root = _busybox_root(APPLETS)
        _copy_with_libs(root, shutil.which("bash"))
        _import(root, BASH_IMAGE)
        shutil.rmtree(root)
    if not _image_exists(NOBASH_IMAGE):
        root = _busybox_root(APPLETS)
        _import(root, NOBASH_IMAGE)
        shutil.rmtree(root)
    if not _image_exists(SERVICE_IMAGE):
        root = _busybox_root(["sh", "httpd"])
        with open(root + "/www/index.html", "w") as f:
            f.write(SERVICE_PAGE)
        _import(root, SERVICE_IMAGE, '["busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]')
        shutil.rmtree(root)


def ensure():
    """Makes sure an engine answers and the test images exist; raises Unavailable."""
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _docker_ok():
            _start_dockerd()
        _build_images()


def stop_started_engine():
    """Stops the dockerd these tests started, if any (make test calls it at the end)."""
    try:
        with open(DOCKERD_PID) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 15)
        for _ in range(200):
            os.kill(pid, 0)
            time.sleep(0.1)
    except ProcessLookupError:
        pass
    os.unlink(DOCKERD_PID)


def leftovers(project_prefix="semaphore-"):
    """Containers and networks of compose projects the agent made, still present."""
    out = []
    for kind, argv in (("container", ["docker", "container", "ls", "-a", "--format", "{{.Names}}"]),
                       ("network", ["docker", "network", "ls", "--format", "{{.Name}}"])):
        r = subprocess.run(argv, capture_output=True, text=True)
        out += ["%s %s" % (kind, n) for n in r.stdout.split() if n.startswith(project_prefix)]
    return out


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["stop"]:
        stop_started_engine()
    else:
        ensure()
        print("docker engine and test images ready")
