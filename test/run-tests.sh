#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds (normal, ASan+UBSan, libFuzzer) and runs every test.
#   test/run-tests.sh                 everything (as root)
#   OTB_TEST_LABELS=unit test/run-tests.sh    only some ctest labels (regex)
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OTB_TEST_OUT:-$SRC/build-test}"
JOBS="$(nproc)"
LABELS="${OTB_TEST_LABELS:-}"

# shellcheck source=test/packages.sh
. "$SRC/test/packages.sh"

log() { printf '\n=== %s\n' "$*"; }

build() { # build DIR cmake-args...
    local dir="$1"; shift
    cmake -S "$SRC" -B "$dir" -DOTB_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
        { cat "$dir.configure.log"; return 1; }
    cmake --build "$dir" -j"$JOBS"
}

run_ctest() { # run_ctest DIR label-regex [parallel jobs]
    local dir="$1" labels="$2" jobs="${3:-1}"
    (cd "$dir" && ctest --output-on-failure --timeout 900 -j"$jobs" -L "$labels")
}

# run_side_by_side DIR1 DIR2 label-regex: the same tests of two builds at
# once, each in its own range of ports, their lines prefixed with the build.
# These tests mostly wait on timers and peers, so two runs share two cores.
run_side_by_side() {
    local a="$1" b="$2" labels="$3" pa pb rc=0
    (OTB_PORT_RANGE=10000-20999 run_ctest "$a" "$labels" 2>&1 |
        sed -u "s/^/[$(basename "$a")] /") &
    pa=$!
    (OTB_PORT_RANGE=21000-31999 run_ctest "$b" "$labels" 2>&1 |
        sed -u "s/^/[$(basename "$b")] /") &
    pb=$!
    wait "$pa" || rc=1
    wait "$pb" || rc=1
    return "$rc"
}

main() {
    [ "$(id -u)" -eq 0 ] || { echo "run as root: the lab tests need network namespaces" >&2; exit 1; }
    otb_install_packages
    mkdir -p "$OUT"

    log "normal build (-Werror)"
    build "$OUT/normal" -DCMAKE_BUILD_TYPE=RelWithDebInfo
    log "ASan+UBSan build"
    build "$OUT/asan" -DCMAKE_BUILD_TYPE=Debug -DOTB_SANITIZE=ON
    log "libFuzzer build (clang)"
    build "$OUT/fuzz" -DCMAKE_C_COMPILER=clang -DOTB_FUZZ=ON -DOTB_SANITIZE=ON -DOTB_TESTS=ON

    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    if [ -n "$LABELS" ]; then
        log "tests: normal build"
        run_ctest "$OUT/normal" "$LABELS"
        log "tests: ASan+UBSan build"
        run_ctest "$OUT/asan" "$LABELS"
        log "fuzz targets (short runs)"
        run_ctest "$OUT/fuzz" "$LABELS" "$JOBS"
    else
        log "tests: unit and interop, normal and ASan+UBSan builds side by side"
        run_side_by_side "$OUT/normal" "$OUT/asan" "^(unit|interop)$"
        # Alone: these time transfers over rate-limited links.
        log "tests: lab and image (normal build)"
        run_ctest "$OUT/normal" "^(lab|image)$"
        log "fuzz targets (short runs)"
        # Each target is one CPU-bound process with its own corpus copy:
        # they share nothing, so they run side by side on every core.
        run_ctest "$OUT/fuzz" "^fuzz$" "$JOBS"
    fi
    log "all tests passed"
}

main "$@"
