#!/usr/bin/env bash
# The shipped example configs (examples/) load and work: otb-server, otb-redir
# and otb-tunnel start from them (file paths moved into a temporary
# directory; the addresses, documentation ones in the examples, and the ports
# overridden on the command line to loopback and free ports; the server given
# a loopback ACL), a file is
# downloaded byte-exact through SOCKS5 -> otb-redir -> otb-server (and the
# migration example serves both its ports), the status
# socket named in the example answers JSON, and SIGTERM ends each with
# status 0; their metrics listeners (moved to loopback) answer and
# promtool accepts examples/prometheus.yml. The box example makes a whole firewall plan. Every config key of the programs
# is documented in examples/README.md.
set -euo pipefail
# shellcheck source=test/interop/ops_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ops_lib.sh"

EX=""

# Copy the examples with /etc/otb/X -> $EX/X and /run/DIR/X -> $EX/DIR-X:
# the files they name are created there.
ex_localize() {
    local f
    EX=$OPS_DIR/etc
    mkdir -p "$EX"
    for f in "$(ops_src)"/examples/*.json "$(ops_src)"/examples/*.acl; do
        sed -e "s#\"/etc/otb/#\"$EX/#g" -e "s#\"/run/\\([^/\"]*\\)/#\"$EX/\\1-#g" "$f" \
            >"$EX/${f##*/}"
        python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$EX/${f##*/}" 2>/dev/null ||
            [[ $f == *.acl ]] || ops_fail "${f##*/} is not valid JSON"
    done
    printf 'examples-%s\n' "$$" >"$EX/password"
    ops_loopback_acl "$OPS_DIR/loopback.acl"
}

# The unix socket path an example names (after ex_localize).
ex_status_path() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["status_socket"])' "$1"
}

ex_status_check() {
    python3 - "$1" "$2" <<'EOF' || ops_fail "status socket of $2 ($1) gave no JSON"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
data = b""
while chunk := s.recv(65536):
    data += chunk
doc = json.loads(data)
if not isinstance(doc, dict) or not doc:
    sys.exit("empty status")
EOF
}

# ex_metrics_check PORT NAME: the listener of --metrics 127.0.0.1:PORT answers.
ex_metrics_check() {
    local text
    ops_wait_listen "$1" 10
    text=$(curl -sSf --max-time 10 "http://127.0.0.1:$1/metrics") ||
        ops_fail "$2: no metrics on 127.0.0.1:$1"
    grep -q '^otb_build_info' <<<"$text" || ops_fail "$2: no otb_build_info on 127.0.0.1:$1"
}

ex_run_chain() {
    local sport rport socks tport server redir tunnel got want m1 m2 m3
    sport=$(ops_free_port)
    m1=$(ops_free_port)
    m2=$(ops_free_port)
    m3=$(ops_free_port)
    ops_bg server "$(ops_bin otb-server)" -c "$EX/server.json" -s 127.0.0.1 -p "$sport" -b 127.0.0.1 \
        --acl "$OPS_DIR/loopback.acl" --metrics "127.0.0.1:$m1"
    server=$OPS_PID
    ops_wait_listen "$sport" 10 "$server"
    ops_wait_udp "$sport" # "mode": "tcp_and_udp"
    ex_status_check "$(ex_status_path "$EX/server.json")" server.json
    ex_metrics_check "$m1" server.json

    rport=$(ops_free_port)
    socks=$(ops_free_port)
    ops_bg redir "$(ops_bin otb-redir)" -c "$EX/box-redir.json" -s 127.0.0.1 -p "$sport" \
        -b 127.0.0.1 -l "$rport" --socks5-port "$socks" --socks5-address 127.0.0.1 \
        --metrics "127.0.0.1:$m2"
    redir=$OPS_PID
    ops_wait_listen "$rport" 10 "$redir"
    ops_wait_listen "$socks" 10 "$redir"
    ex_status_check "$(ex_status_path "$EX/box-redir.json")" box-redir.json
    ex_metrics_check "$m2" box-redir.json

    tport=$(ops_free_port)
    ops_bg tunnel "$(ops_bin otb-tunnel)" -c "$EX/box-tunnel.json" -s 127.0.0.1 -p "$sport" \
        -b 127.0.0.1 -l "$tport" --metrics "127.0.0.1:$m3"
    tunnel=$OPS_PID
    ops_wait_udp "$tport"
    ex_status_check "$(ex_status_path "$EX/box-tunnel.json")" box-tunnel.json
    ex_metrics_check "$m3" box-tunnel.json

    want=$(sha256sum <"$OPS_DIR/www/blob")
    got=$(curl -sS --max-time 30 --socks5-hostname "127.0.0.1:$socks" \
        "http://127.0.0.1:$OPS_HTTP_PORT/blob" | sha256sum) || ops_fail "curl through the examples failed"
    [[ $got == "$want" ]] || ops_fail "download through the example configs: sha256 differs"

    ops_stop_ok otb-tunnel "$tunnel"
    ops_stop_ok otb-redir "$redir"
    ops_stop_ok otb-server "$server"
}

# The migration example serves both of its ports, TCP and UDP (its second
# port moved to a free one).
ex_run_migrate() {
    local sport nport server
    sport=$(ops_free_port)
    nport=$(ops_free_port)
    sed -i "s/\"server_port\": 8389/\"server_port\": $nport/" "$EX/server-migrate.json"
    ops_bg server-migrate "$(ops_bin otb-server)" -c "$EX/server-migrate.json" -s 127.0.0.1 \
        -p "$sport" -b 127.0.0.1 --acl "$OPS_DIR/loopback.acl"
    server=$OPS_PID
    ops_wait_listen "$sport" 10 "$server"
    ops_wait_listen "$nport" 10 "$server"
    ops_wait_udp "$nport"
    ex_status_check "$(ex_status_path "$EX/server-migrate.json")" server-migrate.json
    ops_stop_ok otb-server "$server"
}

# The box's example config must make a whole firewall plan (otb-boxconf
# checks it as "otb-firewall up" would, without applying it), and "status"
# reads it and, with nothing installed, answers 3 (2 would be a config error).
ex_firewall_check() {
    local fw rc=0 bin
    fw=$(ops_src)/otb-redir/otb-firewall
    bin=${OTB_BUILD:?}/otb-redir/otb-boxconf
    mkdir -p "$OPS_DIR/plan"
    "$bin" --config "$EX/box-redir.json" --out "$OPS_DIR/plan" \
        --template "$(ops_src)/otb-redir/otb.nft" >"$OPS_DIR/boxconf.log" 2>&1 ||
        ops_fail "otb-boxconf --config box-redir.json: $(cat "$OPS_DIR/boxconf.log")"
    grep -q 'redirect to :$redir_port' "$OPS_DIR/plan/firewall.nft" ||
        ops_fail "box-redir.json: no TCP redirect in the nft plan"
    if command -v nft >/dev/null && [[ $EUID -eq 0 ]]; then
        nft -c -f "$OPS_DIR/plan/firewall.nft" >"$OPS_DIR/nft.log" 2>&1 ||
            ops_fail "box-redir.json: nft -c refuses the plan: $(head -n 3 "$OPS_DIR/nft.log")"
    fi
    OTB_FW_STATE_DIR=$OPS_DIR/fw-state OTB_BOXCONF=$bin \
        bash "$fw" status --config "$EX/box-redir.json" \
        >"$OPS_DIR/firewall.log" 2>&1 || rc=$?
    [[ $rc -eq 3 ]] || ops_fail "otb-firewall status --config box-redir.json: exit $rc (want 3)"
}

# Every key of the programs' key table (common/otb_config.c) in the README.
ex_keys_documented() {
    local key missing=()
    while read -r key; do
        grep -q "\`$key\`" "$(ops_src)/examples/README.md" || missing+=("$key")
    done < <(ops_config_keys)
    ((${#missing[@]} == 0)) || ops_fail "keys not documented in examples/README.md: ${missing[*]}"
}

main() {
    ops_init examples
    trap ops_cleanup EXIT
    ops_require ss curl python3 sha256sum promtool
    ops_require_root # otb-tunnel's transparent listener needs IP_TRANSPARENT
    ex_keys_documented
    promtool check config "$(ops_src)/examples/prometheus.yml" >"$OPS_DIR/promtool.log" 2>&1 ||
        ops_fail "examples/prometheus.yml: $(cat "$OPS_DIR/promtool.log")"
    ex_localize
    ops_http_start
    ex_run_chain
    ex_run_migrate
    ex_firewall_check
    ops_say "PASS"
}

main "$@"
