#!/bin/bash
# Builds the .deb with dpkg-buildpackage and debhelper, from a copy of the
# source tree staged under /tmp with packaging/debian as its debian/.
#
#   build-deb.sh [--src DIR] [--out DIR] [--version VERSION]
#
# --src      source tree to package (default: this repository's working tree)
# --out      where the .deb, .buildinfo and .changes go (default: build-packages)
# --version  package version to build instead of debian/changelog's newest one
#            (a changelog entry is added to the staged copy; used to test upgrades)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

src=$(cd "$here/../.." && pwd)
out=build-packages
version=""
while [ $# -gt 0 ]; do
    case $1 in
        --src) src=$(cd "$2" && pwd); shift 2 ;;
        --out) out=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        *) die "build-deb.sh: unknown argument '$1'" ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

[ -d "$src/packaging/debian" ] || die "$src/packaging/debian: missing"
work=$(mktemp -d "${TMPDIR:-/tmp}/semaphore-agent-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/semaphore-agent
stage_source "$src" "$tree"
cp -a "$src/packaging/debian" "$tree/debian"

# The changelog's upstream version must be meson.build's.
upstream=$(meson_version "$tree")
changelog_version=$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Version)
case $changelog_version in
    "$upstream" | "$upstream"[-+~]*) ;;
    *) die "debian/changelog is at $changelog_version but meson.build says $upstream: add a changelog entry" ;;
esac
check_man_versions "$tree" "$upstream"

if [ -n "$version" ]; then
    maintainer=$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Maintainer)
    {
        echo "semaphore-agent ($version) unstable; urgency=medium"
        echo
        echo "  * Rebuild as $version."
        echo
        echo " -- $maintainer  $(date -R)"
        echo
        cat "$tree/debian/changelog"
    } > "$work/changelog" && mv "$work/changelog" "$tree/debian/changelog"
fi

jobs=$(nproc 2>/dev/null || echo 1)
export DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}"
(cd "$tree" && dpkg-buildpackage -b -us -uc)

shopt -s nullglob
files=("$work"/*.deb "$work"/*.buildinfo "$work"/*.changes)
[ ${#files[@]} -gt 0 ] || die "dpkg-buildpackage produced nothing"
cp "${files[@]}" "$out/"
for f in "$work"/*.deb; do echo "built $out/$(basename "$f")"; done
