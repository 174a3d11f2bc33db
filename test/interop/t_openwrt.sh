#!/usr/bin/env bash
# OpenWrt packaging (openwrt/otb/files): the procd init scripts run under a
# POSIX shell with UCI and procd stubbed (test/interop/openwrt_stubs.sh).
#  1. The shipped /etc/config/otb: the exact procd calls (command lines,
#     respawn, reload trigger), the firewall helper called up/down around
#     the proxy, the generated JSON configs (redir.json is also the firewall's)
#     equal to what the UCI file says; the real programs start from the
#     generated configs (addresses and ports overridden to loopback) and stop
#     with status 0; otb-boxconf makes a whole firewall plan of redir.json.
#  2. Edge cases: a password with quotes and backslashes survives into JSON,
#     an IPv6 server with a port, a hex WAN mark (a number in JSON, as written
#     for the firewall), disabled sections start nothing.
#  3. The hotplug script applies the firewall again on ifup/ifupdate, only
#     while it is up.
#  4. A bad value: start fails and no instance is opened.
set -euo pipefail
# shellcheck source=test/interop/ops_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ops_lib.sh"

OW_FILES=""
OW_SH=""

ow_setup() {
    OW_FILES=$(ops_src)/openwrt/otb/files
    # The router's shell is busybox ash; dash is the closest POSIX shell here.
    if command -v busybox >/dev/null && busybox ash -c : 2>/dev/null; then
        OW_SH="busybox ash"
    else
        OW_SH=dash
    fi
    mkdir -p "$OPS_DIR/config" "$OPS_DIR/etc" "$OPS_DIR/bin" "$OPS_DIR/sbin"
    printf 'openwrt-%s\n' "$$" >"$OPS_DIR/etc/password"
    cp "$(ops_src)/examples/box.acl" "$OPS_DIR/etc/box.acl"
    # The firewall helper as the init script sees it: records its arguments.
    # "status" answers $OW_FW_STATUS (0: up, 3: not up).
    # shellcheck disable=SC2016 # the stub's own expansions
    printf '#!/bin/sh\necho "$*" >>"%s"\n[ "$1" = status ] && exit "${OW_FW_STATUS:-0}"\nexit 0\n' \
        "$OPS_DIR/firewall.calls" >"$OPS_DIR/sbin/otb-firewall"
    # The hotplug script logs through logger: keep it out of the system log.
    mkdir -p "$OPS_DIR/path"
    printf '#!/bin/sh\ncat >>"%s"\n' "$OPS_DIR/logger.log" >"$OPS_DIR/path/logger"
    chmod 0755 "$OPS_DIR/sbin/otb-firewall" "$OPS_DIR/path/logger"
}

# ow_uci [SED-SCRIPT]: install the shipped UCI file (its /etc/otb/ paths
# moved into the test directory), edited by SED-SCRIPT.
ow_uci() {
    sed -e "s#'/etc/otb/#'$OPS_DIR/etc/#" -e "${1:-}" "$OW_FILES/otb.config" | ow_uci_text
}

# ow_uci_text: install the UCI file given on standard input.
ow_uci_text() {
    cat >"$OPS_DIR/config/otb"
    rm -rf "$OPS_DIR/run" "$OPS_DIR/status"
    : >"$OPS_DIR/procd.log"
    : >"$OPS_DIR/firewall.calls"
}

# ow_init SCRIPT "FUNCTION [ARGS]"...: source the init script under the
# stubs and run the calls in order; the status of the first failing one.
ow_init() {
    local script=$OW_FILES/$1
    shift
    # shellcheck disable=SC2016 # expanded by the inner shell
    UCI_CONFIG_DIR=$OPS_DIR/config PROCD_LOG=$OPS_DIR/procd.log \
        OTB_LIB=$OW_FILES/otb-uci.sh OTB_RUN_DIR=$OPS_DIR/run OTB_STATUS_DIR=$OPS_DIR/status \
        OTB_BIN_DIR=$OPS_DIR/bin OTB_SBIN_DIR=$OPS_DIR/sbin \
        $OW_SH -c '. "$1"; . "$2"; shift 2; for f; do eval "$f" || exit; done' _ \
        "$(ops_src)/test/interop/openwrt_stubs.sh" "$script" "$@" 2>>"$OPS_DIR/init.log"
}

# ow_expect_file NAME FILE: FILE must equal the text on standard input.
ow_expect_file() {
    local want
    want=$(cat)
    [[ $(cat "$2") == "$want" ]] ||
        ops_fail "$1 differs:"$'\n'"$(diff <(printf '%s\n' "$want") "$2" || true)"
}

# ow_expect_json NAME FILE: FILE must hold the JSON object on standard input.
ow_expect_json() {
    python3 - "$2" "$1" 3<&0 <<'EOF' || ops_fail "$1: generated JSON differs"
import json, os, sys
want = json.load(os.fdopen(3))
got = json.load(open(sys.argv[1]))
if got != want:
    print("%s\n  want %s\n  got  %s" % (sys.argv[2], json.dumps(want, sort_keys=True),
                                        json.dumps(got, sort_keys=True)), file=sys.stderr)
    sys.exit(1)
EOF
}

ow_instance() { # NAME PROGRAM JSON
    cat <<EOF
open_instance $1
set_param command $OPS_DIR/bin/$2 -c $OPS_DIR/run/$3
set_param file /etc/config/otb
set_param limits nofile=65536 65536
set_param respawn
set_param stdout 1
set_param stderr 1
close_instance
EOF
}

ow_check_redir() {
    local run=$OPS_DIR/run
    ow_init otb-redir.init start_service service_triggers || ops_fail "otb-redir start_service failed"
    { ow_instance redir otb-redir redir.json; echo "reload_trigger otb"; } |
        ow_expect_file "otb-redir procd calls" "$OPS_DIR/procd.log"
    [[ $(stat -c %a "$run/redir.json") == 600 ]] || ops_fail "redir.json is readable by others"
    ow_expect_json redir.json "$run/redir.json" <<EOF
{"server": ["203.0.113.10", "198.51.100.20:8389"], "server_port": 8388,
 "method": "chacha20-ietf-poly1305", "password_file": "$OPS_DIR/etc/password",
 "timeout": 300, "mptcp": true, "verbose": 0, "acl": "$OPS_DIR/etc/box.acl",
 "local_address": "0.0.0.0", "local_port": 1234, "socks5_port": 1080, "tproxy": false,
 "status_socket": "$OPS_DIR/status/redir.status",
 "tunnel_status_socket": "$OPS_DIR/status/tunnel-udp.status",
 "wans": {"fibre": {"interface": "eth1"}, "adsl": {"interface": "eth2"},
          "lte": {"interface": "wwan0", "backup": true}},
 "pins": [{"host": "192.168.1.50", "wan": "fibre", "mode": "direct", "fallback": "adsl"},
          {"host": "192.168.1.0/28", "wan": "adsl", "mode": "tunnel-via"}],
 "firewall": {"lan": ["br-lan"], "tunnel_port": 1235, "bypass": ["192.0.2.0/24"]}}
EOF
    ow_init otb-redir.init stop_service || ops_fail "otb-redir stop_service failed"
    ow_expect_file "firewall helper calls" "$OPS_DIR/firewall.calls" <<EOF
up --config $run/redir.json
down --config $run/redir.json
EOF
}

ow_check_tunnel() {
    local run=$OPS_DIR/run common
    : >"$OPS_DIR/procd.log"
    ow_init otb-tunnel.init start_service service_triggers || ops_fail "otb-tunnel start_service failed"
    { ow_instance udp otb-tunnel tunnel-udp.json; ow_instance dns otb-tunnel tunnel-dns.json
        echo "reload_trigger otb"; } | ow_expect_file "otb-tunnel procd calls" "$OPS_DIR/procd.log"
    common="\"server\": [\"203.0.113.10\", \"198.51.100.20:8389\"], \"server_port\": 8388,
 \"method\": \"chacha20-ietf-poly1305\", \"password_file\": \"$OPS_DIR/etc/password\",
 \"timeout\": 300, \"mptcp\": true, \"verbose\": 0, \"acl\": \"$OPS_DIR/etc/box.acl\""
    ow_expect_json tunnel-udp.json "$run/tunnel-udp.json" <<EOF
{$common, "local_address": "0.0.0.0", "local_port": 1235,
 "status_socket": "$OPS_DIR/status/tunnel-udp.status"}
EOF
    ow_expect_json tunnel-dns.json "$run/tunnel-dns.json" <<EOF
{$common, "local_address": "127.0.0.1", "local_port": 5353, "tunnel_address": "9.9.9.9:53",
 "mode": "tcp_and_udp", "status_socket": "$OPS_DIR/status/tunnel-dns.status"}
EOF
}

# The real programs accept what was generated. Servers, listen addresses
# and ports are overridden: the configs name documentation addresses.
ow_check_programs() {
    local run=$OPS_DIR/run port socks pid fw rc=0
    mkdir -p "$OPS_DIR/status"
    port=$(ops_free_port)
    socks=$(ops_free_port)
    ops_bg redir "$(ops_bin otb-redir)" -c "$run/redir.json" -s 127.0.0.1 -p 9 -b 127.0.0.1 \
        -l "$port" --socks5-port "$socks"
    pid=$OPS_PID
    ops_wait_listen "$socks" 10 "$pid"
    ops_stop_ok "otb-redir -c redir.json" "$pid"
    for t in udp dns; do
        port=$(ops_free_port)
        ops_bg "tunnel-$t" "$(ops_bin otb-tunnel)" -c "$run/tunnel-$t.json" -s 127.0.0.1 -p 9 \
            -b 127.0.0.1 -l "$port"
        pid=$OPS_PID
        ops_wait_udp "$port"
        ops_stop_ok "otb-tunnel -c tunnel-$t.json" "$pid"
    done
    fw=$(ops_src)/otb-redir/otb-firewall
    OTB_FW_STATE_DIR=$OPS_DIR/fw-state \
        bash "$fw" status --config "$run/redir.json" >"$OPS_DIR/firewall-status.log" 2>&1 || rc=$?
    [[ $rc -eq 3 ]] || ops_fail "otb-firewall status --config redir.json: exit $rc (want 3)"
    mkdir -p "$OPS_DIR/plan"
    "$OTB_BUILD/otb-redir/otb-boxconf" --config "$run/redir.json" --out "$OPS_DIR/plan" \
        >"$OPS_DIR/boxconf.log" 2>&1 || ops_fail "otb-boxconf --config redir.json: $(cat "$OPS_DIR/boxconf.log")"
}

# ow_hotplug ACTION FW-STATUS: run the hotplug script as procd's hotplug would.
ow_hotplug() {
    : >"$OPS_DIR/firewall.calls"
    ACTION=$1 OW_FW_STATUS=$2 OTB_RUN_DIR=$OPS_DIR/run OTB_SBIN_DIR=$OPS_DIR/sbin \
        PATH="$OPS_DIR/path:$PATH" $OW_SH "$OW_FILES/otb.hotplug" || ops_fail "hotplug ($1) failed"
}

# The firewall is applied again on ifup/ifupdate, only while it is up.
ow_check_hotplug() {
    local conf=$OPS_DIR/run/redir.json
    [[ -f $conf ]] || ops_fail "no redir.json to test the hotplug script with"
    ow_hotplug ifdown 0
    [[ ! -s $OPS_DIR/firewall.calls ]] || ops_fail "hotplug ifdown called the firewall"
    ow_hotplug ifup 3
    printf 'status --config %s\n' "$conf" | ow_expect_file "hotplug, firewall down" "$OPS_DIR/firewall.calls"
    ow_hotplug ifupdate 0
    printf 'status --config %s\nup --config %s\n' "$conf" "$conf" |
        ow_expect_file "hotplug, firewall up" "$OPS_DIR/firewall.calls"
}

ow_check_edge_cases() {
    local run=$OPS_DIR/run
    ow_uci_text <<'EOF'
config otb 'main'
	option password 'p"q\r$x'

config server
	option host '2001:db8::1'
	option port '8390'

config server
	option host '198.51.100.20'

config redir 'redir'
	option enabled '0'
	option port '1234'
	list lan 'br-lan'

config tunnel 'udp'
	option enabled '0'
	option port '1235'

config tunnel 'dns'
	option enabled '1'
	option port '5353'
	option destination '9.9.9.9:53'

config wan 'adsl'
	option interface 'eth2'
	option mark '0x20'
EOF
    ow_init otb-redir.init start_service || ops_fail "otb-redir start_service failed (edge cases)"
    [[ ! -s $OPS_DIR/procd.log && ! -s $OPS_DIR/firewall.calls ]] ||
        ops_fail "disabled redir section still started something"
    ow_init otb-tunnel.init start_service || ops_fail "otb-tunnel start_service failed (edge cases)"
    ow_instance dns otb-tunnel tunnel-dns.json |
        ow_expect_file "procd calls, udp disabled" "$OPS_DIR/procd.log"
    # The redir config of a disabled section, written by the library itself.
    ow_init otb-redir.init "config_load otb" otb_uci_write_redir ||
        ops_fail "otb_uci_write_redir failed (edge cases)"
    python3 - "$run/tunnel-dns.json" "$run/redir.json" <<'EOF' || ops_fail "edge cases: JSON values differ"
import json, sys
dns, redir = (json.load(open(f)) for f in sys.argv[1:3])
assert dns["password"] == 'p"q\\r$x', dns["password"]
assert dns["server"] == ["[2001:db8::1]:8390", "198.51.100.20"], dns["server"]
assert redir["wans"] == {"adsl": {"interface": "eth2", "mark": 32}}, redir["wans"]
assert "pins" not in redir
assert redir["firewall"] == {"lan": ["br-lan"]}, redir["firewall"]
EOF
}

ow_check_bad_value() {
    ow_uci "s/option port '1235'/option port '12x5'/"
    if ow_init otb-tunnel.init start_service; then
        ops_fail "otb-tunnel start_service accepted port 12x5"
    fi
    ! grep -q "open_instance udp" "$OPS_DIR/procd.log" || ops_fail "instance opened despite a bad port"
    grep -q '12x5' "$OPS_DIR/init.log" || ops_fail "no error naming the bad value"
    # The box config refuses what would go into its JSON unquoted or be evaluated.
    ow_uci "s/option port '1235'/option port '1235, \"x\": 1'/"
    if ow_init otb-redir.init "config_load otb" otb_uci_write_redir; then
        ops_fail "redir.json written with tunnel port '1235, \"x\": 1'"
    fi
    grep -q 'tunnel udp: port' "$OPS_DIR/init.log" || ops_fail "no error naming the tunnel port"
    ow_uci "s/option interface 'eth2'/option interface 'eth2'\n\toption mark '0x10 + 1'/"
    if ow_init otb-redir.init "config_load otb" otb_uci_write_redir; then
        ops_fail "redir.json written with mark '0x10 + 1' (evaluated)"
    fi
    grep -q 'wan adsl: mark' "$OPS_DIR/init.log" || ops_fail "no error naming the bad mark"
}

main() {
    ops_init openwrt
    trap ops_cleanup EXIT
    ops_require dash python3 ss
    ops_require_root # otb-tunnel's transparent listener needs IP_TRANSPARENT
    ow_setup
    ow_uci
    ow_check_redir
    ow_check_tunnel
    ow_check_programs
    ow_check_hotplug
    ow_check_edge_cases
    ow_check_bad_value
    ops_say "PASS ($OW_SH)"
}

main "$@"
