#!/usr/bin/env bash
# Benchmark: a voice flow across a silent WAN failure. In the lab of two WANs
# (default 20 and 10 Mbit/s), a 50 datagrams/s flow of 160-byte datagrams
# (G.711 RTP every 20 ms) goes from the LAN host to the box's tunnel in
# forward mode (-L) to a reflector on the Internet host, and back. FLOW_CUT_AT
# seconds in, WAN1 (the preferred WAN) is black-holed for HOLE_SECONDS (link
# up, nothing passes), then passes again. One after the other, the same
# failure with:
#   ss      shadowsocks-libev: ss-tunnel -U, ss-server -u (SIP004 method)
#   sip004  otb-tunnel, otb-server -u, SIP004 method
#   2022    otb with 2022-blake3-aes-256-gcm
#   dup     the same with otb-tunnel --voice-duplicate (the reflector's port
#           a voice port)
# For each: datagrams lost (on the way up, and on the way back of those that
# got there), the longest time without an answer, and the public source
# ports the Internet host saw. Not a pass/fail test: it prints a table with
# the targets of issue 12 (0 lost with duplication, one public port).
#
# Usage (root):  OTB_BUILD=<build dir> bash test/bench/voice_bench.sh
# Environment:
#   BENCH_WAN_RATES  the WANs, Mbit/s (default "20 10")
#   BENCH_METHOD     the SIP004 method of ss and sip004 (default chacha20-ietf-poly1305)
#   BENCH_SUMMARY    if set, one tab-separated row per metric is appended to
#                    this file (metric, otb with duplication, ss, ratio,
#                    target, met), for test/bench/run-all.sh
set -euo pipefail

RATES=${BENCH_WAN_RATES:-"20 10"}
FLOW_RATE=50
FLOW_SECONDS=16
FLOW_CUT_AT=3
HOLE_SECONDS=6
TUNNEL_PORT=12347
REFLECT_PORT=7100
METHOD_2022=2022-blake3-aes-256-gcm
IMPLS=(ss sip004 2022 dup)

# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lab/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
SIP004_METHOD=${BENCH_METHOD:-$LAB_METHOD}
SIP004_KEY=$LAB_PASSWORD
KEY_2022=$(head -c 32 /dev/urandom | base64 -w0)

lab_require ss-server ss-tunnel base64
for p in otb-server otb-tunnel; do lab_bin "$p" >/dev/null; done

# start IMPL: its server and tunnel; the tunnel's pid in TUNNEL_PID, the
# server's in SERVER_PID.
start() {
    local -a args=()
    LAB_METHOD=$SIP004_METHOD
    LAB_PASSWORD=$SIP004_KEY
    if [[ $1 == ss ]]; then
        lab_bg srv ss-server ss-server -s "$LAB_SRV_ADDR" -p "$LAB_SRV_PORT" -k "$LAB_PASSWORD" \
            -m "$LAB_METHOD" -u -t 60
        SERVER_PID=$LAB_PID
        lab_wait_port srv "$LAB_SRV_PORT" "$SERVER_PID"
        lab_bg box ss-tunnel ss-tunnel -s "$LAB_SRV_ADDR" -p "$LAB_SRV_PORT" -b "$LAB_LAN_GW" \
            -l "$TUNNEL_PORT" -k "$LAB_PASSWORD" -m "$LAB_METHOD" -U \
            -L "$LAB_INET_ADDR:$REFLECT_PORT"
        TUNNEL_PID=$LAB_PID
        lab_wait_udp box "$TUNNEL_PORT" "$TUNNEL_PID"
        return 0
    fi
    if [[ $1 != sip004 ]]; then
        LAB_METHOD=$METHOD_2022
        LAB_PASSWORD=$KEY_2022
    fi
    [[ $1 != dup ]] || args=(--voice-duplicate --voice-ports "$REFLECT_PORT")
    lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" "otb-server-$1" -u
    SERVER_PID=$LAB_PID
    lab_otb_tunnel "otb-tunnel-$1" "$TUNNEL_PORT" -b "$LAB_LAN_GW" \
        -L "$LAB_INET_ADDR:$REFLECT_PORT" --status-socket "$LAB_DIR/tunnel.sock" "${args[@]}"
    TUNNEL_PID=$LAB_PID
    lab_wait_wan_state "$LAB_DIR/tunnel.sock" 1 up 10 || lab_fail "$1: wan1 not up at the start"
}

# run IMPL: the flow across the failure; figures in FIG[IMPL.*].
run() {
    local impl=$1 flow sent lost gap ports up_lost down_lost
    start "$impl"
    : >"$LAB_DIR/up.seen"
    lab_udp_peer lan flow "$LAB_LAN_GW" "$TUNNEL_PORT" "$FLOW_SECONDS" "$FLOW_RATE" 0 \
        "$LAB_DIR/down.$impl" >"$LAB_DIR/$impl.flow" 2>&1 &
    flow=$!
    sleep "$FLOW_CUT_AT"
    lab_blackhole 1 on
    lab_say "$impl: wan1 black-holed for ${HOLE_SECONDS}s"
    sleep "$HOLE_SECONDS"
    lab_blackhole 1 off
    wait "$flow" || lab_fail "$impl: flow: $(cat "$LAB_DIR/$impl.flow")"
    read -r _ sent _ _ _ lost _ gap _ ports <"$LAB_DIR/$impl.flow"
    read -r _ up_lost _ _ _ down_lost _ < <(lab_udp_losses "$sent" "$LAB_DIR/up.seen" \
        "$LAB_DIR/down.$impl")
    FIG[$impl.lost]=$lost
    FIG[$impl.up_lost]=$up_lost
    FIG[$impl.down_lost]=$down_lost
    FIG[$impl.gap]=$gap
    FIG[$impl.ports]=$(tr ',' '\n' <<<"$ports" | grep -c .)
    printf '%-6s %s; %s\n' "$impl" "$(cat "$LAB_DIR/$impl.flow")" \
        "$(lab_udp_losses "$sent" "$LAB_DIR/up.seen" "$LAB_DIR/down.$impl")"
    lab_stop "$TUNNEL_PID"
    lab_stop "$SERVER_PID"
}

declare -A FIG
trap lab_down EXIT
lab_up "voiceb$$" "$RATES"
lab_bg inet reflect "$LAB_PY" -I -S "$(lab_src)/test/lab/udp_peer.py" reflect "$REFLECT_PORT" \
    "$LAB_DIR/up.seen"
lab_wait_udp inet "$REFLECT_PORT"
for impl in "${IMPLS[@]}"; do
    run "$impl"
done

echo
echo "Voice flow ($FLOW_RATE datagrams/s for $FLOW_SECONDS s) through the tunnel, WAN1 (of" \
    "${RATES// /, } Mbit/s) black-holed for $HOLE_SECONDS s from ${FLOW_CUT_AT}s; SIP004 method" \
    "$SIP004_METHOD, 2022 method $METHOD_2022."
echo "| metric | ss-libev | otb SIP004 | otb 2022 | otb 2022 + voice_duplicate | target | met |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
row() { # row METRIC KEY TARGET [OP LIMIT]
    local met=-
    [[ -z ${4:-} ]] || met=$(bench_met "${FIG[dup.$2]}" "$4" "$5")
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "${FIG[ss.$2]}" "${FIG[sip004.$2]}" \
        "${FIG[2022.$2]}" "${FIG[dup.$2]}" "$3" "$met"
    bench_summary "voice, wan1 silent: $1 (otb: 2022 + dup)" "${FIG[dup.$2]}" "${FIG[ss.$2]}" \
        "$(bench_ratio "${FIG[dup.$2]}" "${FIG[ss.$2]}")" "$3" "$met"
}
row "datagrams lost" lost "0 with duplication" "<=" 0
row "lost on the way up" up_lost "0" "<=" 0
row "lost on the way back" down_lost "0" "<=" 0
row "longest gap, ms" gap "-"
row "public source ports seen" ports "1" "<=" 1
