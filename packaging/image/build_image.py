#!/usr/bin/env python3
"""`make image`: the container image semaphore-agent:VERSION, offline.

The original's image layout on a Debian 12 base: a minimal root file system
made with mmdebstrap (packaging/dist/rootfs.sh, cached), the release tarball's
static programs put where the original image has them, and `docker import`
with the original's USER, WORKDIR and CMD. No Dockerfile and no registry: the
only network use is the Debian mirror, once, for the cached root file system.

    build_image.py [--packages DIR] [--tag NAME:VERSION]

The image carries a label with a digest of everything it was made from (the
root file system, the release tarball, this script); when an image of that
tag already has the same digest, nothing is rebuilt. Root (the root file
system's owners and device-free extraction need it).
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import docker_env  # noqa: E402

SUITE = "bookworm"
ARCH = "x86_64"
# What jobs get besides the base: the original image's ca-certificates and
# curl, and what most jobs' first commands want (git over https and ssh, ps).
PACKAGES = ["ca-certificates", "bash", "git", "curl", "openssh-client", "procps"]

USER, UID, GID, HOME = "semaphore", 1000, 1000, "/home/semaphore"
# The original's login shell: useradd's default on Ubuntu (and on Debian).
LOGIN_SHELL = "/bin/sh"
OPT = "/opt/semaphore"
CONFIG = OPT + "/semaphore-agent.yml"
CMD = '["/opt/semaphore/agent", "start", "--config-file", "/opt/semaphore/semaphore-agent.yml"]'
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INPUTS_LABEL = "semaphore-agent.image-inputs"

DEFAULT_CONFIG = """\
# semaphore-agent configuration (see semaphore-agent.yaml(5) and the README).
#
# Empty on purpose: the image's command reads this file, and every setting can
# come from a SEMAPHORE_AGENT_* variable instead (SEMAPHORE_AGENT_ENDPOINT,
# SEMAPHORE_AGENT_TOKEN, SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB=true, ...).
# To configure with a file, mount yours over this one:
#
#   docker run -v $PWD/agent.yml:/opt/semaphore/semaphore-agent.yml:ro ...
#
# endpoint: ORGANIZATION.semaphoreci.com
# token: REGISTRATION-TOKEN
# disconnect-after-job: true
"""

# What an image must not carry: package lists and downloaded packages (apt
# fetches its own; mmdebstrap leaves none today, this keeps it so), debconf's
# backups, and the build host's resolver and name (dockerd provides both).
EMPTIED = ["var/lib/apt/lists", "var/cache/apt/archives", "var/cache/apt", "var/log/apt"]
KEEP = {"partial", "lock", "archives"}  # apt's own directories, with their owners (_apt)
REMOVE = ["var/cache/debconf/config.dat-old", "var/cache/debconf/templates.dat-old",
          "var/cache/ldconfig/aux-cache", "etc/resolv.conf", "etc/hostname"]


# Documentation and translations, left out as the original's Ubuntu base
# leaves them out (its dpkg excludes, written here too so that packages a job
# installs stay without them). Copyright files stay.
DPKG_EXCLUDES = """\
# Documentation and translations are left out of this image, as in Ubuntu's
# minimized images; delete this file and reinstall a package to get them.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/groff/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/linda/*
path-exclude=/usr/share/locale/*/LC_MESSAGES/*.mo
"""


def log(msg):
    print("image: " + msg, flush=True)


def version():
    with open(os.path.join(TOP, "meson.build")) as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    if not m:
        raise SystemExit("image: no version in meson.build")
    return m.group(1)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rootfs_tarball():
    env = dict(os.environ, ROOTFS_UPDATES="1")
    r = subprocess.run([os.path.join(TOP, "packaging", "dist", "rootfs.sh"), SUITE, ARCH] + PACKAGES,
                       env=env, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit("image: rootfs.sh failed (exit %d)" % r.returncode)
    return r.stdout.strip().splitlines()[-1]


def image_label(tag):
    r = subprocess.run(["docker", "image", "inspect", "--format",
                        '{{index .Config.Labels "%s"}}' % INPUTS_LABEL, tag],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def image_id(tag):
    r = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def append_line(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def add_user(root):
    """The semaphore user and group, written the way useradd -m writes them,
    without running anything inside the root file system."""
    for name, field in (("passwd", 2), ("group", 2)):
        with open(os.path.join(root, "etc", name)) as f:
            for line in f:
                parts = line.split(":")
                if parts[0] == USER or parts[field] == str(UID):
                    raise SystemExit("image: /etc/%s already has %s or id %d" % (name, USER, UID))
    append_line(os.path.join(root, "etc/passwd"), "%s:x:%d:%d::%s:%s" % (USER, UID, GID, HOME, LOGIN_SHELL))
    append_line(os.path.join(root, "etc/group"), "%s:x:%d:" % (USER, GID))
    # Locked password, no aging: nobody logs in as semaphore with a password.
    append_line(os.path.join(root, "etc/shadow"), "%s:!::0:99999:7:::" % USER)
    append_line(os.path.join(root, "etc/gshadow"), "%s:!::" % USER)
    home = os.path.join(root, HOME.lstrip("/"))
    shutil.copytree(os.path.join(root, "etc/skel"), home, symlinks=True)
    os.chmod(home, 0o755)
    for d, dirs, files in os.walk(home):
        os.lchown(d, UID, GID)
        for n in dirs + files:
            os.lchown(os.path.join(d, n), UID, GID)


def remove(p):
    if os.path.isdir(p) and not os.path.islink(p):
        shutil.rmtree(p)
    elif os.path.lexists(p):
        os.unlink(p)


def minimize(root):
    """What DPKG_EXCLUDES keeps out, taken out of the installed packages."""
    share = os.path.join(root, "usr/share")
    doc = os.path.join(share, "doc")
    for pkg in os.listdir(doc):
        p = os.path.join(doc, pkg)
        if os.path.isdir(p) and not os.path.islink(p):
            for n in os.listdir(p):
                if n != "copyright":
                    remove(os.path.join(p, n))
        else:
            remove(p)
    for d in ("man", "groff", "info", "lintian", "linda"):
        p = os.path.join(share, d)
        for n in os.listdir(p) if os.path.isdir(p) else []:
            remove(os.path.join(p, n))
    locale = os.path.join(share, "locale")
    for lang in os.listdir(locale):
        msgs = os.path.join(locale, lang, "LC_MESSAGES")
        for n in os.listdir(msgs) if os.path.isdir(msgs) and not os.path.islink(msgs) else []:
            if n.endswith(".mo"):
                remove(os.path.join(msgs, n))
    excludes = os.path.join(root, "etc/dpkg/dpkg.cfg.d/excludes")
    with open(excludes, "w") as f:
        f.write(DPKG_EXCLUDES)
    os.chmod(excludes, 0o644)


def install(src, dest, mode, uid=0, gid=0):
    shutil.copyfile(src, dest)
    os.chmod(dest, mode)
    os.chown(dest, uid, gid)


def build_root(root, rootfs, dist_tarball):
    # Owners as numbers (the host's names may map elsewhere); no device nodes:
    # dockerd provides /dev.
    subprocess.run(["tar", "-C", root, "--numeric-owner", "--same-permissions", "--exclude=./dev/*",
                    "-xf", rootfs], check=True)
    for rel in EMPTIED:
        d = os.path.join(root, rel)
        for n in os.listdir(d) if os.path.isdir(d) else []:
            p = os.path.join(d, n)
            if n in KEEP:
                continue
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
    for rel in REMOVE:
        if os.path.lexists(os.path.join(root, rel)):
            os.unlink(os.path.join(root, rel))
    minimize(root)
    add_user(root)

    programs = tempfile.mkdtemp(prefix="sa-image-dist-")
    try:
        with tarfile.open(dist_tarball) as t:
            for m in ("agent", "semaphore-agent-worker", "agentctl"):
                with t.extractfile(m) as src, open(os.path.join(programs, m), "wb") as dst:
                    shutil.copyfileobj(src, dst)
        opt = os.path.join(root, OPT.lstrip("/"))
        os.makedirs(opt)
        # As in the original: the directory belongs to the user, so the agent
        # (or the user) may write beside it; the programs belong to root.
        os.chown(opt, UID, GID)
        os.chmod(opt, 0o755)
        install(os.path.join(programs, "agent"), os.path.join(opt, "agent"), 0o755)
        install(os.path.join(programs, "semaphore-agent-worker"),
                os.path.join(opt, "semaphore-agent-worker"), 0o755)
        install(os.path.join(programs, "agentctl"), os.path.join(root, "usr/local/bin/agentctl"), 0o755)
    finally:
        shutil.rmtree(programs)
    cfg = os.path.join(root, CONFIG.lstrip("/"))
    with open(cfg, "w") as f:
        f.write(DEFAULT_CONFIG)
    os.chown(cfg, UID, GID)
    os.chmod(cfg, 0o644)


def import_image(root, tag, inputs, mtime):
    changes = ["USER " + USER, "WORKDIR " + HOME, "ENV PATH=" + PATH, "CMD " + CMD,
               "LABEL org.opencontainers.image.version=" + tag.rsplit(":", 1)[1],
               "LABEL %s=%s" % (INPUTS_LABEL, inputs)]
    argv = ["docker", "import"]
    for c in changes:
        argv += ["-c", c]
    # One order, owners as numbers, and the added files' times fixed, so the
    # same inputs give the same layer.
    tar = subprocess.Popen(["tar", "-C", root, "--sort=name", "--numeric-owner", "--xattrs",
                            "--clamp-mtime", "--mtime=@%d" % mtime,
                            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
                            "-c", "."], stdout=subprocess.PIPE)
    r = subprocess.run(argv + ["-", tag], stdin=tar.stdout, stdout=subprocess.DEVNULL)
    tar.stdout.close()
    if tar.wait() != 0 or r.returncode != 0:
        raise SystemExit("image: docker import failed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", default=os.path.join(TOP, "build-packages"))
    ap.add_argument("--tag", default="semaphore-agent:" + version())
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("image: needs root (the root file system's owners)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    dist_tarball = os.path.join(os.path.abspath(args.packages), "agent_Linux_%s.tar.gz" % ARCH)
    if not os.path.isfile(dist_tarball):
        raise SystemExit("image: %s is missing (make dist DIST_ARCHS=%s)" % (dist_tarball, ARCH))
    try:
        docker_env.ensure()
    except docker_env.Unavailable as e:
        raise SystemExit("image: no docker engine: %s" % e)
    rootfs = rootfs_tarball()

    h = hashlib.sha256()
    for p in (rootfs, dist_tarball, os.path.abspath(__file__)):
        h.update(sha256(p).encode())
    inputs = h.hexdigest()[:16]
    if image_label(args.tag) == inputs:
        log("%s is up to date (inputs %s)" % (args.tag, inputs))
    else:
        previous = image_id(args.tag)
        root = tempfile.mkdtemp(prefix="sa-image-root-")
        try:
            build_root(root, rootfs, dist_tarball)
            mtime = int(subprocess.run(["git", "-C", TOP, "log", "-1", "--format=%ct"],
                                       capture_output=True, text=True).stdout.strip() or time.time())
            import_image(root, args.tag, inputs, mtime)
        finally:
            shutil.rmtree(root)
        # The image this tag named before, unless a container still uses it.
        if previous and previous != image_id(args.tag):
            subprocess.run(["docker", "image", "rm", previous], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        log("built %s (inputs %s)" % (args.tag, inputs))
    size = int(subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", args.tag],
                              capture_output=True, text=True, check=True).stdout)
    log("%s: %.1f MB (%d bytes), %ds" % (args.tag, size / 1e6, size, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
