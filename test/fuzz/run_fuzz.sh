#!/bin/sh
# Runs a libFuzzer target on a private copy of its seed corpus, so the
# inputs it discovers never land in the source tree.
#   run_fuzz.sh <fuzzer> <seed dir> [libFuzzer options...]
set -eu
if [ "$#" -lt 2 ]; then
    echo "usage: $0 <fuzzer> <seed dir> [options...]" >&2
    exit 2
fi
exe=$1
seeds=$2
shift 2
work=$(mktemp -d "${TMPDIR:-/tmp}/otb-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
mkdir "$work/corpus"
if [ -d "$seeds" ]; then
    cp -R "$seeds"/. "$work/corpus/"
fi
# Crash reproducers go to the build directory, where they survive the run.
artifacts=${OTB_FUZZ_ARTIFACTS:-$PWD}
status=0
"$exe" -artifact_prefix="$artifacts/" "$@" "$work/corpus" || status=$?
exit "$status"
