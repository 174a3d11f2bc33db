#!/usr/bin/env bash
# The systemd units (systemd/): configured the way the install rules do it
# (@CMAKE_INSTALL_FULL_*@ paths, here pointing at stub programs under a
# temporary root), each instance passes `systemd-analyze verify` with no
# output at all (unknown keys, missing executables, a Documentation= man
# page that does not exist all print something), the shared sandbox drop-in
# applies (offline `systemd-analyze security` exposure at most 2.5), the
# capabilities stay within CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, CAP_NET_RAW,
# otb-redir@ brackets the proxy with the firewall helper, and the sysusers
# file creates the user the units run as.
set -euo pipefail
# shellcheck source=test/interop/ops_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ops_lib.sh"

SD_UNITS=(otb-server otb-redir otb-tunnel)
SD_ALLOWED_CAPS=" CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW "
SD_ROOT=""

sd_stub() {
    mkdir -p "${1%/*}"
    printf '#!/bin/sh\nexit 0\n' >"$1"
    chmod 0755 "$1"
}

# The temporary root: stub programs, configured units, the drop-in, and the
# project's man pages where `man` will look for Documentation=.
sd_setup() {
    local in p
    SD_ROOT=$OPS_DIR/root
    mkdir -p "$SD_ROOT/units" "$SD_ROOT/etc/otb" "$SD_ROOT/man/man8"
    for p in "${SD_UNITS[@]}"; do sd_stub "$SD_ROOT/bin/$p"; done
    sd_stub "$SD_ROOT/sbin/otb-firewall"
    for in in "$(ops_src)"/systemd/*.service.in; do
        p=${in##*/}
        sed -e "s|@CMAKE_INSTALL_FULL_BINDIR@|$SD_ROOT/bin|g" \
            -e "s|@CMAKE_INSTALL_FULL_SBINDIR@|$SD_ROOT/sbin|g" \
            -e "s|@CMAKE_INSTALL_FULL_SYSCONFDIR@|$SD_ROOT/etc|g" "$in" >"$SD_ROOT/units/${p%.in}"
        ! grep -n '@[A-Z_]*@' "$SD_ROOT/units/${p%.in}" ||
            ops_fail "$p: placeholder the install rules do not substitute"
    done
    cp -r "$(ops_src)/systemd/otb-.service.d" "$SD_ROOT/units/"
    ln -s "$(ops_src)"/man/*.8 "$SD_ROOT/man/man8/"
}

# systemd-analyze in the temporary root's unit path (then the system's, for
# targets such as network-online.target).
sd_analyze() {
    (cd "$SD_ROOT/units" && SYSTEMD_UNIT_PATH="$SD_ROOT/units:" MANPATH="$SD_ROOT/man" \
        systemd-analyze "$@")
}

sd_verify() {
    local unit=$1@check.service out rc=0
    out=$(sd_analyze verify --man=yes "$unit" 2>&1) || rc=$?
    [[ $rc -eq 0 && -z $out ]] || ops_fail "systemd-analyze verify $unit (exit $rc): $out"
}

sd_security() {
    local unit=$1@check.service rc=0
    sd_analyze security --offline=yes --threshold=25 "$unit" >"$OPS_DIR/security-$1.log" 2>&1 ||
        rc=$?
    [[ $rc -eq 0 ]] || ops_fail "$unit: exposure above 2.5: $(grep 'Overall exposure' "$OPS_DIR/security-$1.log")"
    ops_say "$unit: $(grep -o 'Overall exposure level.*' "$OPS_DIR/security-$1.log")"
}

# sd_key FILE KEY: the values of every KEY= line of FILE.
sd_key() { sed -n "s/^$2=//p" "$1"; }

sd_check_caps() {
    local file=$SD_ROOT/units/$1@.service bound ambient cap
    bound=" $(sd_key "$file" CapabilityBoundingSet | tr '\n' ' ') "
    ambient=$(sd_key "$file" AmbientCapabilities)
    [[ -n ${bound// /} ]] || ops_fail "$1@.service: no CapabilityBoundingSet"
    for cap in $bound; do
        [[ $SD_ALLOWED_CAPS == *" $cap "* ]] || ops_fail "$1@.service: capability $cap not allowed"
    done
    for cap in $ambient; do
        [[ $bound == *" $cap "* ]] || ops_fail "$1@.service: ambient $cap outside the bounding set"
    done
}

sd_check_service() {
    local file=$SD_ROOT/units/$1@.service
    [[ $(sd_key "$file" Restart) == on-failure ]] || ops_fail "$1@.service: Restart is not on-failure"
    sd_key "$file" ExecStart | grep -q -- "-c $SD_ROOT/etc/otb/%i.json" ||
        ops_fail "$1@.service: ExecStart does not read /etc/otb/NAME.json"
}

sd_check_redir_firewall() {
    local file=$SD_ROOT/units/otb-redir@.service
    sd_key "$file" ExecStartPre | grep -qx "+$SD_ROOT/sbin/otb-firewall up .*" ||
        ops_fail "otb-redir@.service: no privileged 'otb-firewall up' before the start"
    sd_key "$file" ExecStopPost | grep -qx "+$SD_ROOT/sbin/otb-firewall down .*" ||
        ops_fail "otb-redir@.service: no privileged 'otb-firewall down' after the stop"
}

sd_check_dropin() {
    local file=$SD_ROOT/units/otb-.service.d/hardening.conf line
    for line in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX" User=otb; do
        grep -qx "$line" "$file" || ops_fail "hardening.conf lacks $line"
    done
}

sd_check_sysusers() {
    mkdir -p "$OPS_DIR/sysroot/etc"
    systemd-sysusers --root="$OPS_DIR/sysroot" "$(ops_src)/systemd/otb.sysusers" \
        >"$OPS_DIR/sysusers.log" 2>&1 || ops_fail "systemd-sysusers rejects otb.sysusers"
    grep -q '^otb:' "$OPS_DIR/sysroot/etc/passwd" || ops_fail "otb.sysusers creates no user otb"
}

main() {
    local u
    ops_init systemd
    trap ops_cleanup EXIT
    ops_require systemd-analyze systemd-sysusers man
    sd_setup
    sd_check_dropin
    for u in "${SD_UNITS[@]}"; do
        sd_verify "$u"
        sd_security "$u"
        sd_check_caps "$u"
        sd_check_service "$u"
    done
    sd_check_redir_firewall
    sd_check_sysusers
    ops_say "PASS"
}

main "$@"
