# shellcheck shell=bash
# shellcheck disable=SC2034 # PASSWORD, HZ, BUILD_TYPE... are for the sourcing scripts
# Helpers shared by the benchmarks in test/bench/ (sourced, not run).
#
# Loopback benchmarks (server_bench.sh, udp_bench.sh) call bench_init first:
#   bench_init NAME PREFIX   NAME prefixes error messages ("NAME: ..."); sets
#                            OTB_SRC, PASSWORD, WORK (a fresh directory
#                            PREFIX.*, removed at exit), PIDS (killed at exit:
#                            append what you start), HZ (clock ticks per second)
#   die MESSAGE              prints "FAIL: NAME: MESSAGE" and the tail of $WORK/*.log
#   need_tools TOOL...       dies naming the first missing one
#   bench_build DIR TARGET.. OTB_BUILD, or when unset a Release build of the
#                            TARGETs in BENCH_BUILD_DIR (default DIR); sets
#                            BUILD_TYPE
#   bench_cc NAME            compiles test/bench/NAME.c into $WORK/NAME
# Every benchmark:
#   bench_median mean|low    median of the numbers on stdin
#   bench_ratio A B          A / B with two decimals, "-" when not a number
#   bench_met VALUE OP LIMIT yes or no (OP: >= <= > <)
#   bench_summary METRIC OTB SS RATIO TARGET MET
#                            one tab-separated row appended to $BENCH_SUMMARY
#                            when it is set (test/bench/run-all.sh reads them)

# shellcheck source=test/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

bench_init() {
    BENCH_NAME=$1
    OTB_SRC=$(otb_src)
    PASSWORD="bench-$$-$RANDOM"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$2.$$.XXXXXX")
    OTB_LOG_DIR=$WORK
    OTB_LOG_LINES=20
    PIDS=()
    HZ=$(getconf CLK_TCK)
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}

die() { otb_fail "$BENCH_NAME: $*"; }

need_tools() { otb_need_cmd "$@"; }

bench_build() {
    local dir=$1 t
    shift
    if [ -z "${OTB_BUILD:-}" ]; then
        OTB_BUILD=${BENCH_BUILD_DIR:-$dir}
        echo "building $* (Release) in $OTB_BUILD"
        cmake -S "$OTB_SRC" -B "$OTB_BUILD" -DCMAKE_BUILD_TYPE=Release -DOTB_TESTS=OFF \
            >"$WORK/cmake.log" 2>&1 || die "cmake configure failed"
        cmake --build "$OTB_BUILD" -j"$(nproc)" --target "$@" >>"$WORK/cmake.log" 2>&1 ||
            die "cmake build failed"
    fi
    for t in "$@"; do
        [ -x "$OTB_BUILD/$t/$t" ] || die "no $t in $OTB_BUILD"
    done
    BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$OTB_BUILD/CMakeCache.txt" 2>/dev/null || true)
    [ "$BUILD_TYPE" = Release ] ||
        echo "WARNING: $OTB_BUILD is a '${BUILD_TYPE:-unknown}' build, not Release" >&2
}

bench_cc() {
    cc -O2 -Wall -Wextra -Werror -o "$WORK/$1" "$OTB_SRC/test/bench/$1.c" ||
        die "cannot build $1"
}

# With an even count: the mean of the two middle values, or with "low" the
# lower one. No numbers: "nan", or with "low" 0.
bench_median() {
    sort -g | awk -v low="$([ "$1" = low ] && echo 1 || echo 0)" '{ v[NR] = $1 }
        END { if (NR == 0) print (low ? 0 : "nan");
              else if (NR % 2 || low) print v[int((NR + 1) / 2)];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Numbers only: "-", "nan", "" and friends give "-" (and "no" below).
bench_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { n = "^-?[0-9]+([.][0-9]*)?([eE][-+]?[0-9]+)?$";
        if (a ~ n && b ~ n && b + 0 != 0) printf "%.2f\n", a / b; else print "-" }'
}

bench_met() {
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { n = "^-?[0-9]+([.][0-9]*)?([eE][-+]?[0-9]+)?$";
        if (v !~ n) { print "no"; exit }
        v += 0; l += 0
        ok = op == ">=" ? v >= l : op == "<=" ? v <= l : op == ">" ? v > l : v < l
        print ok ? "yes" : "no" }'
}

bench_summary() {
    [ -n "${BENCH_SUMMARY:-}" ] || return 0
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$BENCH_SUMMARY"
}
