#!/usr/bin/env bash
# DNSCore wire-format benchmark: Shoal's parser/builder against ldns on the same packets.
# Usage: bash bench/dnscore.sh [seconds-per-case]   (needs libldns-dev; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-2}"
swift build -c release --product dnscore-bench >/dev/null
bin="$(swift build -c release --show-bin-path)/dnscore-bench"
peer="$(mktemp -d)/ldns_bench"
gcc -O2 -o "$peer" bench/ldns-peer/ldns_bench.c -lldns
echo "== Shoal DNSCore"
taskset -c 0 "$bin" "$secs"
echo "== ldns $(dpkg-query -W -f='${Version}' libldns-dev 2>/dev/null || echo '?')"
"$bin" --hex | taskset -c 0 "$peer" "$secs"
