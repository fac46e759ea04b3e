#!/usr/bin/env bash
# Where a cache hit's CPU goes (issue #14, "profile first"): one shoal-worker pinned to a CPU,
# warmed with the lab's names, then dnsperf on the other CPU sends cache hits while perf looks:
#   1. the profile: perf record -g of the worker (user and kernel stacks), the top entries;
#   2. system calls per query: perf stat of every syscall tracepoint the worker enters;
#   3. heap allocations per query: perf stat of a uprobe on libc's malloc (and free).
#
# Usage (as root): bash bench/profile-hits.sh [--prefix 127.N] [--seconds S] [--cpu N] [--load-cpu N]
#   --prefix P    lab prefix (default 127.57; its directory /tmp/shoal-bench-profile-lab-57 is kept)
#   --seconds S   length of each measurement (default 5)
# Environment: SHOAL_SCRATCH (scratch path of the release build, default .build).
# Needs linux-perf (Debian), tracefs (mounted here if missing) and uprobes.
set -euo pipefail
cd "$(dirname "$0")/.."
own_lab=1 lab_dir="" prefix="127.57" secs=5 cpu=0 load_cpu=1 bench_name=profile-hits
while (($#)); do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --seconds) secs="$2"; shift 2 ;;
        --cpu) cpu="$2"; shift 2 ;;
        --load-cpu) load_cpu="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "profile-hits.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
scratch="${SHOAL_SCRATCH:-.build}"
source bench/lib.sh
[[ $(id -u) == 0 ]] || die "needs root (the lab binds port 53; perf)"
for t in perf dnsperf jq taskset swift; do command -v "$t" >/dev/null || die "missing $t (Debian: linux-perf dnsperf jq)"; done
[[ -e /sys/kernel/tracing/events ]] || mount -t tracefs nodev /sys/kernel/tracing
libc=$(ldconfig -p | awk '/libc.so.6 .*x86-64/ { print $NF; exit }')

work="$(mktemp -d /tmp/shoal-bench-profile.XXXXXX)"
pid="" lab_up=0 labbin="" segment="none"
cleanup() {
    local rc=$?
    set +e
    [[ -n $pid ]] && stop_pid "$pid"
    perf probe -q -d 'probe_libc:*' 2>/dev/null
    lab_stop
    rm -f "/dev/shm/shoal.$segment".v*
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_release shoal-worker shoal-lab
labbin="$bindir/shoal-lab"
lab_start "/tmp/shoal-bench-profile-lab-${prefix#127.}"
segment="bench-profile-$octet"
addr="127.0.$octet.1"
jq -r 'select(.features | index("lame-ns") | not) | "\(.qname) \(.qtype)"' "$lab_dir/expected.jsonl" >"$work/hit.txt"

rm -f "/dev/shm/shoal.$segment".v*
taskset -c "$cpu" "$bindir/shoal-worker" --listen "$addr:53" --root-hints "$hints" --segment "$segment" \
    --segment-size 256 --do-not-query-localhost false --log-level warning \
    --dnssec off >"$work/worker.log" 2>&1 &   # as RESULTS.md's before figures (validation is on by default)
pid=$!
sleep 1
note "warming"
dnsperf -s "$addr" -d "$work/hit.txt" -n 1 -c 1 -q 64 -t 5 >/dev/null 2>&1
load() { # seconds -> runs dnsperf in the background, sets $load_pid
    taskset -c "$load_cpu" dnsperf -s "$addr" -d "$work/hit.txt" -l "$1" -c 4 -q 256 -t 2 >"$work/dnsperf.out" 2>&1 &
    load_pid=$!
}
completed() { awk '/Queries completed:/ { print $3 }' "$work/dnsperf.out"; }

note "profile ($secs s)"
load $((secs + 1)); sleep 0.5
perf record -q -g -o "$work/perf.data" -p "$pid" -- sleep "$secs" >/dev/null 2>&1
wait "$load_pid"
echo "== profile: self time, top entries (perf record -g -p <worker>, $(completed) queries in $((secs + 1)) s)"
perf report -q -i "$work/perf.data" --no-children --sort dso,symbol --percent-limit 1 --stdio -g none 2>/dev/null \
    | sed -e '/^$/d' -e 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' | head -40

note "system calls ($secs s)"
load $((secs + 1)); sleep 0.5
perf stat -x, -o "$work/sys.csv" -e 'syscalls:sys_enter_*' -p "$pid" -- sleep "$secs" >/dev/null 2>&1
wait "$load_pid"
q=$(completed)
echo "== system calls per query (perf stat of syscalls:sys_enter_*; about $q queries in $((secs + 1)) s, counted for $secs s)"
awk -F, -v q="$q" -v f="$((secs + 1))" -v s="$secs" '$1 ~ /^[0-9]+$/ && $1 > 0 {
        per = $1 / (q * s / f); total += per
        printf "  %-40s %10d  %.3f per query\n", $3, $1, per
    } END { printf "  %-40s %10s  %.3f per query\n", "all", "", total }' "$work/sys.csv" | sort -k2 -n -r

note "allocations ($secs s)"
perf probe -q -x "$libc" malloc >/dev/null 2>&1 || true
perf probe -q -x "$libc" free >/dev/null 2>&1 || true
load $((secs + 1)); sleep 0.5
perf stat -x, -o "$work/malloc.csv" -e probe_libc:malloc -e probe_libc:free -p "$pid" -- sleep "$secs" >/dev/null 2>&1
wait "$load_pid"
q=$(completed)
echo "== heap calls per query (uprobes on $libc; about $q queries in $((secs + 1)) s, counted for $secs s)"
awk -F, -v q="$q" -v f="$((secs + 1))" -v s="$secs" '$1 ~ /^[0-9]+$/ { printf "  %-20s %10d  %.2f per query\n", $3, $1, $1 / (q * s / f) }' "$work/malloc.csv"

note "allocation sites ($secs s)"
load $((secs + 1)); sleep 0.5
perf record -q -g -e probe_libc:malloc -o "$work/malloc.data" -p "$pid" -- sleep "$secs" >/dev/null 2>&1
wait "$load_pid"
echo "== where the hit path allocates (perf record -g -e probe_libc:malloc; callers of malloc, by share)"
perf report -q -i "$work/malloc.data" --no-children --stdio -g caller,0.5,callee --percent-limit 5 2>/dev/null \
    | grep -v '^$' | head -40
