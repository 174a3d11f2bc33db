#!/usr/bin/env bash
# UDP through the box: otb-tunnel (LAN UDP intercepted with TPROXY by the
# firewall helper, and a forward-mode instance for DNS) -> otb-server -u ->
# the Internet host, over two WANs of 20 and 10 Mbit/s.
#   1. 10 000 datagrams of mixed sizes (1 B to 8 KiB) to an echo server, at
#      most 16 unanswered at a time: every one comes back intact.
#   2. DNS from the LAN host to the box's forward-mode otb-tunnel (UDP, and
#      TCP with -u) reaches dnsmasq on the Internet host and gets its answer.
#   3. Full cone: after the LAN host spoke to one Internet host, a second
#      Internet address sends to the public mapping the first one saw (the
#      server's address and port) and the LAN host receives it.
#   4. A 50 datagrams/s flow; two seconds in, the WAN that carries it goes
#      down. The flow must come back within 2 s; the gap and the public
#      source ports seen by the far end before and after are printed.
set -euo pipefail
# shellcheck source=test/lab/policy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/policy_lib.sh"

TUNNEL_PORT=12346
DNS_PORT=5353
REFLECT_PORT=7100
LOAD_COUNT=10000
LOAD_WINDOW=16
INET_ADDR2=198.18.0.3
FLOW_SECONDS=8
FLOW_RATE=50
MAX_GAP_MS=2000

pol_start "otbudp$$" "20 10" dig

pol_dns "voip.otb.test=198.18.0.9"
pol_peer_bg inet echo echo "$POL_ECHO_PORT"
pol_wait_udp inet "$POL_ECHO_PORT"
lab_bg inet reflect python3 -I -S "$(lab_src)/test/lab/udp_peer.py" reflect "$REFLECT_PORT"
pol_wait_udp inet "$REFLECT_PORT"

lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server -u
LAB_SERVER_PID=$LAB_PID
lab_otb_tunnel otb-tunnel "$TUNNEL_PORT"
TUNNEL_PID=$LAB_PID
lab_otb_tunnel otb-tunnel-dns "$DNS_PORT" -b "$LAB_LAN_GW" -L "$LAB_INET_ADDR:53" -u
lab_wait_port box "$DNS_PORT" "$LAB_PID"
# A UDP-only box: no otb-redir, LAN TCP is left alone.
pol_fw_config "\"firewall\": {\"lan\": \"lan0\", \"tcp\": false, \"tunnel_port\": $TUNNEL_PORT}"
pol_firewall up >"$LAB_DIR/firewall.log" 2>&1 || lab_fail "otb-firewall up: $(cat "$LAB_DIR/firewall.log")"

# --- 1. mixed sizes, all intact -------------------------------------------------------------
t0=$(date +%s.%N)
out=$(lab_udp_peer lan load "$LAB_INET_ADDR" "$POL_ECHO_PORT" "$LOAD_COUNT" "$LOAD_WINDOW") ||
    lab_fail "datagram load: $out"
[[ $out == "sent $LOAD_COUNT echoed $LOAD_COUNT corrupt 0 lost 0" ]] ||
    lab_fail "datagram load: $out"
lab_say "ok: $out ($(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s)"

# --- 2. DNS through forward mode, UDP and TCP ------------------------------------------------
for proto in notcp tcp; do
    ans=$(lab_run lan dig "@$LAB_LAN_GW" -p "$DNS_PORT" "+$proto" +short +time=2 +tries=2 \
        voip.otb.test A) || lab_fail "dig ($proto) failed: $ans"
    [[ $ans == 198.18.0.9 ]] || lab_fail "dig ($proto): answer '$ans', expected 198.18.0.9"
    lab_say "ok: DNS over ${proto/notcp/udp} through otb-tunnel -L: voip.otb.test = $ans"
done

# --- 3. full cone ----------------------------------------------------------------------------
lab_run inet ip addr add "$INET_ADDR2/24" dev eth0
portfile=$LAB_DIR/cone.port
lab_udp_peer lan cone "$LAB_INET_ADDR" "$REFLECT_PORT" "$portfile" 10 >"$LAB_DIR/cone.out" 2>&1 &
cone_pid=$!
for _ in $(seq 100); do [[ -s $portfile ]] && break; sleep 0.05; done
[[ -s $portfile ]] || lab_fail "cone: no answer from the reflector: $(cat "$LAB_DIR/cone.out")"
read -r pub_ip pub_port <"$portfile"
[[ $pub_ip == "$LAB_SRV_INET" ]] ||
    lab_fail "cone: the Internet host saw $pub_ip, expected the server's $LAB_SRV_INET"
lab_udp_peer inet poke "$INET_ADDR2" "$pub_ip" "$pub_port" "from-a-second-host"
wait "$cone_pid" || lab_fail "cone: $(cat "$LAB_DIR/cone.out")"
got=$(cat "$LAB_DIR/cone.out")
[[ $got == "FROM $INET_ADDR2 "*" from-a-second-host" ]] ||
    lab_fail "cone: LAN host got '$got', expected a datagram from $INET_ADDR2"
lab_say "ok: full cone: mapping $pub_ip:$pub_port, $got"

# --- 4. WAN failure under a steady flow ------------------------------------------------------
lab_udp_peer lan flow "$LAB_INET_ADDR" "$REFLECT_PORT" "$FLOW_SECONDS" "$FLOW_RATE" \
    >"$LAB_DIR/flow.out" 2>&1 &
flow_pid=$!
sleep 2
wan=$(lab_run box ip -o route get "$LAB_SRV_ADDR" | grep -o 'dev wan[0-9]*' | grep -o '[0-9]*$')
[[ -n $wan ]] || lab_fail "no WAN route to the server"
lab_say "cutting wan$wan, which carries the flow"
lab_wan_down "$wan"
wait "$flow_pid" || lab_fail "flow: $(cat "$LAB_DIR/flow.out")"
read -r _ _ _ _ _ _ _ gap _ ports <"$LAB_DIR/flow.out"
lab_say "flow: $(cat "$LAB_DIR/flow.out")"
# Answers must come back until the end, not only before the cut.
why=$(lab_flow_ok "$(cat "$LAB_DIR/flow.out")" "$FLOW_RATE" "$MAX_GAP_MS") ||
    lab_fail "flow after wan$wan went down: $why"
if [[ $ports == *,* ]]; then
    lab_say "public source port changed with the WAN: $ports"
else
    lab_say "public source port kept across the WAN change: $ports"
fi
kill -0 "$TUNNEL_PID" 2>/dev/null || lab_fail "otb-tunnel died"
kill -0 "$LAB_SERVER_PID" 2>/dev/null || lab_fail "otb-server died"
echo "PASS: $LOAD_COUNT datagrams intact, DNS over UDP and TCP, full cone, WAN failure gap ${gap} ms (ports $ports)"
