#!/usr/bin/env bash
# The live demo, one command as root:   test/demo.sh
#
# Installs what is missing, builds, then builds a small network inside this
# machine (network namespaces, nothing leaves it): a LAN host, the box with
# three Internet links of 20, 10 and 5 Mbit/s, the server, and an "Internet"
# host. A download from the Internet host to the LAN host goes through the box
# (otb-redir) and the server (otb-server) over all three links at once; half
# way, the biggest link is unplugged and the download goes on; then it comes
# back. Then the failure seen most in the field: the first link's modem keeps
# its Ethernet link up but passes nothing; a download and a new connection a
# second go on, and the box's WAN states are shown as it sees them. Everything
# is torn down at the end. About a minute and a half once built.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OTB_SRC="$SRC"
export OTB_BUILD="${OTB_BUILD:-$SRC/build-demo}"
RATES="20 10 5"
DURATION=24
CUT_AT=9
BACK_AT=16
SILENT_DURATION=18
SILENT_AT=4
SILENT_BACK_AT=10

# shellcheck source=test/lab/lib.sh
source "$SRC/test/lab/lib.sh"
# shellcheck source=test/packages.sh
source "$SRC/test/packages.sh"

step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
note() { printf '  %s\n' "$*"; }

# The demo builds and runs the programs; the container, fuzzing and manual
# page tools of the full list are left out.
demo_install() {
    local p keep=()
    for p in "${OTB_PACKAGES[@]}"; do
        case $p in
        clang | libclang-* | podman | buildah | debootstrap | uidmap | fuse-overlayfs | \
            slirp4netns | containernetworking-plugins | groff | man-db | systemd | chromium | prometheus) ;;
        *) keep+=("$p") ;;
        esac
    done
    OTB_PACKAGES=("${keep[@]}")
    otb_install_packages
}

demo_build() {
    local log="$OTB_BUILD.log"
    mkdir -p "$OTB_BUILD"
    if ! { cmake -S "$SRC" -B "$OTB_BUILD" -DOTB_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
        cmake --build "$OTB_BUILD" -j"$(nproc)"; } >"$log" 2>&1; then
        tail -n 30 "$log"
        lab_fail "the build failed (full log: $log)"
    fi
    note "built in $OTB_BUILD"
}

# A bar of one character per Mbit/s, with a mark where a single link tops out.
demo_bar() {
    awk -v v="$1" -v best="$2" 'BEGIN {
        n = int(v + 0.5); s = ""
        if (n > 45) n = 45
        for (i = 1; i <= (n > best ? n : best); i++)
            s = s (i == best ? "|" : (i <= n ? "#" : " "))
        print s
    }'
}

# best and sum: the fastest link and the total, WAN number $1 (if any) unplugged.
demo_links() {
    local i
    best=0 sum=0
    for i in "${!LAB_RATES[@]}"; do
        [[ $((i + 1)) == "$1" ]] && continue
        ((LAB_RATES[i] > best)) && best=${LAB_RATES[i]}
        sum=$((sum + LAB_RATES[i]))
    done
    DEMO_BEST=$best DEMO_SUM=$sum
}

# Live iperf3 download, one line per second; the WAN of the connection's
# initial subflow is cut at CUT_AT and restored at BACK_AT.
demo_download() {
    local line t mbps best sum cut="" all=() during=()
    avg() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.1f", s / NR }'; }
    demo_links ""
    printf '  %5s  %12s  %-46s %s\n' "time" "received" "(| = best single link)" "best link / all links"
    while read -r line; do
        [[ $line =~ ([0-9.]+)-([0-9.]+)\ +sec\ .*\ ([0-9.]+)\ Mbits/sec ]] || continue
        [[ $line == *sender* || $line == *receiver* ]] && continue
        t=${BASH_REMATCH[2]%.*}
        mbps=${BASH_REMATCH[3]}
        printf '  %4ss  %6s Mbit/s  %-46s %s / %s Mbit/s\n' "$t" "$mbps" \
            "$(demo_bar "$mbps" "$best")" "$best" "$sum"
        # Averages skip the first seconds (start-up) and the first second
        # after the cut (the stall while the lost link's data is resent).
        if ((t > 2 && t <= CUT_AT)); then all+=("$mbps"); fi
        if ((t > CUT_AT + 1 && t <= BACK_AT)); then during+=("$mbps"); fi
        if ((t == CUT_AT)); then
            cut=$(lab_initial_wan) || lab_fail "no MPTCP connection seen in the box"
            lab_wan_down "$cut"
            demo_links "$cut"
            note ">>> WAN$cut (${LAB_RATES[cut - 1]} Mbit/s, the link the connection started on) unplugged"
            DEMO_CUT_SUM=$DEMO_SUM DEMO_CUT_RATE=${LAB_RATES[cut - 1]}
        elif ((t == BACK_AT)); then
            lab_wan_up "$cut"
            demo_links ""
            note ">>> WAN$cut plugged back"
            cut=""
        fi
    done < <(lab_run lan iperf3 -c "$LAB_INET_ADDR" -p 5201 -R -t "$DURATION" -i 1 \
        --forceflush --format m 2>&1)
    demo_links ""
    DEMO_ALL=$(avg "${all[@]}")
    DEMO_DURING=$(avg "${during[@]}")
}

# WAN states as the box sees them, from otb-redir's status JSON: "wan1 up
# wan2 up ..." ("-" from a build without WAN health tracking).
demo_wan_states() {
    lab_wans "$LAB_DIR/redir.sock" 2>/dev/null | awk '{ printf "%s%s %s", (NR > 1 ? "  " : ""), $1, $2 }
        END { if (NR == 0) printf "-" }'
}

# A new connection from the LAN host to the Internet host: its time, or
# "no answer" after a second.
demo_new_conn() {
    local t
    if t=$(lab_run lan curl -s -m 1 -o /dev/null -w '%{time_total}' \
        "http://$LAB_INET_ADDR:$LAB_HTTP_PORT/demo"); then
        awk -v t="$t" 'BEGIN { printf "%4.0f ms", t * 1000 }'
    else
        echo "no answer"
    fi
}

# In the background until killed: a new connection and the WAN states every
# half second, the latest in $LAB_DIR/sample; while $LAB_DIR/silent exists,
# each connection's fate is also added to $LAB_DIR/silent.conns. Apart from
# the line loop, so that a slow connection never delays the live lines.
demo_sampler() {
    local conn
    while :; do
        conn=$(demo_new_conn)
        printf '%-20s %s\n' "$conn" "$(demo_wan_states)" >"$LAB_DIR/sample.tmp"
        mv "$LAB_DIR/sample.tmp" "$LAB_DIR/sample"
        [[ ! -e $LAB_DIR/silent ]] || echo "$conn" >>"$LAB_DIR/silent.conns"
        sleep 0.5
    done
}

# Live download, one line per second with the latest new connection's fate
# and the WAN states; WAN1 is black-holed (link up, nothing passes) from
# SILENT_AT to SILENT_BACK_AT.
demo_silent() {
    local line t mbps sampler tried
    demo_links ""
    : >"$LAB_DIR/silent.conns"
    demo_sampler &
    sampler=$!
    printf '  %5s  %12s  %-36s %-20s %s\n' "time" "received" "" "new connection" "WAN states seen by the box"
    while read -r line; do
        [[ $line =~ ([0-9.]+)-([0-9.]+)\ +sec\ .*\ ([0-9.]+)\ Mbits/sec ]] || continue
        [[ $line == *sender* || $line == *receiver* ]] && continue
        t=${BASH_REMATCH[2]%.*}
        mbps=${BASH_REMATCH[3]}
        printf '  %4ss  %6s Mbit/s  %-36s %s\n' "$t" "$mbps" "$(demo_bar "$mbps" "$DEMO_BEST" | cut -c1-36)" \
            "$(cat "$LAB_DIR/sample" 2>/dev/null || echo -)"
        if ((t == SILENT_AT)); then
            lab_blackhole 1 on
            : >"$LAB_DIR/silent"
            note ">>> WAN1 goes silent: its link stays up, nothing passes (the modem's line is dead)"
        elif ((t == SILENT_BACK_AT)); then
            lab_blackhole 1 off
            rm -f "$LAB_DIR/silent"
            note ">>> WAN1 passes again"
        fi
    done < <(lab_run lan iperf3 -c "$LAB_INET_ADDR" -p 5201 -R -t "$SILENT_DURATION" -i 1 \
        --forceflush --format m 2>&1)
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    tried=$(wc -l <"$LAB_DIR/silent.conns")
    DEMO_SILENT_OK="$((tried - $(grep -c "no answer" "$LAB_DIR/silent.conns" || true))) of $tried"
}

main() {
    [[ $(id -u) -eq 0 ]] || { echo "run as root: the demo creates network namespaces" >&2; exit 1; }
    step "1. packages"
    demo_install
    note "all present"
    step "2. build"
    demo_build
    lab_require iperf3

    step "3. the network: LAN host -> box -> 3 links (${RATES// /, } Mbit/s) -> server -> Internet host"
    trap lab_down EXIT
    lab_up "demo$$" "$RATES"
    note "namespaces $(lab_ns lan), $(lab_ns box), $(lab_ns srv), $(lab_ns inet)"
    note "each link is a veth pair limited by tbf; the box has one MPTCP endpoint per link:"
    lab_run box ip mptcp endpoint show | sed 's/^/    /'

    step "4. otb-server on the server, otb-redir and its firewall rules on the box"
    lab_otb_start --status-socket "$LAB_DIR/redir.sock" --metrics "$LAB_LAN_GW:9100"
    grep -h "MPTCP enabled" "$LAB_DIR/otb-redir.log" | sed 's/^.*INFO: /  otb-redir: /'
    note "status page: http://$LAB_LAN_GW:9100/ from the LAN host; on this machine, during the demo:"
    note "  socat TCP-LISTEN:9100,bind=127.0.0.1,fork,reuseaddr 'EXEC:ip netns exec $(lab_ns lan) socat STDIO TCP\\:$LAB_LAN_GW\\:9100' & then open http://127.0.0.1:9100/"
    lab_bg inet iperf3 iperf3 -s -p 5201
    lab_wait_port inet 5201
    lab_http_server

    step "5. download: Internet host -> LAN host, one TCP connection, through the box"
    demo_download
    note ""
    note "the Internet host saw the connection coming from: $(awk '/Accepted connection from/ { print $4 }' \
        "$LAB_DIR/iperf3.log" | tr -d , | sort -u | paste -sd' ') (the server, not the LAN host)"
    note "with all links: $DEMO_ALL Mbit/s on average, where the best single link gives $DEMO_BEST;"
    note "without the $DEMO_CUT_RATE Mbit/s link: $DEMO_DURING Mbit/s on the others ($DEMO_CUT_SUM Mbit/s together)."
    note "One TCP connection used every link, and it survived losing the link it started on."

    step "6. a link that dies silently: the download goes on, and so do new connections"
    note "an unplugged link is easy: the kernel sees it. A dead line behind a modem that keeps its"
    note "link up is not: the box probes each link toward the server and stops using a silent one."
    lines=$(wc -l <"$LAB_DIR/otb-redir.log")
    demo_silent
    note ""
    note "new connections while WAN1 was silent: $DEMO_SILENT_OK answered within a second"
    tail -n +"$((lines + 1))" "$LAB_DIR/otb-redir.log" | grep "wan1 \(down\|up\)" |
        sed 's/^.*INFO: /  otb-redir: /' || note "(no WAN transition logged by otb-redir)"

    step "7. teardown"
    lab_down
    trap - EXIT
    note "done"
}

main "$@"
