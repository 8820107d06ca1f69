#!/bin/bash
# `make package-check`: builds the .deb and the .rpm from a clean clone of
# this repository, runs lintian, installs the .deb on this machine (root or
# sudo), checks the installed layout, upgrades to a second build with a bumped
# version and an edited configuration, and purges. One line per check; exits
# non-zero when a check fails.
#
# Environment:
#   PACKAGE_CHECK_DIR      work directory (default /tmp/semaphore-agent-package-check;
#                          wiped first)
#   PACKAGE_CHECK_OVERLAY  directories whose uncommitted changes are copied into
#                          the clone (default "packaging systemd", so that the
#                          packaging can be checked before it is committed;
#                          empty: the clone exactly as committed)
#   PACKAGE_CHECK_FORCE=1  run even though semaphore-agent is installed here
#                          (it is purged at the end)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
top=$(cd "$here/../.." && pwd)

work=${PACKAGE_CHECK_DIR:-/tmp/semaphore-agent-package-check}
overlay=${PACKAGE_CHECK_OVERLAY-packaging systemd}
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

passed=0
failed=0
check() {  # check NAME CONDITION-COMMAND... : runs the command, prints PASS/FAIL
    local name=$1
    shift
    local output
    if output=$("$@" 2>&1); then
        printf 'PASS  %s\n' "$name"
        passed=$((passed + 1))
    else
        printf 'FAIL  %s\n' "$name"
        [ -n "$output" ] && printf '%s\n' "$output" | sed 's/^/      /' | tail -n 15
        failed=$((failed + 1))
    fi
}
note() { printf 'NOTE  %s\n' "$*"; }
t0=$SECONDS
stage_start=$SECONDS
stage() { printf 'TIME  %s: %ds\n' "$1" $((SECONDS - stage_start)); stage_start=$SECONDS; }
finish() {
    printf '%d passed, %d failed (%ds)\n' "$passed" "$failed" $((SECONDS - t0))
    [ "$failed" = 0 ]
    exit
}

if dpkg-query -W -f='${Status}' semaphore-agent 2>/dev/null | grep -q 'ok installed' &&
    [ "${PACKAGE_CHECK_FORCE:-}" != 1 ]; then
    die "semaphore-agent is installed on this machine; package-check would replace and purge it (PACKAGE_CHECK_FORCE=1 to go on)"
fi

rm -rf "$work"
mkdir -p "$work/out1" "$work/out2" "$work/rpm"
log=$work/logs
mkdir -p "$log"
echo "package-check: work directory $work (build logs in $log)"

# --- a clean clone -----------------------------------------------------------
git clone -q "$top" "$work/src" || die "git clone $top failed"
if [ -n "$overlay" ]; then
    # shellcheck disable=SC2086
    changed=$(cd "$top" && git ls-files -m -o --exclude-standard -- $overlay)
    # shellcheck disable=SC2086
    deleted=$(cd "$top" && git ls-files -d -- $overlay)
    if [ -n "$changed$deleted" ]; then
        note "uncommitted changes under $overlay are copied into the clone (PACKAGE_CHECK_OVERLAY= for the clone as committed)"
        (cd "$top" && printf '%s\n' "$changed" | sed '/^$/d' | tar -T - -cf -) | tar -C "$work/src" -xf -
        (cd "$work/src" && printf '%s\n' "$deleted" | sed '/^$/d' | xargs -r rm -f)
    fi
fi
clone=$work/src
version=$(meson_version "$clone")
stage "clone"

# --- builds ------------------------------------------------------------------
check "deb builds from the clone (make deb)" \
    "$clone/packaging/scripts/build-deb.sh" --src "$clone" --out "$work/out1" >"$log/deb1.log" 2>&1
stage "deb build"
deb1=$(ls "$work"/out1/semaphore-agent_*.deb 2>/dev/null | head -n1)
[ -n "$deb1" ] || { tail -n 30 "$log/deb1.log"; finish; }

check "rpm builds from the clone (make rpm)" \
    "$clone/packaging/scripts/build-rpm.sh" --src "$clone" --out "$work/rpm" >"$log/rpm.log" 2>&1
rpm1=$(ls "$work"/rpm/semaphore-agent-*.rpm 2>/dev/null | grep -v src.rpm | head -n1)
if [ -n "$rpm1" ]; then
    mkdir -p "$work/rpm-extract"
    (cd "$work/rpm-extract" && rpm2cpio "$rpm1" | cpio -idm --quiet)
    check "rpm: /opt/semaphore/agent/agent is a link to /usr/bin/semaphore-agent" \
        bash -c "[ \"\$(readlink '$work/rpm-extract/opt/semaphore/agent/agent')\" = /usr/bin/semaphore-agent ]"
    check "rpm: no program needs a glibc symbol newer than 2.34" \
        bash -c "floor=\$(objdump -T '$work'/rpm-extract/usr/bin/* '$work'/rpm-extract/usr/libexec/semaphore-agent/* \
                   | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1); echo \$floor;
                 [ \"\$(printf '%s\\n' \$floor GLIBC_2.34 | sort -V | tail -n 1)\" = GLIBC_2.34 ]"
fi
stage "rpm build"

# The second .deb: a bumped version whose shipped configuration changed too,
# the case where dpkg must keep the admin's edited file.
version2="$(dpkg-deb -f "$deb1" Version)+check1"
echo "# (changed in $version2)" >>"$clone/packaging/config.yaml"
check "second deb ($version2) builds" \
    "$clone/packaging/scripts/build-deb.sh" --src "$clone" --out "$work/out2" --version "$version2" \
    >"$log/deb2.log" 2>&1
stage "second deb build"
deb2=$(ls "$work"/out2/semaphore-agent_*.deb 2>/dev/null | head -n1)

# --- lintian -----------------------------------------------------------------
lintian --display-info --pedantic --show-overrides "$work"/out1/*.changes 2>&1 |
    grep -v 'running with root privileges' >"$log/lintian.txt"
count() { grep -c "^$1:" "$log/lintian.txt"; }
check "lintian: no errors ($(count E) errors, $(count W) warnings, $(count I) info, $(count P) pedantic, $(count O) overridden)" \
    test "$(count E)" = 0
sed -n 's/^\([EWIPXO]\): /      lintian \1: /p' "$log/lintian.txt"
stage "lintian"

# --- install -----------------------------------------------------------------
installed=0
user_existed=0
getent passwd semaphore >/dev/null && user_existed=1
cleanup() {
    if [ "$installed" = 1 ]; then
        $sudo dpkg --purge semaphore-agent >/dev/null 2>&1
    fi
    # The purge keeps the semaphore user (policy); the check leaves no trace.
    if [ "$user_existed" = 0 ] && getent passwd semaphore >/dev/null; then
        $sudo userdel semaphore >/dev/null 2>&1
        getent group semaphore >/dev/null && $sudo groupdel semaphore >/dev/null 2>&1
    fi
}
trap cleanup EXIT

check "dpkg -i $(basename "$deb1")" $sudo dpkg -i "$deb1"
installed=1
check "semaphore-agent --version from /usr/bin prints $version" \
    bash -c "/usr/bin/semaphore-agent --version | grep -qF '$version'"
check "agentctl --help from /usr/bin" /usr/bin/agentctl --help
check "/opt/semaphore/agent/agent runs the installed agent" \
    bash -c "/opt/semaphore/agent/agent --version | grep -qF '$version'"
check "/opt/semaphore/agent/agent is a link to /usr/bin/semaphore-agent, not a wrapper" \
    bash -c '[ "$(readlink /opt/semaphore/agent/agent)" = /usr/bin/semaphore-agent ]'
for bin in /usr/bin/semaphore-agent /usr/bin/agentctl /usr/libexec/semaphore-agent/semaphore-agent-worker; do
    check "$bin needs no glibc symbol newer than 2.34 (RHEL 9, Amazon Linux 2023)" \
        bash -c "floor=\$(objdump -T $bin | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1); echo \$floor; \
                 [ \"\$(printf '%s\\n' \$floor GLIBC_2.34 | sort -V | tail -n 1)\" = GLIBC_2.34 ]"
done
# The AWS stack's health check, run as semaphore: `ps aux | grep
# "/opt/semaphore/agent/agent start"` powers the machine off when nothing matches.
# The stack's substring is what is tested, but on the line of this check's own
# agent (a name no other run uses): an agent of the host or of a concurrent
# run must not make a broken package pass.
check "ps aux finds an agent started as /opt/semaphore/agent/agent start" \
    bash -c 'name=ps-check-$$-$(od -An -N6 -tx1 /dev/urandom | tr -d " \n")
             cd / && /opt/semaphore/agent/agent start --endpoint 127.0.0.1:9 --no-https --token t \
               --name "$name" >/dev/null 2>&1 & pid=$!
             found=1
             for i in $(seq 100); do
               ps aux | grep -v grep | grep -F "/opt/semaphore/agent/agent start" | grep -qF -- "--name $name" \
                 && { found=0; break; }
               sleep 0.1
             done
             kill $pid; wait $pid 2>/dev/null; exit $found'
check "worker installed in /usr/libexec/semaphore-agent" test -x /usr/libexec/semaphore-agent/semaphore-agent-worker
check "the installed agent runs a job with the installed worker" \
    bash -c "cd / && /opt/semaphore/agent/agent run --json '$clone/examples/hello.yaml' | grep -q '\"result\":\"passed\"'"
conf=/etc/semaphore-agent/config.yaml
check "config.yaml is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' semaphore-agent | grep -q ' $conf '"
check "config.yaml not world-readable (0640 root:semaphore)" \
    bash -c "[ \"\$(stat -c '%a %U:%G' $conf)\" = '640 root:semaphore' ]"
check "user semaphore: home /var/lib/semaphore-agent, shell /bin/bash" \
    bash -c "getent passwd semaphore | grep -q ':/var/lib/semaphore-agent:/bin/bash\$'"
check "/var/lib/semaphore-agent created 0750 semaphore" \
    bash -c "[ \"\$(stat -c '%a %U' /var/lib/semaphore-agent)\" = '750 semaphore' ]"
unit=$(dpkg -L semaphore-agent | grep '/systemd/system/semaphore-agent\.service$' | head -n1)
check "unit installed ($unit)" test -f "$unit"
check "unit not enabled before it is configured" \
    bash -c "! ls /etc/systemd/system/*.wants/semaphore-agent.service 2>/dev/null | grep -q ."
check "the shipped config is refused until configured (check-config exits 78)" \
    bash -c "/usr/bin/semaphore-agent check-config --config-file $conf >/dev/null 2>&1; [ \$? = 78 ]"
# A bad config must leave the unit failed after one try: only the main
# process's exit status is covered by RestartPreventExitStatus=78 (issue 22).
check "the unit runs no ExecStartPre/ExecCondition/ExecStartPost (not covered by RestartPreventExitStatus)" \
    bash -c "! grep -Eq '^(ExecStartPre|ExecCondition|ExecStartPost)=' '$unit'"
check "the unit: Restart=always with RestartPreventExitStatus=78" \
    bash -c "grep -qx 'Restart=always' '$unit' && grep -qx 'RestartPreventExitStatus=78' '$unit'"
check "ExecStart= with the shipped config exits 78, naming the missing key last" \
    bash -c "cmd=\$(sed -n 's/^ExecStart=//p' '$unit'); out=\$(cd / && JOURNAL_STREAM=8:1 $sudo runuser -u semaphore -- \$cmd 2>&1); rc=\$?
             [ \$rc = 78 ] && printf '%s\\n' \"\$out\" | tail -n1 | grep -q '^<3>.*endpoint'"
if command -v systemd-analyze >/dev/null; then
    check "systemd-analyze verify $unit" bash -c "systemd-analyze verify '$unit' 2>&1 | tee /dev/stderr | (! grep -q .)"
else
    note "systemd-analyze not found: unit not verified"
fi
check "prerm stops the service on remove only (README: removal is not an upgrade)" \
    bash -c "grep -q 'deb-systemd-invoke stop' /var/lib/dpkg/info/semaphore-agent.prerm &&
             grep -q '\"\$1\" = remove' /var/lib/dpkg/info/semaphore-agent.prerm"
check "postinst/prerm never restart or stop the service on upgrade" \
    bash -c "! grep -Eq 'deb-systemd-invoke (restart|try-restart|stop)' /var/lib/dpkg/info/semaphore-agent.postinst /var/lib/dpkg/info/semaphore-agent.preinst 2>/dev/null"
check "man pages semaphore-agent(8), agentctl(1), semaphore-agent.yaml(5) render cleanly" \
    bash -c 'for p in 8:semaphore-agent 1:agentctl 5:semaphore-agent.yaml; do
               f=$(man -w "${p%%:*}" "${p#*:}") || exit 1
               w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null); [ -z "$w" ] || { echo "$f: $w"; exit 1; }
             done'
if [ -f /usr/share/bash-completion/bash_completion ]; then
    check "bash completion: semaphore-agent sta<TAB>, agentctl st<TAB>, --upload-job-logs <TAB>" \
        bash -c '. /usr/share/bash-completion/bash_completion
                 . /usr/share/bash-completion/completions/semaphore-agent
                 . /usr/share/bash-completion/completions/agentctl
                 c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
                       "$F" "$1" "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"; echo "${COMPREPLY[*]}"; }
                 F=_semaphore_agent; [ "$(c semaphore-agent sta)" = start ] || exit 1
                 [ "$(c semaphore-agent start --upload-job-logs w)" = when-trimmed ] || exit 1
                 F=_agentctl; [ "$(c agentctl st)" = status ] || exit 1'
else
    note "bash-completion not installed: completion not exercised"
fi
check "binaries hardened (PIE, full RELRO, stack protector, fortify)" \
    bash -c 'for b in /usr/bin/semaphore-agent /usr/bin/agentctl /usr/libexec/semaphore-agent/semaphore-agent-worker; do
               readelf -h "$b" | grep -q "Type:.*DYN" || { echo "$b: not PIE"; exit 1; }
               readelf -l "$b" | grep -q GNU_RELRO || { echo "$b: no RELRO"; exit 1; }
               readelf -d "$b" | grep -Eq "BIND_NOW|FLAGS.*NOW" || { echo "$b: no BIND_NOW"; exit 1; }
             done
             nm -D /usr/bin/semaphore-agent | grep -q " __stack_chk_fail" || { echo "no stack protector"; exit 1; }
             nm -D /usr/bin/semaphore-agent | grep -Eq " __[a-z0-9_]+_chk@" || { echo "no fortified calls"; exit 1; }'
stage "install checks"

# --- upgrade keeps an edited configuration ----------------------------------
edited="# edited by package-check
endpoint: \"example.semaphoreci.com\"
token: \"edited-by-package-check\""
printf '%s\n' "$edited" | $sudo tee "$conf" >/dev/null
check "dpkg -i $(basename "${deb2:-second deb}") (upgrade, unattended: --force-confdef --force-confold)" \
    bash -c "[ -n '$deb2' ] && DEBIAN_FRONTEND=noninteractive $sudo dpkg -i --force-confdef --force-confold '$deb2' </dev/null"
check "upgraded to $version2" bash -c "[ \"\$(dpkg-query -W -f='\${Version}' semaphore-agent)\" = '$version2' ]"
check "upgrade kept the edited config.yaml (content)" bash -c "[ \"\$(cat $conf)\" = '$edited' ]"
check "upgrade kept config.yaml 0640 root:semaphore" \
    bash -c "[ \"\$(stat -c '%a %U:%G' $conf)\" = '640 root:semaphore' ]"
check "the new shipped config is beside it as config.yaml.dpkg-dist" \
    bash -c "grep -qF '(changed in $version2)' $conf.dpkg-dist"
check "the edited config passes check-config" \
    /usr/bin/semaphore-agent check-config --config-file "$conf"
stage "upgrade"

# --- purge -------------------------------------------------------------------
files=$(dpkg -L semaphore-agent)
check "dpkg --purge semaphore-agent" $sudo dpkg --purge semaphore-agent
installed=0
check "purge removed every file of the package" \
    bash -c 'left=""; while IFS= read -r f; do
               [ -d "$f" ] && continue
               [ -e "$f" ] || [ -L "$f" ] && left="$left $f"
             done <<<"$1"; [ -z "$left" ] || { echo "left:$left"; exit 1; }' _ "$files"
check "purge removed /etc/semaphore-agent, /var/lib/semaphore-agent, /opt/semaphore" \
    bash -c '! ls -d /etc/semaphore-agent /var/lib/semaphore-agent /run/semaphore-agent /opt/semaphore 2>/dev/null | grep .'
check "purge kept the semaphore user and group (policy)" \
    bash -c 'getent passwd semaphore >/dev/null && getent group semaphore >/dev/null'
stage "purge"

# --- the rpm has the same layout and scriptlets ------------------------------
rpmfile=""
for f in "$work"/rpm/semaphore-agent-*.rpm; do
    case $f in *.src.rpm) ;; *) [ -f "$f" ] && rpmfile=$f ;; esac
done
if [ -n "$rpmfile" ]; then
    check "rpm version is $version" bash -c "[ \"\$(rpm -qp --qf '%{VERSION}' '$rpmfile' 2>/dev/null)\" = '$version' ]"
    # Files of both packages, docs, debhelper/lintian metadata and build-id links aside,
    # with the unit directory and compressed man pages normalised.
    norm() { sed -e 's#^/lib/systemd/#/usr/lib/systemd/#' -e 's#\.gz$##' |
             grep -Ev '^/usr/share/(doc|lintian)/|^/usr/lib/\.build-id' | sort -u; }
    dpkg-deb -c "$deb1" | awk '$1 !~ /^d/ {print substr($6, 2)}' | norm >"$work/deb-files"
    rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpmfile" 2>/dev/null | awk '$1 !~ /^d/ {print $2}' | norm >"$work/rpm-files"
    check "rpm ships the same files as the deb" diff -u "$work/deb-files" "$work/rpm-files"
    check "rpm: config.yaml is %config(noreplace), 0640 root:semaphore" \
        bash -c "rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME}\n]' '$rpmfile' 2>/dev/null |
                 grep -qx '/etc/semaphore-agent/config.yaml cn -rw-r----- root:semaphore'"
    check "rpm scriptlets: user created in %pre, no restart on upgrade" \
        bash -c "s=\$(rpm -qp --scripts '$rpmfile' 2>/dev/null | grep -v '^[[:space:]]*#'); grep -q 'useradd -r' <<<\"\$s\" && ! grep -Eq 'try-restart|systemctl[^|]* restart|postun_with_restart|condrestart' <<<\"\$s\""
    check "rpm binaries hardened (PIE, full RELRO, stack protector, fortify)" \
        bash -c "mkdir -p '$work/rpmx' && cd '$work/rpmx' && rpm2cpio '$rpmfile' | cpio -id --quiet &&
                 for b in usr/bin/semaphore-agent usr/bin/agentctl usr/libexec/semaphore-agent/semaphore-agent-worker; do
                   readelf -h \$b | grep -q 'Type:.*DYN' && readelf -l \$b | grep -q GNU_RELRO &&
                   readelf -d \$b | grep -Eq 'BIND_NOW|FLAGS.*NOW' || { echo \"\$b: not hardened\"; exit 1; }
                 done; nm -D usr/bin/semaphore-agent | grep -q ' __stack_chk_fail' &&
                 nm -D usr/bin/semaphore-agent | grep -Eq ' __[a-z0-9_]+_chk@'"
fi
stage "rpm checks"

finish
