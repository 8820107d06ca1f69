#!/bin/bash
# Lets this host run programs of a foreign Debian architecture (arm64) through
# qemu-user-static: mounts binfmt_misc when it is not, and registers the
# interpreter from qemu-user-static's own binfmt.d entry (with the F flag, so it
# works inside a chroot too). Root. Does nothing when it is already there.
set -euo pipefail
deb_arch=${1:?usage: binfmt.sh DEB_ARCH}
case "$deb_arch" in
    arm64) cpu=aarch64 ;;
    *) echo "binfmt: no qemu entry for $deb_arch" >&2; exit 1 ;;
esac
dir=/proc/sys/fs/binfmt_misc
[ -e "$dir/register" ] || mount -t binfmt_misc binfmt_misc "$dir"
[ -e "$dir/qemu-$cpu" ] && exit 0
conf=/usr/lib/binfmt.d/qemu-$cpu.conf
[ -f "$conf" ] || { echo "binfmt: $conf is missing (install qemu-user-static)" >&2; exit 1; }
grep -v '^#' "$conf" > "$dir/register"
