#!/bin/bash
# Builds the .rpm (and .src.rpm) with rpmbuild from a tarball of the source
# tree and packaging/rpm/semaphore-agent.spec.
#
#   build-rpm.sh [--src DIR] [--out DIR]
#
# --src  source tree to package (default: this repository's working tree;
#        with git, its tracked and untracked-but-not-ignored files)
# --out  where the .rpm files go (default: build-packages)
#
# On a system whose rpm database does not know the build dependencies (Debian
# with its `rpm` package) they are not checked (--nodeps): `make rpm` installs
# their Debian equivalents.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

src=$(cd "$here/../.." && pwd)
out=build-packages
while [ $# -gt 0 ]; do
    case $1 in
        --src) src=$(cd "$2" && pwd); shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) die "build-rpm.sh: unknown argument '$1'" ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

spec=$src/packaging/rpm/semaphore-agent.spec
[ -f "$spec" ] || die "$spec: missing"
version=$(meson_version "$src")
spec_version=$(sed -n 's/^Version:[[:space:]]*//p' "$spec")
[ "$spec_version" = "$version" ] ||
    die "semaphore-agent.spec is at $spec_version but meson.build says $version: update Version and %changelog"
check_man_versions "$src" "$version"

work=$(mktemp -d "${TMPDIR:-/tmp}/semaphore-agent-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rpmbuild/SOURCES" "$work/rpmbuild/SPECS"
stage_source "$src" "$work/semaphore-agent-$version"
tar -C "$work" --owner=0 --group=0 -czf "$work/rpmbuild/SOURCES/semaphore-agent-$version.tar.gz" "semaphore-agent-$version"
cp "$spec" "$work/rpmbuild/SPECS/"

nodeps=()
if ! rpm -q --whatprovides gcc-c++ >/dev/null 2>&1; then
    nodeps=(--nodeps)
    echo "rpmbuild: the rpm database does not know the build dependencies; not checking them (--nodeps)"
fi
rpmbuild --define "_topdir $work/rpmbuild" "${nodeps[@]}" -ba "$work/rpmbuild/SPECS/semaphore-agent.spec"

shopt -s nullglob
files=("$work"/rpmbuild/RPMS/*/*.rpm "$work"/rpmbuild/SRPMS/*.rpm)
[ ${#files[@]} -gt 0 ] || die "rpmbuild produced nothing"
cp "${files[@]}" "$out/"
for f in "${files[@]}"; do echo "built $out/$(basename "$f")"; done
