#!/usr/bin/env bash
# common/otb_blake3.c against Debian's b3sum on random inputs of random
# lengths (0 to 40000 bytes: one block, one chunk, trees of up to 40 chunks),
# plain hash and derive_key with random contexts, including the
# Shadowsocks 2022 one on PSK || salt sized inputs.
OTB_TEST_NAME=blake3
. "$(dirname "$0")/lib.sh"
need_cmd b3sum
B3="$OTB_BUILD/test/interop/otb_b3"
need_file "$B3"

check() { # check FILE [CONTEXT]
    local want got
    if (($# == 2)); then
        want=$(b3sum --no-names --derive-key "$2" <"$1")
        got=$("$B3" --derive-key "$2" <"$1")
    else
        want=$(b3sum --no-names <"$1")
        got=$("$B3" <"$1")
    fi
    [[ $got == "$want" ]] ||
        otb_fail "BLAKE3 of $(stat -c %s "$1") bytes ${2:+(context \"$2\") }: got $got, b3sum $want"
}

f="$OTB_TMP/in"
for i in $(seq 1 50); do
    case $((i % 3)) in
    0) len=$((RANDOM % 40001)) ;;
    1) len=$((RANDOM % 2100)) ;;
    2) len=$(((RANDOM % 40 + 1) * 1024 + RANDOM % 3 - 1)) ;; # around chunk boundaries
    esac
    head -c "$len" /dev/urandom >"$f"
    check "$f"
    check "$f" "otb test $i $(head -c 6 /dev/urandom | base64)"
done
for len in 32 64; do # PSK || salt of the 16- and 32-byte methods
    head -c "$len" /dev/urandom >"$f"
    check "$f" "shadowsocks 2022 session subkey"
done
otb_log "PASS: BLAKE3 hash and derive_key equal b3sum's on 102 random inputs"
