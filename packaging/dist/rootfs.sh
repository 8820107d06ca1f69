#!/bin/bash
# A minimal Debian root file system for the portable programs' tests and the
# container image, made once with mmdebstrap from the host's Debian mirror and
# cached as a tarball under $SA_DIST_CACHE (default /var/cache/semaphore-agent-dist).
#
#   rootfs.sh SUITE ARCH [PACKAGE...]     e.g. rootfs.sh bullseye arm64
#
# With ROOTFS_UPDATES=1 the SUITE-updates and SUITE-security suites are added
# (for the container image); the tests' root file systems take the release as is.
#
# Prints the tarball's path on its last line. Foreign architectures run their
# maintainer scripts through qemu-user-static, registered with binfmt_misc here
# (mounted first when it is not).
set -euo pipefail
suite=${1:?usage: rootfs.sh SUITE ARCH [PACKAGE...]}
arch=${2:?usage: rootfs.sh SUITE ARCH [PACKAGE...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/arch.sh"
arch_vars "$arch"
cache=${SA_DIST_CACHE:-/var/cache/semaphore-agent-dist}

name=$suite-$deb_arch
updates=${ROOTFS_UPDATES:-0}
[ "$updates" = 1 ] && name=$name-updates
if [ $# -gt 0 ]; then
    name=$name-$(printf '%s\n' "$@" | sort | sha256sum | cut -c1-10)
fi
tarball=$cache/rootfs/$name.tar
if [ -s "$tarball" ]; then
    echo "$tarball"
    exit 0
fi
[ ${#qemu[@]} -eq 0 ] || "$here/binfmt.sh" "$deb_arch" >&2
mkdir -p "$cache/rootfs"
include=()
[ $# -eq 0 ] || include=(--include="$(IFS=,; echo "$*")")
mirror=$(packaging_mirror)
sources=("deb $mirror $suite main")
if [ "$updates" = 1 ]; then
    sources+=("deb $mirror $suite-updates main")
    security=$(packaging_mirror security)
    sources+=("deb $security $suite-security main")
fi
echo "rootfs: making $name with mmdebstrap" >&2
trap 'rm -f "$tarball.part"' EXIT
mmdebstrap --quiet --format=tar --variant=minbase --arch="$deb_arch" "${include[@]}" "$suite" "$tarball.part" \
    "${sources[@]}" >&2
mv "$tarball.part" "$tarball"
echo "$tarball"
