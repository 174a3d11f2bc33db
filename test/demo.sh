#!/usr/bin/env bash
# The live demo, one command as root:   test/demo.sh
#
# Installs what is missing, builds, then builds a small network inside this
# machine (network namespaces, nothing leaves it): a LAN host, the box with
# three Internet links of 20, 10 and 5 Mbit/s, the server, and an "Internet"
# host. A download from the Internet host to the LAN host goes through the box
# (otb-redir) and the server (otb-server) over all three links at once; half
# way, the biggest link is unplugged and the download goes on; then it comes
# back. Everything is torn down at the end. About a minute once built.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OTB_SRC="$SRC"
export OTB_BUILD="${OTB_BUILD:-$SRC/build-demo}"
RATES="20 10 5"
DURATION=24
CUT_AT=9
BACK_AT=16

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
    lab_otb_start --metrics "$LAB_LAN_GW:9100"
    grep -h "MPTCP enabled" "$LAB_DIR/otb-redir.log" | sed 's/^.*INFO: /  otb-redir: /'
    note "status page: http://$LAB_LAN_GW:9100/ from the LAN host; on this machine, during the demo:"
    note "  socat TCP-LISTEN:9100,bind=127.0.0.1,fork,reuseaddr 'EXEC:ip netns exec $(lab_ns lan) socat STDIO TCP\\:$LAB_LAN_GW\\:9100' & then open http://127.0.0.1:9100/"
    lab_bg inet iperf3 iperf3 -s -p 5201
    lab_wait_port inet 5201

    step "5. download: Internet host -> LAN host, one TCP connection, through the box"
    demo_download
    note ""
    note "the Internet host saw the connection coming from: $(awk '/Accepted connection from/ { print $4 }' \
        "$LAB_DIR/iperf3.log" | tr -d , | sort -u | paste -sd' ') (the server, not the LAN host)"
    note "with all links: $DEMO_ALL Mbit/s on average, where the best single link gives $DEMO_BEST;"
    note "without the $DEMO_CUT_RATE Mbit/s link: $DEMO_DURING Mbit/s on the others ($DEMO_CUT_SUM Mbit/s together)."
    note "One TCP connection used every link, and it survived losing the link it started on."

    step "6. teardown"
    lab_down
    trap - EXIT
    note "done"
}

main "$@"
