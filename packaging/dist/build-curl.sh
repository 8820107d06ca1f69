#!/bin/bash
# Builds a static libcurl for the portable programs (`make dist`), from Debian's
# own source package with its patches, with only what the agent uses: HTTP/1.1
# over TLS (OpenSSL), proxies, the threaded resolver. Debian's libcurl.a needs
# static Kerberos, LDAP, RTMP, libssh2 and more, which Debian does not ship.
#
#   build-curl.sh ARCH        ARCH: x86_64 or arm64
#
# Prints the prefix (with lib/pkgconfig/libcurl.pc) on its last line. The
# result is cached under $SA_DIST_CACHE (default /var/cache/semaphore-agent-dist),
# keyed by the source version and this script's options, so a second run
# builds nothing.
set -euo pipefail
arch=${1:?usage: build-curl.sh x86_64|arm64}
cache=${SA_DIST_CACHE:-/var/cache/semaphore-agent-dist}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/arch.sh"
arch_vars "$arch"

# Only the HTTP and HTTPS protocols; nothing that needs another library.
options=(--disable-shared --enable-static --with-openssl --enable-threaded-resolver
  --without-zlib --without-brotli --without-zstd --without-libpsl --without-libidn2
  --without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-libssh2 --without-libssh
  --without-librtmp --without-libgsasl --without-gssapi --disable-ldap --disable-ldaps
  --disable-rtsp --disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap
  --disable-smb --disable-smtp --disable-gopher --disable-mqtt --disable-ftp --disable-file
  --disable-manual --disable-ntlm-wb --without-ca-bundle --without-ca-path
  --disable-dependency-tracking)

mkdir -p "$cache/src"
dsc=$(ls "$cache"/src/curl_*.dsc 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$dsc" ]; then
    echo "build-curl: fetching Debian's curl source package" >&2
    (cd "$cache/src" && apt-get source -q --download-only curl >&2) || {
        echo "build-curl: 'apt-get source curl' failed: a deb-src line for the distribution is needed (make dist-deps adds one)" >&2
        exit 1
    }
    dsc=$(ls "$cache"/src/curl_*.dsc | sort -V | tail -n 1)
fi
version=$(basename "$dsc" .dsc)
key=$(printf '%s\n' "$version" "$triplet" "${options[@]}" | sha256sum | cut -c1-12)
prefix=$cache/curl/$arch-$key
if [ -f "$prefix/lib/pkgconfig/libcurl.pc" ] && [ -f "$prefix/lib/libcurl.a" ]; then
    echo "$prefix"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && dpkg-source -q -x "$dsc" src >/dev/null)
mkdir "$work/build"
cd "$work/build"
echo "build-curl: configuring $version for $arch" >&2
env "${cross_env[@]}" ../src/configure --prefix="$prefix" "${host_opt[@]}" "${options[@]}" \
    > "$work/configure.log" 2>&1 || { tail -n 40 "$work/configure.log" >&2; exit 1; }
echo "build-curl: building" >&2
{ make -C lib -j"$(nproc)" && make -C lib install && make -C include install; } \
    > "$work/make.log" 2>&1 || { tail -n 40 "$work/make.log" >&2; rm -rf "$prefix"; exit 1; }
install -D -m 0644 libcurl.pc "$prefix/lib/pkgconfig/libcurl.pc"
echo "$prefix"
