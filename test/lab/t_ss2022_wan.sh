#!/usr/bin/env bash
# Shadowsocks 2022 UDP sessions across the box's WANs. Two WANs (20 and 10
# Mbit/s); the LAN host's UDP is intercepted with TPROXY by the firewall
# helper and relayed by otb-tunnel (WAN health on, its default) to otb-server
# -u, then to a reflector on the Internet host that reports the public
# source port it sees. For each run a 50 datagrams/s flow goes from the LAN
# host to the reflector; once it flows, WAN1 (the WAN the tunnel prefers)
# goes silent (lab_blackhole: link up, nothing passes), and once otb-tunnel
# has declared it down and the flow moved to WAN2, it passes again, and the
# flow moves back.
#   1. 2022-blake3-aes-256-gcm: the reflector sees ONE public source port for
#      the whole run, otb-server made one association (the session kept its
#      outbound socket and answered to the box's latest address) and
#      otb-tunnel one session for the LAN flow; the longest silence is no
#      longer than otb-tunnel took to declare WAN1 down (plus
#      GAP_MARGIN_MS), and no more datagrams are lost than that silence
#      explains.
#   2. the same with the SIP004 method chacha20-ietf-poly1305, the old
#      behaviour kept for comparison: the server keys associations by the
#      box's address, so the reflector sees a second public port after the
#      move (checked: it shows the WAN change happened).
#   3. 2022 with voice duplication (otb-tunnel --voice-duplicate, the
#      reflector's port a voice port): 0 datagrams lost either way across
#      the same failure and return, none delivered twice at either end, one
#      public port; both programs sent and dropped copies, and otb-server
#      counted no replay. Then a bulk flow (another port) with duplication
#      still on: no copy sent by either side.
# Every figure is printed: ports, gap, losses each way, detection time.
set -euo pipefail
# shellcheck source=test/lab/policy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/policy_lib.sh"

TUNNEL_PORT=12346
REFLECT_PORT=7100
BULK_PORT=7101
BULK_SECONDS=3
FLOW_SECONDS=16
FLOW_RATE=50
CUT_AFTER=3        # seconds of flow before WAN1 goes silent
HOLE_AFTER_DOWN=3  # seconds WAN1 stays silent once declared down
DOWN_WITHIN=5      # seconds for otb-tunnel to declare WAN1 down
UP_WITHIN=10
GAP_MARGIN_MS=1000 # silence allowed beyond the detection time (status polling, one RTT)
MIN_GAP_MS=200     # the flow was on WAN1: the cut must show

pol_start "otbss22wan$$" "20 10" b3sum
SRV_SOCK=$LAB_DIR/server.sock
TUN_SOCK=$LAB_DIR/tunnel.sock
UP_SEEN=$LAB_DIR/reflect.seen

lab_bg inet reflect "$LAB_PY" -I -S "$(lab_src)/test/lab/udp_peer.py" reflect "$REFLECT_PORT" \
    "$UP_SEEN"
lab_wait_udp inet "$REFLECT_PORT"
lab_bg inet reflect-bulk "$LAB_PY" -I -S "$(lab_src)/test/lab/udp_peer.py" reflect "$BULK_PORT"
lab_wait_udp inet "$BULK_PORT"
pol_fw_config "\"firewall\": {\"lan\": \"lan0\", \"tcp\": false, \"tunnel_port\": $TUNNEL_PORT}"
pol_firewall up >"$LAB_DIR/firewall.log" 2>&1 || lab_fail "otb-firewall up: $(cat "$LAB_DIR/firewall.log")"

# status SOCKET KEY: one counter of a program's status document.
status() { "$LAB_PY" -I -S "$(lab_src)/test/interop/udp_peer.py" status "$1" "$2"; }

flowing() { (($(status "$TUN_SOCK" udp.down.packets) > 0)); }

# run NAME METHOD KEY [TUNNEL_ARGS...]: otb-server and otb-tunnel with METHOD,
# the flow across WAN1's silent failure and return. Leaves the flow's line
# in RUN_FLOW, and RUN_PORTS, RUN_GAP, RUN_DOWN_MS, RUN_UP_MS, RUN_LOSSES,
# RUN_SRV_ASSOC, RUN_TUN_ASSOC; runs RUN_AFTER (a command, if set) while
# both programs still run, then stops them. RUN_NO_GAP set: the flow must
# not show the cut (duplication), else it must.
run() {
    local name=$1 flow srv tun
    LAB_METHOD=$2
    LAB_PASSWORD=$3
    shift 3
    lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" "server-$name" -u --status-socket "$SRV_SOCK"
    srv=$LAB_PID
    lab_otb_tunnel "tunnel-$name" "$TUNNEL_PORT" --status-socket "$TUN_SOCK" "$@"
    tun=$LAB_PID
    lab_wait_wan_state "$TUN_SOCK" 1 up "$UP_WITHIN" || lab_fail "$name: wan1 not up at the start"
    : >"$UP_SEEN"
    lab_udp_peer lan flow "$LAB_INET_ADDR" "$REFLECT_PORT" "$FLOW_SECONDS" "$FLOW_RATE" 0 \
        "$LAB_DIR/down.$name" >"$LAB_DIR/flow.$name" 2>&1 &
    flow=$!
    otb_wait_for "the flow" 10 flowing
    sleep "$CUT_AFTER"
    lab_blackhole 1 on
    lab_say "$name: wan1 black-holed"
    lab_wait_wan_state "$TUN_SOCK" 1 down "$DOWN_WITHIN" || true
    RUN_DOWN_MS=$LAB_WAITED_MS
    sleep "$HOLE_AFTER_DOWN"
    lab_blackhole 1 off
    lab_say "$name: wan1 passes again"
    lab_wait_wan_state "$TUN_SOCK" 1 up "$UP_WITHIN" || true
    RUN_UP_MS=$LAB_WAITED_MS
    wait "$flow" || lab_fail "$name: flow: $(cat "$LAB_DIR/flow.$name")"
    RUN_FLOW=$(cat "$LAB_DIR/flow.$name")
    read -r _ _ _ _ _ _ _ RUN_GAP _ RUN_PORTS <<<"$RUN_FLOW"
    RUN_LOSSES=$(lab_udp_losses "$((FLOW_SECONDS * FLOW_RATE))" "$UP_SEEN" "$LAB_DIR/down.$name")
    RUN_SRV_ASSOC=$(status "$SRV_SOCK" udp.associations.created)
    RUN_TUN_ASSOC=$(status "$TUN_SOCK" udp.associations.created)
    [[ -z ${RUN_AFTER:-} ]] || $RUN_AFTER
    kill -0 "$srv" 2>/dev/null || lab_fail "$name: otb-server died"
    kill -0 "$tun" 2>/dev/null || lab_fail "$name: otb-tunnel died"
    lab_stop "$tun"
    lab_stop "$srv"
    printf '%s: %s\n  %s; wan1 down after %s ms, up %s ms after its return;' "$name" \
        "$RUN_FLOW" "$RUN_LOSSES" "$RUN_DOWN_MS" "$RUN_UP_MS"
    printf ' associations: otb-server %s, otb-tunnel %s\n' "$RUN_SRV_ASSOC" "$RUN_TUN_ASSOC"
    [[ $RUN_DOWN_MS != never ]] || lab_fail "$name: wan1 not declared down within ${DOWN_WITHIN}s"
    [[ $RUN_UP_MS != never ]] || lab_fail "$name: wan1 not up within ${UP_WITHIN}s of its return"
    [[ -n ${RUN_NO_GAP:-} ]] || ((RUN_GAP >= MIN_GAP_MS)) ||
        lab_fail "$name: no gap (${RUN_GAP} ms): the flow was not on wan1"
}

psk() { head -c 32 /dev/urandom | base64 -w0; }

# --- 1. Shadowsocks 2022: one session, one public port ----------------------------------------
run ss2022 2022-blake3-aes-256-gcm "$(psk)"
why=$(lab_flow_ok "$RUN_FLOW" "$FLOW_RATE" "$((RUN_DOWN_MS + GAP_MARGIN_MS))") ||
    lab_fail "ss2022: $why (wan1 declared down after $RUN_DOWN_MS ms)"
[[ $RUN_PORTS =~ ^[0-9]+$ ]] ||
    lab_fail "ss2022: the Internet host saw public source ports $RUN_PORTS, expected one"
((RUN_SRV_ASSOC == 1)) || lab_fail "ss2022: otb-server made $RUN_SRV_ASSOC associations, expected 1"
((RUN_TUN_ASSOC == 1)) || lab_fail "ss2022: otb-tunnel made $RUN_TUN_ASSOC sessions, expected 1"
ss22_summary="port $RUN_PORTS kept, gap $RUN_GAP ms (wan1 down after $RUN_DOWN_MS ms)"
lab_say "ok: 2022: $ss22_summary"

# --- 2. SIP004, the old behaviour: a new public port after the move ---------------------------
run sip004 chacha20-ietf-poly1305 "lab-secret-$$"
[[ $RUN_PORTS == *,* ]] ||
    lab_fail "sip004: one public port ($RUN_PORTS): the flow did not change WAN"
lab_say "as expected with SIP004: public source ports $RUN_PORTS, $RUN_SRV_ASSOC server associations"
sip004_ports=$RUN_PORTS

# --- 3. 2022 with voice duplication: nothing lost; bulk never duplicated ---------------------
# copies: "server_sent server_dropped tunnel_sent tunnel_dropped server_replay"
copies() {
    printf '%s %s %s %s %s\n' "$(status "$SRV_SOCK" udp.duplicates.sent)" \
        "$(status "$SRV_SOCK" udp.duplicates.dropped)" "$(status "$TUN_SOCK" udp.duplicates.sent)" \
        "$(status "$TUN_SOCK" udp.duplicates.dropped)" "$(status "$SRV_SOCK" udp.refused.replay)"
}
# bulk_flow: a flow to a port that is not voice, the copies counted around it.
bulk_flow() {
    DUP_COPIES=$(copies)
    BULK_FLOW=$(lab_udp_peer lan flow "$LAB_INET_ADDR" "$BULK_PORT" "$BULK_SECONDS" "$FLOW_RATE")
    BULK_COPIES=$(copies)
}
RUN_NO_GAP=1 RUN_AFTER=bulk_flow run dup 2022-blake3-aes-256-gcm "$(psk)" --voice-duplicate \
    --voice-ports "$REFLECT_PORT"
read -r _ sent _ received _ lost _ <<<"$RUN_FLOW"
read -r _ up_lost _ up_copies _ down_lost _ down_copies <<<"$RUN_LOSSES"
read -r srv_sent srv_dropped tun_sent tun_dropped srv_replay <<<"$DUP_COPIES"
printf '  copies: otb-tunnel sent %s, dropped %s; otb-server sent %s, dropped %s; replays %s\n' \
    "$tun_sent" "$tun_dropped" "$srv_sent" "$srv_dropped" "$srv_replay"
printf 'bulk flow with duplication on: %s; copies before/after (srv sent, dropped, tunnel sent, dropped, replay): %s / %s\n' \
    "$BULK_FLOW" "$DUP_COPIES" "$BULK_COPIES"
((lost == 0 && up_lost == 0 && down_lost == 0)) ||
    lab_fail "dup: lost $lost voice datagrams (up $up_lost, down $down_lost), expected 0"
((up_copies == 0 && down_copies == 0)) ||
    lab_fail "dup: datagrams delivered twice: $up_copies at the Internet host, $down_copies at the LAN host"
[[ $RUN_PORTS =~ ^[0-9]+$ ]] || lab_fail "dup: public source ports $RUN_PORTS, expected one"
((tun_sent > 0 && srv_dropped > 0 && srv_sent > 0 && tun_dropped > 0)) ||
    lab_fail "dup: copies not sent and dropped both ways ($DUP_COPIES)"
((srv_replay == 0)) || lab_fail "dup: otb-server counted $srv_replay copies as replays"
[[ ${BULK_FLOW:-} == *" lost 0 "* ]] || lab_fail "dup: bulk flow: ${BULK_FLOW:-none}"
[[ ${BULK_COPIES%% *} == "${DUP_COPIES%% *}" && $(cut -d' ' -f3 <<<"$BULK_COPIES") == "$tun_sent" ]] ||
    lab_fail "dup: bulk datagrams were duplicated ($DUP_COPIES -> $BULK_COPIES)"
lab_say "ok: voice duplication: $sent sent, 0 lost either way, gap $RUN_GAP ms, port $RUN_PORTS"
echo "PASS: 2022 session across wan1's silent failure and return: $ss22_summary;" \
    "SIP004: ports $sip004_ports; with voice duplication: 0 of $sent lost (gap $RUN_GAP ms)," \
    "bulk not duplicated"
