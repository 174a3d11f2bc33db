#!/bin/bash
# Entrypoint of the otb-server image.
#
#   otb-entrypoint [OTB-SERVER OPTIONS...]   start otb-server (the default)
#   otb-entrypoint healthcheck               exit 0 when the server port accepts TCP
#   otb-entrypoint COMMAND [ARGS...]         run something else (e.g. bash)
#
# otb-server's settings come, weakest first, from the JSON file $OTB_CONFIG
# (default /etc/otb/server.json, used when it exists), then from the OTB_*
# variables below, then from the options given to the container. The secret is
# only ever read from a file, so that it shows neither in `ps` nor in the
# container's inspect output.
#
#   OTB_SERVER_ADDR       listen address(es), space or comma separated   (-s)
#   OTB_SERVER_PORT       listen port; 8388 when neither file nor variable set it (-p)
#   OTB_BIND_ADDR         source address of outbound connections: the public IP (-b)
#   OTB_METHOD            cipher                                          (-m)
#   OTB_PASSWORD_FILE     file holding the password; default /run/secrets/otb_password
#                         when that exists                                (--password-file)
#   OTB_ACL               ACL file                                        (--acl)
#   OTB_TIMEOUT           idle timeout, seconds                           (-t)
#   OTB_NAMESERVER        DNS servers, IP[:PORT],...                      (-d)
#   OTB_MAX_CONNS         connection limit                                (--max-conns)
#   OTB_NOFILE            open files limit                                (-n)
#   OTB_SHUTDOWN_TIMEOUT  grace period on SIGTERM, seconds                (--shutdown-timeout)
#   OTB_MPTCP             0 or false: plain TCP                           (--no-mptcp)
#   OTB_UDP               1 or true: relay UDP too                        (-u)
#   OTB_VERBOSE           debug logging level, a number                   (-v per level)
set -euo pipefail

OTB_CONFIG=${OTB_CONFIG:-/etc/otb/server.json}
OTB_SERVER_BIN=${OTB_SERVER_BIN:-/usr/local/bin/otb-server}
OTB_DEFAULT_PORT=8388
OTB_SECRET_FILE=/run/secrets/otb_password

otb_entry_die() {
    printf 'otb-entrypoint: %s\n' "$*" >&2
    exit 2
}

otb_entry_true() {
    case "${1,,}" in
    1 | true | yes | on) return 0 ;;
    0 | false | no | off | "") return 1 ;;
    *) otb_entry_die "expected a boolean, got \"$1\"" ;;
    esac
}

# otb_entry_opt FLAG VARIABLE: append "FLAG value" when VARIABLE is set.
otb_entry_opt() {
    local value=${!2:-}
    [[ -n $value ]] && OTB_ARGS+=("$1" "$value")
    return 0
}

otb_entry_build_args() {
    local addr level listen=${OTB_SERVER_ADDR:-}
    OTB_ARGS=()
    [[ -f $OTB_CONFIG ]] && OTB_ARGS+=(-c "$OTB_CONFIG")
    for addr in ${listen//,/ }; do
        OTB_ARGS+=(-s "$addr")
    done
    if [[ -z ${OTB_SERVER_PORT:-} && ! -f $OTB_CONFIG ]]; then
        OTB_ARGS+=(-p "$OTB_DEFAULT_PORT")
    fi
    otb_entry_opt -p OTB_SERVER_PORT
    otb_entry_opt -b OTB_BIND_ADDR
    otb_entry_opt -m OTB_METHOD
    if [[ -z ${OTB_PASSWORD_FILE:-} && -r $OTB_SECRET_FILE ]]; then
        OTB_PASSWORD_FILE=$OTB_SECRET_FILE
    fi
    otb_entry_opt --password-file OTB_PASSWORD_FILE
    otb_entry_opt --acl OTB_ACL
    otb_entry_opt -t OTB_TIMEOUT
    otb_entry_opt -d OTB_NAMESERVER
    otb_entry_opt --max-conns OTB_MAX_CONNS
    otb_entry_opt -n OTB_NOFILE
    otb_entry_opt --shutdown-timeout OTB_SHUTDOWN_TIMEOUT
    if [[ -n ${OTB_MPTCP:-} ]] && ! otb_entry_true "$OTB_MPTCP"; then
        OTB_ARGS+=(--no-mptcp)
    fi
    if otb_entry_true "${OTB_UDP:-}"; then
        OTB_ARGS+=(-u)
    fi
    level=${OTB_VERBOSE:-0}
    [[ $level =~ ^[0-9]+$ ]] || otb_entry_die "OTB_VERBOSE: expected a number, got \"$level\""
    while ((level-- > 0)); do OTB_ARGS+=(-v); done
}

# The port otb-server listens on, found like it finds it: an explicit -p of
# the running server (PID 1 in a container), OTB_SERVER_PORT, the config
# file's server_port, the default.
otb_entry_port() {
    local -a argv=()
    local i port=""
    if [[ -r /proc/1/cmdline ]]; then
        mapfile -d '' -t argv </proc/1/cmdline
    fi
    if [[ ${argv[0]:-} == *otb-server ]]; then
        for ((i = 1; i < ${#argv[@]} - 1; i++)); do
            [[ ${argv[i]} == -p ]] && port=${argv[i + 1]}
        done
    fi
    [[ -z $port ]] && port=${OTB_SERVER_PORT:-}
    if [[ -z $port && -f $OTB_CONFIG ]]; then
        port=$(grep -o '"server_port"[[:space:]]*:[[:space:]]*"\?[0-9]\+' "$OTB_CONFIG" |
            grep -o '[0-9]\+$' | head -n 1 || true)
    fi
    printf '%s\n' "${port:-$OTB_DEFAULT_PORT}"
}

# /proc/net/tcp writes an IPv4 address as 8 hex digits in host (little
# endian) order, an IPv6 one as four such words.
otb_entry_hex_ip() {
    local hex=$1 out="" w i
    if ((${#hex} == 8)); then
        printf '%d.%d.%d.%d\n' "0x${hex:6:2}" "0x${hex:4:2}" "0x${hex:2:2}" "0x${hex:0:2}"
        return
    fi
    for ((w = 0; w < 32; w += 8)); do
        for ((i = 6; i >= 0; i -= 2)); do
            out+=${hex:w+i:2}
            ((i == 4 || i == 0)) && out+=:
        done
    done
    printf '%s\n' "${out%:}" | sed -E 's/(^|:)0{1,3}([0-9A-Fa-f])/\1\2/g'
}

# Addresses with a listening TCP socket on PORT (wildcards as loopback, where
# a connection can reach them from inside the container).
otb_entry_listen_addrs() {
    local port_hex table
    port_hex=$(printf '%04X' "$1")
    for table in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $table ]] || continue
        # sl local_address rem_address st(0A = LISTEN) ...
        awk -v p="$port_hex" 'NR > 1 && $4 == "0A" && split($2, a, ":") && a[2] == p { print a[1] }' \
            "$table"
    done | while read -r hex; do
        case $hex in
        00000000) echo 127.0.0.1 ;;
        00000000000000000000000000000000) echo ::1 ;;
        *) otb_entry_hex_ip "$hex" ;;
        esac
    done
}

otb_entry_healthcheck() {
    local port addr
    port=$(otb_entry_port)
    for addr in $(otb_entry_listen_addrs "$port"); do
        # bash's /dev/tcp: no extra package needed in the image.
        # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
        if timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$addr" "$port" 2>/dev/null; then
            return 0
        fi
    done
    echo "otb-server: nothing accepts TCP on port $port" >&2
    return 1
}

otb_entry_main() {
    if [[ ${1:-} == healthcheck ]]; then
        otb_entry_healthcheck
        return
    fi
    if [[ $# -gt 0 && ${1:0:1} != - ]]; then
        exec "$@"
    fi
    otb_entry_build_args
    # exec: otb-server becomes PID 1 and receives the engine's SIGTERM itself.
    exec "$OTB_SERVER_BIN" "${OTB_ARGS[@]}" "$@"
}

otb_entry_main "$@"
