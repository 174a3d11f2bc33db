#!/bin/bash
# Lab test of voice-first QoS: two 10 Mbit/s WANs whose bottleneck is a "modem" beyond the box
# (tbf with 100 ms of queue, as a DSL modem). The LAN saturates the uplink with TCP (iperf3
# through otb-redir, MPTCP over both WANs) while a voice-like flow runs: 50 datagrams/s of 200
# bytes marked EF, through otb-tunnel to an echo on inet. otb-tunnel marks its outer packets
# with the association's class (EF, priority 6), otb-qos shapes each WAN at 90% of its rate with
# voice first, so the queue forms in the box, behind the voice.
#
# Measured: the voice p99 RTT idle, under load without QoS, under load with QoS (all printed).
# Pass: with QoS the p99 rises by less than 15 ms and no datagram is lost. The run without QoS
# must show the problem (a standing queue: median up by 10 ms or more), or the test would prove
# nothing.
# Also checked: the server sends the voice echoes back to the box marked EF (it copies the
# DSCP of the association's datagrams), and a TCP connection to a SIP port (5060) is marked
# AF41 (interactive) by otb-redir toward the server and by otb-server back to the box.
#
# Box, server, "Internet" and the load all share this machine's CPUs (with other tests): the
# processes on the voice path (client, otb-tunnel, otb-server, echo) run with a real-time
# priority so that the figures measure the queues on the links, not the CPU scheduler.
set -euo pipefail

# shellcheck source=test/lab/policy_lib.sh
source "$(dirname "$0")/policy_lib.sh"

RATE_MBIT=10
MODEM_QUEUE_MS=100
TUNNEL_PORT=12346
IPERF_PORT=5201
VOICE_SECONDS=12
LOAD_SECONDS=$((VOICE_SECONDS + 8))
MAX_RISE_MS=15
MIN_UNSHAPED_MEDIAN_RISE_MS=10
RT_PRIO=20

pol_start "qos$$" "$RATE_MBIT $RATE_MBIT" iperf3
pol_modems "$MODEM_QUEUE_MS"

# realtime PID: the voice path's processes (lab_bg execs them: LAB_PID is the program).
realtime() { chrt -f -p "$RT_PRIO" "$1" >/dev/null || lab_fail "chrt on pid $1 failed"; }

pol_peer_bg inet echo echo "$POL_ECHO_PORT"
realtime "$LAB_PID"
pol_wait_udp inet "$POL_ECHO_PORT"
lab_bg inet iperf3 iperf3 -s -p "$IPERF_PORT"
lab_wait_port inet "$IPERF_PORT"
lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server -u
realtime "$LAB_PID"
lab_otb_redir
lab_otb_tunnel otb-tunnel "$TUNNEL_PORT"
realtime "$LAB_PID"
pol_firewall up --lan lan0 --redir-port "$LAB_REDIR_PORT" --tunnel-port "$TUNNEL_PORT" \
    --server "$LAB_SRV_ADDR" >"$LAB_DIR/firewall.log" 2>&1 ||
    lab_fail "otb-firewall up: $(cat "$LAB_DIR/firewall.log")"

counter() { lab_counter box qoscount "$1"; }

qos() {
    lab_run box env OTB_QOS_STATE_DIR="$LAB_DIR/qos-state" bash "$(lab_src)/otb-redir/otb-qos" "$@"
}

# voice NAME: runs the flow, prints "sent N lost N p50 X p99 X max X", keeps it in LAB_DIR.
voice() {
    lab_run lan timeout 60 chrt -f "$RT_PRIO" python3 -I -S "$(pol_peer_path)" voice \
        "$LAB_INET_ADDR" "$POL_ECHO_PORT" "$VOICE_SECONDS" 0xb8 50 200 | tee "$LAB_DIR/voice-$1.txt"
}

field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$LAB_DIR/voice-$1.txt"; }

# loaded NAME: the voice flow while iperf3 saturates the uplink; prints the TCP rate too.
loaded() {
    local name=$1 pid
    lab_run lan iperf3 -c "$LAB_INET_ADDR" -p "$IPERF_PORT" -t "$LOAD_SECONDS" -J \
        >"$LAB_DIR/iperf-$name.json" 2>&1 &
    pid=$!
    sleep 4 # TCP fills the queues first
    voice "$name" >/dev/null
    wait "$pid" || lab_fail "iperf3 ($name) failed: $(tail -n 3 "$LAB_DIR/iperf-$name.json")"
    python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))' \
        "$LAB_DIR/iperf-$name.json" >"$LAB_DIR/tcp-$name.txt"
}

# Packets between box and server by DSCP, seen on the box's WANs.
lab_counters box qoscount voice_down sip_up sip_down
lab_run box nft -f - <<EOF
table inet qoscount {
    chain input {
        type filter hook prerouting priority raw; policy accept;
        ip saddr $LAB_SRV_ADDR udp sport $LAB_SRV_PORT ip dscp ef counter name voice_down
        ip saddr $LAB_SRV_ADDR tcp sport $LAB_SRV_PORT ip dscp af41 counter name sip_down
    }
    chain output {
        type filter hook output priority raw; policy accept;
        ip daddr $LAB_SRV_ADDR tcp dport $LAB_SRV_PORT ip dscp af41 counter name sip_up
    }
}
EOF

# SIP over TCP: a TCP exchange with a server on inet's port 5060, through otb-redir.
pol_peer_bg inet sip http 5060
lab_wait_port inet 5060
pol_peer lan get "$LAB_INET_ADDR" 5060 "" 100000 >/dev/null || lab_fail "TCP to port 5060 failed"
sip_up=$(counter sip_up)
sip_down=$(counter sip_down)
echo "TCP to port 5060: $sip_up packets to the server and $sip_down back marked AF41"
((sip_up >= 3 && sip_down >= 10)) || lab_fail "SIP over TCP is not marked AF41 both ways"

voice idle >/dev/null
loaded noqos
qos up --wan "wan1:$((RATE_MBIT * 1000))" --wan "wan2:$((RATE_MBIT * 1000))" --share 0.9 \
    >"$LAB_DIR/qos.log" 2>&1 || lab_fail "otb-qos up: $(cat "$LAB_DIR/qos.log")"
loaded qos
lab_run box tc -s class show dev wan1 >"$LAB_DIR/qos-classes.txt"
qos down

for run in idle noqos qos; do
    tcp=""
    [[ -f $LAB_DIR/tcp-$run.txt ]] && tcp=", TCP upload $(cat "$LAB_DIR/tcp-$run.txt") Mbit/s"
    printf 'voice %-6s %s%s\n' "$run:" "$(cat "$LAB_DIR/voice-$run.txt")" "$tcp"
done
base=$(field idle p99)
rise_noqos=$(awk -v a="$(field noqos p99)" -v b="$base" 'BEGIN { printf "%+.1f", a - b }')
rise_qos=$(awk -v a="$(field qos p99)" -v b="$base" 'BEGIN { printf "%+.1f", a - b }')
echo "p99 RTT rise under load: without QoS $rise_noqos ms (lost $(field noqos lost)), with QoS $rise_qos ms (lost $(field qos lost))"

down=$(counter voice_down)
echo "voice echoes from the server marked EF: $down"
((down >= 3 * VOICE_SECONDS * 50 - 3)) || lab_fail "the server's voice datagrams to the box are not marked EF ($down)"
voice_pkts=$(awk '/class htb 1:10 /{ f = 1 } f && $1 == "Sent" { print $4; exit }' "$LAB_DIR/qos-classes.txt")
((voice_pkts >= VOICE_SECONDS * 50)) ||
    lab_fail "the voice class of wan1 saw $voice_pkts packets: the tunnel's datagrams are not marked"
median_rise=$(awk -v a="$(field noqos p50)" -v b="$(field idle p50)" 'BEGIN { printf "%.1f", a - b }')
lab_assert_ge "$median_rise" "$MIN_UNSHAPED_MEDIAN_RISE_MS" "no standing queue behind the modem without QoS (median RTT rise)"
[[ $(field qos lost) == 0 ]] || lab_fail "voice lost $(field qos lost) datagrams with QoS"
awk -v r="$rise_qos" -v m="$MAX_RISE_MS" 'BEGIN { exit !(r < m) }' ||
    lab_fail "voice p99 RTT rose by $rise_qos ms with QoS (limit $MAX_RISE_MS)"
echo "PASS: t_qos"
