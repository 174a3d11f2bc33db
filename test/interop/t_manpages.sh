#!/usr/bin/env bash
# The man pages (man/*.8) match the programs: every short and long option that
# `PROGRAM --help` prints appears in PROGRAM's page, every JSON config key of
# the programs' key table appears in the pages of the three programs, and
# each page renders with groff and man without a single warning.
set -euo pipefail
# shellcheck source=test/interop/ops_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ops_lib.sh"

MAN_PROGRAMS=(otb-server otb-redir otb-tunnel otb-firewall otb-qos)

# The command that runs PROGRAM: built binaries, the helper scripts from
# the build tree when they are copied there, else from the source tree.
man_cmd() {
    if [[ $1 == otb-firewall || $1 == otb-qos ]]; then
        local fw
        fw=$(ops_src)/otb-redir/$1
        [[ -x ${OTB_BUILD:-}/otb-redir/$1 ]] && fw=$OTB_BUILD/otb-redir/$1
        printf 'bash\n%s\n' "$fw"
    else
        ops_bin "$1"
    fi
}

# Options in --help text: a dash word at the start of a line or after a
# blank, a comma or an opening parenthesis ("aes-128-gcm" is not one).
man_help_options() {
    grep -oE '(^|[[:space:],(])--?[A-Za-z0-9][A-Za-z0-9-]*' | sed -E 's/^[[:space:],(]//' | sort -u
}

# The page's source as plain text: "\-" is a dash, font changes go.
man_plain() {
    sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\e/\\/g' "$1"
}

man_check_options() {
    local prog=$1 page=$2 help opts opt missing=()
    local -a cmd
    mapfile -t cmd < <(man_cmd "$prog")
    help=$("${cmd[@]}" --help) || ops_fail "$prog --help failed"
    opts=$(man_help_options <<<"$help")
    (($(wc -l <<<"$opts") >= 4)) || ops_fail "$prog --help: found too few options: $opts"
    man_plain "$page" >"$OPS_DIR/$prog.txt"
    while read -r opt; do
        grep -qwF -- "$opt" "$OPS_DIR/$prog.txt" || missing+=("$opt")
    done <<<"$opts"
    ((${#missing[@]} == 0)) || ops_fail "$prog: options of --help missing from ${page##*/}: ${missing[*]}"
    ops_say "$prog: $(wc -l <<<"$opts") options of --help all in ${page##*/}"
}

# groff with every warning on, then man-db itself: no output on stderr.
man_check_render() {
    local page=$1 out
    out=$(groff -man -ww -z "$page" 2>&1) || ops_fail "groff failed on ${page##*/}: $out"
    [[ -z $out ]] || ops_fail "groff warnings on ${page##*/}: $out"
    out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || ops_fail "man -l ${page##*/} failed: $out"
    [[ -z $out ]] || ops_fail "man -l warnings on ${page##*/}: $out"
    MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q "^NAME" || ops_fail "${page##*/}: no NAME section"
}

man_check_keys() {
    local key missing=() p
    for p in otb-server otb-redir otb-tunnel; do
        man_plain "$(ops_src)/man/$p.8"
    done >"$OPS_DIR/programs.txt"
    while read -r key; do
        grep -qwF -- "$key" "$OPS_DIR/programs.txt" || missing+=("$key")
    done < <(ops_config_keys)
    ((${#missing[@]} == 0)) || ops_fail "config keys in no man page: ${missing[*]}"
}

main() {
    local prog page
    ops_init manpages
    trap ops_cleanup EXIT
    ops_require groff man
    for prog in "${MAN_PROGRAMS[@]}"; do
        page=$(ops_src)/man/$prog.8
        [[ -f $page ]] || ops_fail "no man page for $prog: $page"
        man_check_render "$page"
        man_check_options "$prog" "$page"
    done
    man_check_keys
    ops_say "PASS"
}

main "$@"
