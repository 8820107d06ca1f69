#!/bin/bash
# Installs what `make dist`, `make dist-check` and `make image` need on a Debian 12 host,
# and nothing when it is all there: the arm64 architecture for the :arm64
# development packages, a deb-src line for Debian's curl source package, the
# cross toolchain, qemu-user-static and mmdebstrap. Root or sudo.
set -euo pipefail
. "$(dirname "$0")/arch.sh"
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

packages=(dpkg-dev mmdebstrap arch-test qemu-user-static binutils-aarch64-linux-gnu
          g++-aarch64-linux-gnu libssl-dev:arm64 libuv1-dev:arm64 libjansson-dev:arm64
          libyaml-dev:arm64 openssl file "$@")

need_update=false
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
    need_update=true
fi
# Debian's own mirror, as this host's apt sources name it: the source line
# points where the binary lines already do.
src_list=/etc/apt/sources.list.d/semaphore-agent-dist-src.sources
if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    mirror=$(packaging_mirror)
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" | $sudo tee "$src_list" >/dev/null
    need_update=true
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || $need_update; then
    $sudo apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
