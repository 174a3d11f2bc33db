#!/bin/bash
# Secrets in the programs' memory: otb-server, otb-redir and otb-tunnel,
# each given the password by a config file and then by a password file, are
#  (a) not dumpable: started as an unprivileged user, their /proc/PID files
#      belong to root (no core dump, no ptrace or /proc/PID/mem by that user);
#  (b) holding no copy of the password once started, nor after a SIGHUP that
#      read the file again: the process's whole readable memory is scanned
#      (as root) for the password's bytes.
# Needs root (setpriv to another user, reading another process's memory).
set -euo pipefail
OTB_TEST_NAME=secrets
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"

need_cmd setpriv python3
[[ $(id -u) == 0 ]] || otb_fail "needs root to read another process's memory"
PROCMEM="$(otb_src)/test/lib/procmem.py"
PASSWORD=$(otb_password)
otb_ports PORT SOCKS_PORT TUN_PORT
RUN="$OTB_TMP/run"      # readable by the unprivileged user
mkdir -p "$RUN"
chmod 711 "$OTB_TMP"
chmod 755 "$RUN"
printf '%s\n' "$PASSWORD" >"$RUN/password"
chmod 644 "$RUN/password"

declare -A BIN=([server]="$OTB_SERVER_BIN" [redir]="$OTB_BUILD/otb-redir/otb-redir"
    [tunnel]="$OTB_BUILD/otb-tunnel/otb-tunnel")
declare -A PORTS=([server]="\"server_port\": $PORT"
    [redir]="\"server_port\": $PORT, \"local_port\": $SOCKS_PORT"
    [tunnel]="\"server_port\": $PORT, \"local_port\": $TUN_PORT, \"tunnel_address\": \"127.0.0.1:9\"")

# config PROG SECRET_JSON: the program's config file, readable by all.
config() {
    local f="$RUN/$1.json"
    printf '{"server": "127.0.0.1", %s, %s}\n' "${PORTS[$1]}" "$2" >"$f"
    chmod 644 "$f"
    echo "$f"
}

# copies PID: how many copies of the password PID's memory holds.
copies() {
    python3 "$PROCMEM" "$1" "$PASSWORD"
}

check_prog() {
    local prog=$1 how=$2 secret cfg pid owner
    if [[ $how == file ]]; then
        secret="\"password\": \"$PASSWORD\""
    else
        secret="\"password_file\": \"$RUN/password\""
    fi
    cfg=$(config "$prog" "$secret")
    otb_start "$prog" setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "${BIN[$prog]}" -c "$cfg"
    pid=${OTB_PID[$prog]}
    otb_wait_for "$prog to log its start" 10 grep -q "method" "$OTB_TMP/$prog.log"
    otb_alive "$prog" || otb_fail "$prog exited"
    otb_expect_eq "$prog ($how): password copies after start" "$(copies "$pid")" 0
    owner=$(stat -c %u "/proc/$pid/mem")
    otb_expect_eq "$prog ($how): /proc/PID/mem owner (0: not dumpable)" "$owner" 0
    kill -HUP "$pid"
    otb_wait_for "$prog to reload" 10 grep -q "configuration reloaded" "$OTB_TMP/$prog.log"
    otb_expect_eq "$prog ($how): password copies after SIGHUP" "$(copies "$pid")" 0
    otb_stop "$prog" || true
    ! grep -q Sanitizer "$OTB_TMP/$prog.log" || otb_fail "$prog: sanitizer report in its log"
}

for prog in server redir tunnel; do
    need_file "${BIN[$prog]}"
    for how in file password_file; do
        check_prog "$prog" "$how"
    done
done
otb_log "all secret checks passed in $((SECONDS - OTB_T0)) s"
