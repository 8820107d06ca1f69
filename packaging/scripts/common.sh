# shellcheck shell=bash
# Shared helpers of build-deb.sh, build-rpm.sh and package-check.sh (sourced).

die() { echo "packaging: $*" >&2; exit 1; }

# The project version, from meson.build's project(... version : 'X' ...).
meson_version() {
    sed -n "s/^[[:space:]]*version[[:space:]]*:[[:space:]]*'\([^']*\)'.*/\1/p" "$1/meson.build" | head -n1
}

# stage_source SRC DEST: copies the source tree SRC into DEST (created): with
# git, the tracked and the untracked-but-not-ignored files as they are in the
# working tree (so build directories never come along); without git, all but
# build*/ and .git. No debian/ directory is left at DEST's top.
stage_source() {
    local src=$1 dest=$2
    mkdir -p "$dest"
    if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$src" && git ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done \
            | tar --null --no-recursion -T - -cf -) | tar -C "$dest" -xf -
    else
        tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$dest" -xf -
    fi
    rm -rf "$dest/debian"
}

# The man pages' .TH lines name the version too.
check_man_versions() {
    local tree=$1 version=$2 page
    for page in "$tree"/packaging/man/*.[0-9]; do
        grep -q "^\.TH .*\"semaphore-agent $version\"" "$page" ||
            die "$page: its .TH line does not say \"semaphore-agent $version\" (meson.build's version)"
    done
}
