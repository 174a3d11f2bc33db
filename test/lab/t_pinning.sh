#!/bin/bash
# Lab test of WAN pinning ("wans"/"pins" of the box config, read by otb-redir and otb-firewall
# alike), two WANs:
#  - 192.168.50.3, pinned "direct" to wan2: its TCP and UDP reach the Internet host from wan2's
#    address 10.0.2.1;
#  - a host known by its MAC (own namespace), pinned "direct" to wan1 with fallback wan2: seen
#    from 10.0.1.1, and from 10.0.2.1 once wan1 is down; 192.168.50.6, pinned "direct" to wan1
#    without fallback, fails then (the fallback is the MAC host's, not wan1's);
#  - 192.168.50.5, pinned "tunnel-via" wan2 with fallback wan1: seen from the server's address,
#    and its bytes cross wan2 only; while wan2 is down, wan1;
#  - 192.168.50.2, not pinned: TCP and UDP seen from the server's address.
# With wan2 down, the direct host's TCP and UDP fail and a counter on wan1 (before NAT) shows
# no packet of it: nothing leaks through the other WAN. With wan2 back (and `up` re-run, as the
# interface hotplug does), it works again.
set -euo pipefail

# shellcheck source=test/lab/policy_lib.sh
source "$(dirname "$0")/policy_lib.sh"

HOST_FREE=192.168.50.2
HOST_DIRECT=192.168.50.3
HOST_MAC=192.168.50.4
HOST_VIA=192.168.50.5
HOST_WAN1=192.168.50.6
SRV_SEEN=$LAB_SRV_INET # otb-server's outbound address on inet
WAN1_ADDR=$(lab_wan_addr 1)
WAN2_ADDR=$(lab_wan_addr 2)
TUNNEL_PORT=12346

# shellcheck disable=SC2119 # nothing beyond the lab's own tools
pol_start "pin$$" "20 20"
pol_lan_addr "$HOST_DIRECT"
pol_lan_addr "$HOST_VIA"
pol_lan_addr "$HOST_WAN1"
pol_mac_host mac "$HOST_MAC"
MAC=$POL_MAC
pol_inet_servers

cat >"$LAB_DIR/box.json" <<EOF
{
    "server": "$LAB_SRV_ADDR",
    "local_port": $LAB_REDIR_PORT,
    "firewall": {"lan": "lan0", "tunnel_port": $TUNNEL_PORT},
    "wans": {"wan1": {"interface": "wan1"}, "wan2": {"interface": "wan2"}},
    "pins": [
        {"host": "$HOST_DIRECT", "wan": "wan2", "mode": "direct"},
        {"host": "$MAC", "wan": "wan1", "mode": "direct", "fallback": "wan2"},
        {"host": "$HOST_WAN1", "wan": "wan1", "mode": "direct"},
        {"host": "$HOST_VIA", "wan": "wan2", "mode": "tunnel-via", "fallback": "wan1"}
    ]
}
EOF
FW_ARGS=(--config "$LAB_DIR/box.json")

lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server -u
lab_otb_redir -c "$LAB_DIR/box.json"
lab_otb_tunnel otb-tunnel "$TUNNEL_PORT"
pol_firewall up "${FW_ARGS[@]}" >"$LAB_DIR/firewall.log" 2>&1 ||
    lab_fail "otb-firewall up: $(cat "$LAB_DIR/firewall.log")"

# Packets of the direct host arriving from the LAN, and forwarded by output WAN (counted
# before masquerading).
lab_counters box polcount direct_seen direct_wan1 direct_wan2
lab_run box nft -f - <<EOF
table inet polcount {
    chain prerouting {
        type filter hook prerouting priority raw; policy accept;
        iifname "lan0" ip saddr $HOST_DIRECT counter name direct_seen
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        ip saddr $HOST_DIRECT oifname "wan1" counter name direct_wan1
        ip saddr $HOST_DIRECT oifname "wan2" counter name direct_wan2
    }
}
EOF

counter() { lab_counter box polcount "$1"; }

get() { pol_peer "$1" get "$LAB_INET_ADDR" "$POL_HTTP_PORT" "${2:-}" "${3:-0}"; }
ask() { pol_peer "$1" ask "$LAB_INET_ADDR" "$POL_UDP_PORT" "${2:-}"; }

check_direct_host() {
    local want=$1 what=$2
    pol_expect_src "$want" "direct pin $what, TCP" get lan "$HOST_DIRECT"
    pol_expect_src "$want" "direct pin $what, UDP" ask lan "$HOST_DIRECT"
}

check_mac_host() {
    local want=$1 what=$2
    pol_expect_src "$want" "MAC pin $what, TCP" get mac
    pol_expect_src "$want" "MAC pin $what, UDP" ask mac
}

# --- all WANs up ----------------------------------------------------------------------------

check_direct_host "$WAN2_ADDR" "to wan2"
check_mac_host "$WAN1_ADDR" "to wan1"
pol_expect_src "$WAN1_ADDR" "direct pin to wan1, TCP" get lan "$HOST_WAN1"
pol_expect_src "$SRV_SEEN" "unpinned host, TCP" get lan "$HOST_FREE"
pol_expect_src "$SRV_SEEN" "unpinned host, UDP" ask lan "$HOST_FREE"
pol_expect_src "$SRV_SEEN" "tunnel-via pin, UDP" ask lan "$HOST_VIA"

# tunnel_via_over N OTHER WHAT: the tunnel-via host's 4 MB download comes through the server
# and over WAN N, not OTHER (bytes counted on the box's WANs).
tunnel_via_over() {
    local n=$1 other=$2 what=$3 rx rxo rx_b rxo_b
    read -r rx _ <<<"$(lab_wan_bytes "$n")"
    read -r rxo _ <<<"$(lab_wan_bytes "$other")"
    pol_expect_src "$SRV_SEEN" "tunnel-via pin $what, TCP" get lan "$HOST_VIA" 4000000
    read -r rx_b _ <<<"$(lab_wan_bytes "$n")"
    read -r rxo_b _ <<<"$(lab_wan_bytes "$other")"
    lab_say "tunnel-via download ($what): wan$n +$((rx_b - rx)) bytes, wan$other +$((rxo_b - rxo)) bytes"
    ((rx_b - rx >= 4000000)) || lab_fail "tunnel-via $what: wan$n carried $((rx_b - rx)) bytes of 4 MB"
    ((rxo_b - rxo < 400000)) || lab_fail "tunnel-via $what: wan$other carried $((rxo_b - rxo)) bytes"
}
tunnel_via_over 2 1 "to wan2"

# --- wan2 down: the direct host fails, nothing of it on wan1 ------------------------------------

lab_wan_down 2
seen=$(counter direct_seen)
wan1=$(counter direct_wan1)
pol_expect_fail "direct pin, wan2 down, TCP" get lan "$HOST_DIRECT"
pol_expect_fail "direct pin, wan2 down, UDP" ask lan "$HOST_DIRECT"
seen=$(($(counter direct_seen) - seen))
wan1=$(($(counter direct_wan1) - wan1))
lab_say "direct host while wan2 is down: $seen packets from it reached the box, $wan1 left by wan1"
((seen >= 2)) || lab_fail "the direct host's packets did not reach the box ($seen)"
((wan1 == 0)) || lab_fail "the direct host leaked $wan1 packets through wan1"
check_mac_host "$WAN1_ADDR" "to wan1 (wan2 down)"
tunnel_via_over 1 2 "to wan2, fallback wan1 (wan2 down)"
pol_expect_src "$SRV_SEEN" "unpinned host, wan2 down, TCP" get lan "$HOST_FREE"

# --- wan2 back, hotplug re-runs up ------------------------------------------------------------

lab_wan_up 2
pol_firewall up "${FW_ARGS[@]}" >>"$LAB_DIR/firewall.log" 2>&1 ||
    lab_fail "otb-firewall up (wan2 back): $(cat "$LAB_DIR/firewall.log")"
check_direct_host "$WAN2_ADDR" "to wan2 (back)"

# --- wan1 down: the MAC host falls back to wan2 -------------------------------------------------

lab_wan_down 1
check_mac_host "$WAN2_ADDR" "to wan1, fallback wan2 (wan1 down)"
pol_expect_fail "direct pin to wan1 without fallback, wan1 down, TCP" get lan "$HOST_WAN1"
check_direct_host "$WAN2_ADDR" "to wan2 (wan1 down)"

# --- pins changed while running: config edited, `up` re-run, SIGHUP to otb-redir ---------------
# The direct pin is the firewall's (marks and routes); the tunnel-via pin is otb-redir's, which
# picks the WAN of the host's connections to the server.

lab_wan_up 1
sed -i -e "s|\"host\": \"$HOST_WAN1\", \"wan\": \"wan1\"|\"host\": \"$HOST_WAN1\", \"wan\": \"wan2\"|" \
    -e "s|\"host\": \"$HOST_VIA\", \"wan\": \"wan2\", \"mode\": \"tunnel-via\", \"fallback\": \"wan1\"|\"host\": \"$HOST_VIA\", \"wan\": \"wan1\", \"mode\": \"tunnel-via\"|" \
    "$LAB_DIR/box.json"
grep -q "\"$HOST_WAN1\", \"wan\": \"wan2\"" "$LAB_DIR/box.json" &&
    grep -q "\"$HOST_VIA\", \"wan\": \"wan1\"" "$LAB_DIR/box.json" || lab_fail "box.json not edited"
pol_firewall up "${FW_ARGS[@]}" >>"$LAB_DIR/firewall.log" 2>&1 ||
    lab_fail "otb-firewall up (new pins): $(cat "$LAB_DIR/firewall.log")"
before=$(grep -c "SIGHUP: configuration reloaded" "$LAB_DIR/otb-redir.log" || true)
kill -HUP "$LAB_REDIR_PID"
for _ in $(seq 50); do
    (($(grep -c "SIGHUP: configuration reloaded" "$LAB_DIR/otb-redir.log" || true) > before)) && break
    sleep 0.1
done
(($(grep -c "SIGHUP: configuration reloaded" "$LAB_DIR/otb-redir.log" || true) > before)) ||
    lab_fail "otb-redir did not reload its configuration"
pol_expect_src "$WAN2_ADDR" "direct pin moved to wan2, TCP" get lan "$HOST_WAN1"
pol_expect_src "$WAN2_ADDR" "direct pin moved to wan2, UDP" ask lan "$HOST_WAN1"
tunnel_via_over 1 2 "moved to wan1 by SIGHUP"

pol_firewall down
echo "PASS: t_pinning"
