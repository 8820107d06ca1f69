#!/bin/bash
# `make dist`: the release tarballs, in the original's names and layout.
#
#   build-dist.sh [--out DIR] [ARCH...]     ARCH: x86_64 (default: x86_64 arm64)
#
# Writes DIR/agent_Linux_ARCH.tar.gz (DIR default build-packages). At its top
# level: `agent` (the supervisor itself), `semaphore-agent-worker` (found by the
# agent beside itself), `agentctl`, `install.sh`, `README.md` and `LICENSE`.
# Every program is fully static (meson option portable): it runs on any Linux
# of its architecture with glibc 2.31 or newer, with none of libuv, libcurl,
# jansson, libyaml or OpenSSL installed. Build directories: build-dist/ARCH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/arch.sh"

out=build-packages
archs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        -*) echo "build-dist: unknown option $1" >&2; exit 2 ;;
        *) archs+=("$1"); shift ;;
    esac
done
[ ${#archs[@]} -gt 0 ] || archs=(x86_64 arm64)
mkdir -p "$out"
out=$(cd "$out" && pwd)

for f in packaging/tarball/install.sh README.md LICENSE; do
    [ -f "$top/$f" ] || { echo "build-dist: $f is missing" >&2; exit 1; }
done

for arch in "${archs[@]}"; do
    arch_vars "$arch"
    curl_prefix=$("$here/build-curl.sh" "$arch" | tail -n 1)
    bdir=$top/build-dist/$arch
    setup=(-Dportable=true -Dbuildtype=release -Dsystemd=enabled -Db_ndebug=true
           "-Dpkg_config_path=$curl_prefix/lib/pkgconfig")
    [ "$deb_arch" = "$(dpkg --print-architecture)" ] || setup+=(--cross-file "$here/cross-$deb_arch.ini")
    if [ -f "$bdir/build.ninja" ]; then
        meson configure "$bdir" "-Dpkg_config_path=$curl_prefix/lib/pkgconfig" >/dev/null
    else
        meson setup "$bdir" "$top" "${setup[@]}" >/dev/null
    fi
    echo "build-dist: building $arch"
    ninja -C "$bdir" daemon/semaphore-agent daemon/agentctl worker/semaphore-agent-worker \
        > "$bdir/dist-build.log" 2>&1 || { tail -n 30 "$bdir/dist-build.log" >&2; exit 1; }

    stage=$(mktemp -d)
    strip=strip
    [ ${#host_opt[@]} -eq 0 ] || strip=$triplet-strip
    install -m 0755 "$bdir/daemon/semaphore-agent" "$stage/agent"
    install -m 0755 "$bdir/worker/semaphore-agent-worker" "$stage/semaphore-agent-worker"
    install -m 0755 "$bdir/daemon/agentctl" "$stage/agentctl"
    "$strip" "$stage/agent" "$stage/semaphore-agent-worker" "$stage/agentctl"
    install -m 0755 "$top/packaging/tarball/install.sh" "$stage/install.sh"
    install -m 0644 "$top/README.md" "$top/LICENSE" "$stage/"
    tarball=$out/agent_Linux_$arch.tar.gz
    # Reproducible: fixed owner, order and times (the last commit's).
    mtime=$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)
    tar -C "$stage" --owner=0 --group=0 --numeric-owner --sort=name --mtime="@$mtime" \
        -cf - agent semaphore-agent-worker agentctl install.sh README.md LICENSE | gzip -n -9 > "$tarball"
    rm -rf "$stage"
    echo "build-dist: $tarball ($(du -k "$tarball" | cut -f1) KiB)"
done
