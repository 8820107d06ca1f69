#!/usr/bin/env bash
# Sets up the Semaphore agent from the directory this script is in (for
# example /opt/semaphore/agent, unpacked from agent_Linux_<arch>.tar.gz):
# the toolbox in the user's home, DIR/config.yaml and a systemd service.
# The same variables as the original agent's install.sh:
#
#   SEMAPHORE_ORGANIZATION              endpoint ORG.semaphoreci.com, or
#   SEMAPHORE_ENDPOINT                  the endpoint itself (wins)
#   SEMAPHORE_REGISTRATION_TOKEN        the agent type's registration token
#   SEMAPHORE_AGENT_INSTALLATION_USER   the (existing) user the agent runs as
#   SEMAPHORE_AGENT_SHUTDOWN_HOOK       shutdown-hook-path (default: none)
#   SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB            true|false (default false)
#   SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT   seconds (default 0: never)
#   SEMAPHORE_TOOLBOX_VERSION           a toolbox release tag (default latest)
#   SEMAPHORE_AGENT_START               false: write everything, start nothing
#   SEMAPHORE_AGENT_SYSTEMD_RESTART     Restart= (default always)
#   SEMAPHORE_AGENT_SYSTEMD_RESTART_SEC RestartSec= (default 60)
#
# and one of this agent's own:
#
#   SEMAPHORE_TOOLBOX_BASE_URL          where the toolbox releases are (default
#                                       https://github.com/semaphoreci/toolbox/releases);
#                                       the archive is BASE/latest/download/FILE
#                                       or BASE/download/VERSION/FILE
#
# A missing required value is asked for when stdin is a terminal. Running it
# again (from a newer tarball) upgrades in place: an existing config.yaml is
# kept as it is, the toolbox is replaced, the service is restarted.
#
# shellcheck disable=SC2016 # the scripts given to `sh -c` expand as the user
set -eu

SERVICE=semaphore-agent
UNIT_PATH=/etc/systemd/system/$SERVICE.service
DEFAULT_TOOLBOX_BASE_URL=https://github.com/semaphoreci/toolbox/releases

say() { printf '%s\n' "$*"; }
die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

# ---- where we are ---------------------------------------------------------

# The directory as it was named (not with links resolved): the fleets' health
# check looks for "/opt/semaphore/agent/agent start" in the process list.
AGENT_DIR=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -L)
AGENT_BIN=$AGENT_DIR/agent
CONFIG_PATH=$AGENT_DIR/config.yaml
LOG_PATH=$AGENT_DIR/agent.log

# ---- the variables ----------------------------------------------------------

# ask VAR "question": the variable's value; asked for on a terminal, an error
# naming the variable otherwise. secret=1 does not echo the answer.
ask() {
    local var=$1 question=$2 secret=${3:-0} answer=
    if [ -n "${!var:-}" ]; then
        printf '%s' "${!var}"
        return
    fi
    if [ ! -t 0 ]; then
        die "$var is not set (and stdin is not a terminal to ask for it)"
    fi
    if [ "$secret" = 1 ]; then
        read -r -s -p "$question: " answer
        printf '\n' >&2
    else
        read -r -p "$question: " answer
    fi
    [ -n "$answer" ] || die "$var: no value given"
    printf '%s' "$answer"
}

# A value that goes into the YAML file or the unit on one line.
one_line() {
    case $2 in
    *$'\n'* | *$'\r'*) die "$1: must not contain a line break" ;;
    esac
}

check_bool() {
    case $2 in
    true | false) ;;
    *) die "$1: '$2' is not true or false" ;;
    esac
}

check_whole_number() {
    case $2 in
    '' | *[!0-9]*) die "$1: '$2' is not a whole number of seconds (0 or more)" ;;
    esac
}

read_settings() {
    if [ -n "${SEMAPHORE_ENDPOINT:-}" ]; then
        ENDPOINT=$SEMAPHORE_ENDPOINT
        one_line SEMAPHORE_ENDPOINT "$ENDPOINT"
    else
        local org
        org=$(ask SEMAPHORE_ORGANIZATION "Enter organization (ORG of ORG.semaphoreci.com)")
        one_line SEMAPHORE_ORGANIZATION "$org"
        case $org in
        *[!A-Za-z0-9-]*) die "SEMAPHORE_ORGANIZATION: '$org' is not an organization name (letters, digits, '-'); set SEMAPHORE_ENDPOINT for another host" ;;
        esac
        ENDPOINT=$org.semaphoreci.com
    fi
    TOKEN=$(ask SEMAPHORE_REGISTRATION_TOKEN "Enter registration token" 1)
    one_line SEMAPHORE_REGISTRATION_TOKEN "$TOKEN"
    AGENT_USER=$(ask SEMAPHORE_AGENT_INSTALLATION_USER "Enter the user the agent runs as")
    one_line SEMAPHORE_AGENT_INSTALLATION_USER "$AGENT_USER"
    local entry
    entry=$(getent passwd -- "$AGENT_USER") ||
        die "SEMAPHORE_AGENT_INSTALLATION_USER: there is no user '$AGENT_USER' on this machine (create it first)"
    AGENT_UID=$(printf '%s' "$entry" | cut -d: -f3)
    AGENT_HOME=$(printf '%s' "$entry" | cut -d: -f6)
    if [ -z "$AGENT_HOME" ] || [ ! -d "$AGENT_HOME" ]; then
        die "SEMAPHORE_AGENT_INSTALLATION_USER: the home directory of '$AGENT_USER' ('$AGENT_HOME') does not exist"
    fi

    SHUTDOWN_HOOK=${SEMAPHORE_AGENT_SHUTDOWN_HOOK:-}
    one_line SEMAPHORE_AGENT_SHUTDOWN_HOOK "$SHUTDOWN_HOOK"
    DISCONNECT_AFTER_JOB=${SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB:-false}
    check_bool SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB "$DISCONNECT_AFTER_JOB"
    IDLE_TIMEOUT=${SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT:-0}
    check_whole_number SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT "$IDLE_TIMEOUT"
    TOOLBOX_VERSION=${SEMAPHORE_TOOLBOX_VERSION:-latest}
    case $TOOLBOX_VERSION in
    *[!A-Za-z0-9._-]*) die "SEMAPHORE_TOOLBOX_VERSION: '$TOOLBOX_VERSION' is not a release tag like v1.21.5" ;;
    esac
    TOOLBOX_BASE_URL=${SEMAPHORE_TOOLBOX_BASE_URL:-$DEFAULT_TOOLBOX_BASE_URL}
    TOOLBOX_BASE_URL=${TOOLBOX_BASE_URL%/}
    START=${SEMAPHORE_AGENT_START:-true}
    check_bool SEMAPHORE_AGENT_START "$START"
    RESTART=${SEMAPHORE_AGENT_SYSTEMD_RESTART:-always}
    case $RESTART in
    no | always | on-success | on-failure | on-abnormal | on-abort | on-watchdog) ;;
    *) die "SEMAPHORE_AGENT_SYSTEMD_RESTART: '$RESTART' is not one of no, always, on-success, on-failure, on-abnormal, on-abort, on-watchdog" ;;
    esac
    RESTART_SEC=${SEMAPHORE_AGENT_SYSTEMD_RESTART_SEC:-60}
    check_whole_number SEMAPHORE_AGENT_SYSTEMD_RESTART_SEC "$RESTART_SEC"
}

# ---- acting as the user -------------------------------------------------------

# Whatever lives in the user's home is written by the user, so that root never
# follows a link the user planted there.
as_user() {
    if command -v runuser >/dev/null 2>&1; then
        runuser -u "$AGENT_USER" -- env HOME="$AGENT_HOME" USER="$AGENT_USER" LOGNAME="$AGENT_USER" "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -H -u "$AGENT_USER" -- "$@"
    else
        die "neither runuser nor sudo is installed: cannot act as '$AGENT_USER'"
    fi
}

# ---- the toolbox ----------------------------------------------------------------

toolbox_archive_name() {
    case $(uname -m) in
    aarch64 | arm64 | arm*) printf 'self-hosted-linux-arm.tar' ;;
    *) printf 'self-hosted-linux.tar' ;;
    esac
}

download() { # URL FILE
    if command -v curl >/dev/null 2>&1; then
        curl --fail --silent --show-error --location --retry 3 --output "$2" -- "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget --quiet --tries=3 --output-document="$2" -- "$1"
    else
        die "neither curl nor wget is installed: cannot download the toolbox"
    fi
}

install_toolbox() {
    local name url tmp
    name=$(toolbox_archive_name)
    if [ "$TOOLBOX_VERSION" = latest ]; then
        url=$TOOLBOX_BASE_URL/latest/download/$name
    else
        url=$TOOLBOX_BASE_URL/download/$TOOLBOX_VERSION/$name
    fi
    say "Downloading the toolbox ($TOOLBOX_VERSION) from $url..."
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064 # expanded now, on purpose
    trap "rm -rf '$tmp'" EXIT
    download "$url" "$tmp/toolbox.tar" || die "cannot download the toolbox from $url"
    tar -tf "$tmp/toolbox.tar" >/dev/null 2>&1 || die "the toolbox download from $url is not a tar archive"

    # Unpacked by the user, so that every file is the user's. The release
    # archive holds a toolbox/ directory; a flat archive is taken as it is.
    say "Installing the toolbox in $AGENT_HOME/.toolbox..."
    as_user sh -c '
        set -eu
        cd "$HOME"
        rm -rf .toolbox .toolbox.new
        mkdir .toolbox.new
        tar -xf - -C .toolbox.new
        if [ -d .toolbox.new/toolbox ] && [ ! -e .toolbox.new/install-toolbox ]; then
            mv .toolbox.new/toolbox .toolbox
            rm -rf .toolbox.new
        else
            mv .toolbox.new .toolbox
        fi
        [ -f .toolbox/install-toolbox ] || { echo "the toolbox archive has no install-toolbox" >&2; exit 1; }
    ' <"$tmp/toolbox.tar" || die "cannot unpack the toolbox into $AGENT_HOME/.toolbox"
    rm -rf "$tmp"
    trap - EXIT

    (cd "$AGENT_HOME" && as_user bash "$AGENT_HOME/.toolbox/install-toolbox") ||
        die "the toolbox's install-toolbox failed (as $AGENT_USER)"

    # Jobs run `bash --login`, which reads ~/.bash_profile.
    as_user sh -c '
        line="source ~/.toolbox/toolbox"
        if [ -f "$HOME/.bash_profile" ] && grep -qxF "$line" "$HOME/.bash_profile"; then exit 0; fi
        printf "%s\n" "$line" >>"$HOME/.bash_profile"
    ' || die "cannot add the toolbox to $AGENT_HOME/.bash_profile"
}

# ---- the agent's files -------------------------------------------------------------

# A YAML double-quoted scalar.
yaml_quote() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

config_text() {
    cat <<EOF
# Written by install.sh; edit it freely (yq e -i), install.sh keeps it.
# Every key: man semaphore-agent.yaml, or the agent's README.
endpoint: $(yaml_quote "$ENDPOINT")
token: $(yaml_quote "$TOKEN")
no-https: false
shutdown-hook-path: $(yaml_quote "$SHUTDOWN_HOOK")
disconnect-after-job: $DISCONNECT_AFTER_JOB
disconnect-after-idle-timeout: $IDLE_TIMEOUT
env-vars: []
files: []
fail-on-missing-files: false
EOF
}

# Writes stdin to DIR/NAME with MODE, owned by the user. In a directory the
# user owns the user writes it; otherwise root does, through a new file.
write_agent_file() { # NAME MODE
    local name=$1 mode=$2 dir_uid tmp
    dir_uid=$(stat -c %u "$AGENT_DIR")
    if [ "$dir_uid" = "$AGENT_UID" ]; then
        as_user sh -c 'set -eu; umask 077; t=$(mktemp "$1/.$2.XXXXXX"); cat >"$t"; chmod "$3" "$t"; mv -f "$t" "$1/$2"' \
            sh "$AGENT_DIR" "$name" "$mode"
    else
        # By name, as root: safe because check_dir_writers refused a
        # directory on the way that another user could swap names in.
        # -h all the same: never the owner of what a link points at.
        tmp=$(umask 077 && mktemp "$AGENT_DIR/.$name.XXXXXX")
        cat >"$tmp"
        chmod "$mode" "$tmp"
        chown -h "$AGENT_USER:" "$tmp"
        mv -f "$tmp" "$AGENT_DIR/$name"
    fi
}

write_config() {
    if [ -e "$CONFIG_PATH" ] || [ -L "$CONFIG_PATH" ]; then
        say "Keeping the existing $CONFIG_PATH (delete it to have it written anew)."
        return
    fi
    say "Writing $CONFIG_PATH..."
    config_text | write_agent_file config.yaml 600
}

# The agent (as the user) appends to DIR/agent.log; it may not be able to
# create files in DIR, so the file is made here.
prepare_log_file() {
    if [ -e "$LOG_PATH" ] || [ -L "$LOG_PATH" ]; then return; fi
    write_agent_file agent.log 640 </dev/null
}

# Root writes DIR/config.yaml and DIR/agent.log by name (a new file, then
# chmod, chown, rename). If DIR or a directory above it may be written by
# others without the sticky bit, another user could swap the new file for a
# link (to /etc/shadow) between two of these steps, or swap the directory:
# such a directory is refused before anything is written.
check_dir_writers() {
    local d=$AGENT_DIR mode
    while :; do
        mode=$(stat -L -c %a -- "$d") || die "cannot read the mode of $d"
        if (((8#$mode & 8#022) != 0 && (8#$mode & 8#1000) == 0)); then
            die "$d (mode $mode) is writable by its group or by everyone, without the sticky bit: another user could replace the files install.sh writes as root in $AGENT_DIR (chmod go-w $d)"
        fi
        [ "$d" = / ] && break
        d=$(dirname -- "$d")
    done
}

# systemd unquotes these lines: a path with blanks, quotes, '%' or '$' would
# need escaping that this script does not attempt.
check_dir_name() {
    case $AGENT_DIR in
    *[!A-Za-z0-9._/+@:-]*) die "the agent directory '$AGENT_DIR' has characters a systemd unit would need escaped; move it (for example to /opt/semaphore/agent)" ;;
    esac
}

unit_text() {
    cat <<EOF
# Written by $AGENT_DIR/install.sh; running it again rewrites this file.
[Unit]
Description=Semaphore agent
Documentation=file:$AGENT_DIR/README.md
Wants=network-online.target
After=network-online.target
# Restart for ever: the agent exits after a disconnect by design.
StartLimitIntervalSec=0

[Service]
Type=simple
User=$AGENT_USER
WorkingDirectory=$AGENT_DIR
ExecStart=$AGENT_DIR/agent start --config-file $CONFIG_PATH
Restart=$RESTART
RestartSec=$RESTART_SEC
Environment=SEMAPHORE_AGENT_LOG_FILE_PATH=$LOG_PATH
# SIGTERM to the agent only: it reports the interruption, gives the running
# job its interruption-grace-period, stops it and flushes its log.
KillMode=mixed
TimeoutStopSec=15min
# The agent's own cgroup subtree, so that each job gets a cgroup of its own
# and none of a job's processes outlives it.
Delegate=yes

[Install]
WantedBy=multi-user.target
EOF
}

write_unit() {
    local tmp
    UNIT_EXISTED=false
    [ -e "$UNIT_PATH" ] && UNIT_EXISTED=true
    say "Writing $UNIT_PATH..."
    mkdir -p "$(dirname "$UNIT_PATH")"
    tmp=$(mktemp "$(dirname "$UNIT_PATH")/.$SERVICE.service.XXXXXX")
    unit_text >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$UNIT_PATH"
}

start_service() {
    if ! command -v systemctl >/dev/null 2>&1; then
        [ "$START" = false ] || die "systemctl is not installed: cannot start $SERVICE (SEMAPHORE_AGENT_START=false writes the files only)"
        say "systemctl is not installed: the unit is written, nothing is reloaded."
        return
    fi
    # In a chroot or a `docker build` (an image bake) systemd is not PID 1:
    # systemctl would fail. Its own test for a booted systemd is this
    # directory (sd_booted).
    if [ ! -d /run/systemd/system ]; then
        [ "$START" = false ] || die "systemd is not running here (no /run/systemd/system): cannot start $SERVICE; the unit is written and is loaded at the next boot (SEMAPHORE_AGENT_START=false writes the files only)"
        say "systemd is not running here: the unit $UNIT_PATH is written and is loaded when systemd boots."
        return
    fi
    systemctl daemon-reload
    if [ "$START" = false ]; then
        say "SEMAPHORE_AGENT_START=false: not starting $SERVICE (systemctl start $SERVICE starts it)."
    elif [ "$UNIT_EXISTED" = true ]; then
        say "Restarting $SERVICE..."
        systemctl restart "$SERVICE"
    else
        say "Starting $SERVICE..."
        systemctl start "$SERVICE"
    fi
}

main() {
    [ "$(id -u)" = 0 ] || die "install.sh must run as root (try: sudo -E $0)"
    [ -x "$AGENT_BIN" ] || die "there is no agent executable at $AGENT_BIN: run the install.sh of an unpacked release"
    check_dir_name
    check_dir_writers
    read_settings
    if [ -n "$SHUTDOWN_HOOK" ] && [ ! -e "$SHUTDOWN_HOOK" ]; then
        say "Note: the shutdown hook $SHUTDOWN_HOOK does not exist (yet)."
    fi
    install_toolbox
    write_config
    prepare_log_file
    write_unit
    start_service
    say "Done. The agent runs as $AGENT_USER from $AGENT_DIR; its log is $LOG_PATH."
}

main "$@"
