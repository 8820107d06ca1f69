# Sourced by the dist scripts: what differs between the two release
# architectures. arch_vars ARCH sets:
#   triplet    GNU triplet of the target
#   deb_arch   Debian's name for it
#   host_opt   autoconf --host option (empty when building natively)
#   cross_env  environment for a cross autoconf build (compiler, pkg-config)
#   qemu       command prefix that runs a target program here (empty if native)
arch_vars() {
    case "$1" in
        x86_64) triplet=x86_64-linux-gnu deb_arch=amd64 ;;
        arm64 | aarch64) triplet=aarch64-linux-gnu deb_arch=arm64 ;;
        *) echo "unknown architecture '$1' (x86_64 or arm64)" >&2; return 1 ;;
    esac
    host_opt=() cross_env=() qemu=()
    if [ "$(dpkg --print-architecture)" != "$deb_arch" ]; then
        host_opt=(--host="$triplet")
        cross_env=(CC="$triplet-gcc" CXX="$triplet-g++" AR="$triplet-ar" RANLIB="$triplet-ranlib"
                   PKG_CONFIG_LIBDIR="/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig")
        qemu=("qemu-$( [ "$deb_arch" = arm64 ] && echo aarch64 || echo x86_64 )-static")
    fi
}

# The Debian mirror this host's apt sources use (the first deb line; with
# `security`, the security archive's), so that the dist scripts fetch from
# wherever the host already does.
packaging_mirror() {
    local m filter=(grep -v -- '-security')
    [ "${1:-}" = security ] && filter=(grep -- '-security')
    m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | "${filter[@]}" | head -n 1)
    [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' | "${filter[@]}" | head -n 1)
    [ -n "$m" ] || { echo "no Debian mirror in this host's apt sources" >&2; return 1; }
    echo "$m"
}
