# shellcheck shell=bash
# The POL_ constants are used by the tests that source this file.
# shellcheck disable=SC2034
# Traffic-policy additions to the network-namespace lab of lib.sh, for t_pinning, t_bypass and
# t_qos:
#
#  - a route for direct traffic: the "Internet" (inet) routes the WAN subnets back through srv,
#    which forwards without NAT, so a packet that left the box by WAN n directly is seen by
#    inet with the address 10.0.n.1 (LAN addresses still have no way back: only what the box
#    masquerades or relays itself gets an answer);
#  - more LAN hosts: extra addresses on the lan namespace, or a namespace of its own with its own
#    MAC address (a macvlan of the LAN link), for MAC pins;
#  - "modems": the WAN links rebuilt as box ── modem ── srv, with the rate limit (tbf) and its
#    queue in the modem, so the bottleneck sits beyond the box as on a real DSL line;
#  - servers on inet that report the source address they see (policy_peer.py), dnsmasq for
#    the .test names, and a throw-away TLS certificate.
#
# Usage: source this file (it sources lib.sh), pol_start NAME "R1 R2" [TOOL...].

# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAB_WAN_NET=10.0.0.0/16
POL_ROLES=()       # namespaces added here (lab_down only knows lan, box, srv and inet)
# Ports of the servers on inet.
POL_HTTP_PORT=8080
POL_HTTPS_PORT=8443
POL_UDP_PORT=5300
POL_ECHO_PORT=7000

# pol_start NAME "R1 R2" [TOOL...]: lab_require TOOLs, pol_up, pol_down at exit.
pol_start() {
    lab_require "${@:3}"
    trap pol_down EXIT
    pol_up "$1" "$2"
}

pol_up() {
    lab_up "$@"
    : >"$LAB_DIR/empty.conf"
    lab_run inet ip route replace "$LAB_WAN_NET" via "$LAB_SRV_INET"
}

# Kills what runs in the added namespaces, deletes them, then the lab itself.
pol_down() {
    local role
    for role in "${POL_ROLES[@]}"; do
        lab_ns_del "$role"
    done
    POL_ROLES=()
    lab_down
}

pol_peer_path() { printf '%s\n' "$(lab_src)/test/lab/policy_peer.py"; }

# pol_peer ROLE ARGS...: a policy_peer.py client in ROLE (bounded: a hung client fails).
pol_peer() {
    local role=$1
    shift
    lab_run "$role" timeout 20 python3 -I -S "$(pol_peer_path)" "$@"
}

# pol_peer_bg ROLE LOGNAME ARGS...: a policy_peer.py server in ROLE.
pol_peer_bg() {
    local role=$1 name=$2
    shift 2
    lab_bg "$role" "$name" python3 -I -S "$(pol_peer_path)" "$@"
}

pol_wait_udp() { lab_wait_udp "$1" "$2"; }

# The source-reporting servers on inet: HTTP, HTTPS (needs pol_tls_cert first), UDP.
pol_inet_servers() {
    pol_peer_bg inet http http "$POL_HTTP_PORT"
    lab_wait_port inet "$POL_HTTP_PORT"
    pol_peer_bg inet udp udp "$POL_UDP_PORT"
    pol_wait_udp inet "$POL_UDP_PORT"
}

pol_inet_https() {
    pol_tls_cert
    pol_peer_bg inet https http "$POL_HTTPS_PORT" "$LAB_DIR/tls.crt" "$LAB_DIR/tls.key"
    lab_wait_port inet "$POL_HTTPS_PORT"
}

pol_tls_cert() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=otb.test" \
        -addext "subjectAltName=DNS:*.otb.test" -keyout "$LAB_DIR/tls.key" \
        -out "$LAB_DIR/tls.crt" >"$LAB_DIR/openssl.log" 2>&1 ||
        lab_fail "openssl could not make a certificate: $(tail -n 1 "$LAB_DIR/openssl.log")"
}

# pol_dns NAME=ADDR...: dnsmasq on inet answering these names (nothing else, no upstream).
pol_dns() {
    local -a args=()
    mapfile -t args < <(otb_dnsmasq_args "$@")
    lab_bg inet dnsmasq dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll \
        --bind-interfaces --listen-address="$LAB_INET_ADDR" --port=53 --pid-file= \
        --user=root --log-facility=- "${args[@]}"
    pol_wait_udp inet 53
}

# pol_lan_addr ADDR: one more LAN host address on the lan namespace (clients bind to it).
pol_lan_addr() {
    lab_run lan ip addr add "$1/24" dev eth0
}

# pol_mac_host ROLE ADDR: a LAN host in a namespace of its own with its own MAC address, left
# in POL_MAC (not printed: pol_down must learn of the namespace, so no subshell).
pol_mac_host() {
    local role=$1 addr=$2 ns
    ns=$(lab_ns "$role")
    ip netns add "$ns"
    POL_ROLES+=("$role")
    lab_run "$role" ip link set lo up
    lab_run lan ip link add mv0 link eth0 type macvlan mode bridge
    lab_run lan ip link set mv0 netns "$ns"
    lab_run "$role" ip addr add "$addr/24" dev mv0
    lab_run "$role" ip link set mv0 up
    lab_run "$role" ip route add default via "$LAB_LAN_GW"
    POL_MAC=$(lab_run "$role" cat /sys/class/net/mv0/address)
}

# pol_fw_config MEMBER...: $LAB_DIR/firewall.json, the box config pol_firewall reads: the lab's
# server and otb-redir port, and these members (e.g. '"firewall": {"lan": "lan0"}').
pol_fw_config() {
    local IFS=,
    printf '{"server": ["%s"], "local_port": %s, %s}\n' "$LAB_SRV_ADDR" "$LAB_REDIR_PORT" "$*" \
        >"$LAB_DIR/firewall.json"
}

# pol_firewall ARGS...: otb-firewall in the box with the lab's own state directory, reading
# $LAB_DIR/firewall.json unless ARGS name a --config.
pol_firewall() {
    lab_run box env OTB_FW_CONFIG="$LAB_DIR/firewall.json" OTB_FW_STATE_DIR="$LAB_DIR/fw-state" \
        bash "$(lab_src)/otb-redir/otb-firewall" "$@"
}

# pol_modems LATENCY_MS: every WAN rebuilt as box wanN ── (bridge in NAME-modem) ── srv wanN,
# shaped (tbf at the WAN's rate, LATENCY_MS of queue) in the modem in both directions; the
# box's end is left unshaped. Addresses, routes and MPTCP endpoints are as before.
pol_modems() {
    local latency=$1 n
    ip netns add "$(lab_ns modem)"
    POL_ROLES+=(modem)
    lab_run modem ip link set lo up
    for ((n = 1; n <= ${#LAB_RATES[@]}; n++)); do
        pol_modem_link "$n" "${LAB_RATES[n - 1]}" "$latency"
    done
}

pol_modem_link() {
    local n=$1 mbit=$2 latency=$3 dev
    lab_run box ip link del "wan$n"
    lab_run box ip link add "wan$n" type veth peer name "b$n" netns "$(lab_ns modem)"
    lab_run srv ip link add "wan$n" type veth peer name "s$n" netns "$(lab_ns modem)"
    lab_run box ip addr add "$(lab_wan_addr "$n")/24" dev "wan$n"
    lab_run srv ip addr add "$(lab_wan_peer "$n")/24" dev "wan$n"
    lab_run modem ip link add "br$n" type bridge
    for dev in "b$n" "s$n"; do
        lab_run modem ip link set "$dev" master "br$n"
        lab_run modem ip link set "$dev" up
        LAB_TBF_LATENCY_MS=$latency lab_tbf modem "$dev" "$mbit"
    done
    lab_run modem ip link set "br$n" up
    lab_run box ip link set "wan$n" up
    lab_run srv ip link set "wan$n" up
    lab_wan_routes "$n"
    lab_run box ip mptcp endpoint delete id "$n" 2>/dev/null || true
    lab_wan_endpoint "$n"
}

# pol_expect_src WANT WHAT CMD...: runs a client, fails unless it reports source WANT (a regex).
pol_expect_src() {
    local want=$1 what=$2 out
    shift 2
    out=$("$@" 2>&1) || lab_fail "$what: client failed: $out"
    [[ $out =~ ^SRC\ ($want)( |$) ]] || lab_fail "$what: seen from '${out%% BYTES*}', expected $want"
    lab_say "ok: $what: ${out%% BYTES*}"
}

# pol_expect_fail WHAT CMD...: the client must fail (no answer, refused, unreachable).
pol_expect_fail() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then lab_fail "$what: expected a failure, got '$out'"; fi
    lab_say "ok: $what: failed as expected (${out##*$'\n'})"
}
