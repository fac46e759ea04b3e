#!/usr/bin/env bash
# Fuzz/run.sh [SECONDS] — builds the DNS message parser fuzz target (FuzzMessage) with the
# toolchain's libFuzzer and AddressSanitizer and fuzzes for SECONDS (default 60), starting from a
# copy of Fuzz/corpus/message. New inputs go to a temporary directory, never to the committed
# corpus. Exits non-zero on any crash, sanitizer report, timeout or out-of-memory, keeping the
# failing inputs and printing their path and a hex dump.
#
# Swift does not instrument -Onone code for coverage, so the build is -c release (bounds and
# overflow checks stay on). SwiftPM's own --sanitize fuzzer keeps it from renaming `main` (which
# libFuzzer provides); the sanitizers themselves come from one -Xswiftc -sanitize=fuzzer,address,
# because the driver keeps only the last -sanitize= and SwiftPM orders several --sanitize
# values arbitrarily (an address-only build runs but sees no coverage).
set -euo pipefail

secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
if command -v swift >/dev/null 2>&1; then swift=swift; else swift=/opt/swift/usr/bin/swift; fi

set +e
"$swift" build -c release --package-path "$here" --scratch-path "$here/.build-fuzz" \
    --product FuzzMessage --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    2>&1 | grep -v "Cannot export local symbol"   # ld.gold noise about ASan's symbols
build_rc=${PIPESTATUS[0]}
set -e
[ "$build_rc" -eq 0 ] || { echo "run.sh: build of FuzzMessage failed" >&2; exit 2; }
bin="$here/.build-fuzz/release/FuzzMessage"

work=$(mktemp -d "${TMPDIR:-/tmp}/shoal-fuzz.XXXXXX")
mkdir "$work/corpus" "$work/artifacts"
cp "$here"/corpus/message/* "$work/corpus/"

echo "fuzzing Message(wire:) for ${secs}s; work directory $work"
set +e
# The Swift runtime's backtracer would catch the trap before libFuzzer can save the input.
SWIFT_BACKTRACE=enable=no "$bin" \
    -max_total_time="$secs" -timeout=10 -max_len=4096 -dict="$here/message.dict" \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
    "$work/corpus" >"$work/fuzz.log" 2>&1
rc=$?
set -e

# Progress lines are noise in CI; the rest (warnings, reports, final stats) is kept.
grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|RELOAD)|^"|^INFO: (Loaded|-max_len)' "$work/fuzz.log" | tail -n 60

# A build without coverage would "pass" while testing nothing.
if grep -q "no interesting inputs were found" "$work/fuzz.log"; then
    echo "run.sh: FuzzMessage is not instrumented for coverage; see the build flags above" >&2
    exit 2
fi

shopt -s nullglob
artifacts=("$work"/artifacts/*)
if [ "$rc" -ne 0 ] || [ "${#artifacts[@]}" -gt 0 ]; then
    echo
    echo "FUZZING FAILED (libFuzzer exit $rc). Log: $work/fuzz.log"
    for a in "${artifacts[@]}"; do
        echo "--- $a ($(wc -c <"$a") bytes)"
        od -A x -t x1z -v "$a" | head -n 64
    done
    echo "Reproduce with: $bin <input file>"
    exit 1
fi
echo "fuzzing passed: $(ls "$work/corpus" | wc -l) corpus inputs after the run"
rm -rf "$work"
