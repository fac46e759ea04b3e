#!/usr/bin/env bash
# Front-end benchmark (issue #4): the worker's packet-cache hit path behind two UDP front ends,
# NIO's DatagramChannel with vector reads (what shoal-worker ran until 1fd04d1) and the
# worker's own recvmmsg/sendmmsg front end (`UDPFrontEnd`, a thread per socket, since then),
# with the same WorkerEngine code on the same warm shared segment.
#
# Usage (as root, from anywhere):
#   bash bench/frontend.sh [--lab DIR] [--seconds S] [--rounds R] [--cpu N] [--load-cpu N]
#                          [--batch N]
#
#   --lab DIR      use a lab that is already up in DIR (its prefix is read from DIR/lab.json);
#                  it is left running. Without it, the script brings up its own lab in
#                  /tmp/shoal-bench-frontend-lab (prefix 127.59) and stops it at the end; the
#                  directory (cached keys, zones) is kept so that later runs skip key generation.
#   --seconds S    length of one dnsperf run (default 10).
#   --rounds R     rounds; each runs both modes, the order alternating from round to round
#                  (nio then mmsg, mmsg then nio, ...); medians are reported (default 5).
#   --cpu N        CPU frontend-bench is pinned to (default 0).
#   --load-cpu N   CPU dnsperf is pinned to (default 1).
#   --batch N      datagrams per read in nio mode (default 32, as the worker's front end, which
#                  mmsg mode runs unchanged).
# Environment:
#   SHOAL_SCRATCH  swift build scratch path for the release build (default .build).
#
# What it does: builds shoal-worker, shoal-lab and frontend-bench (release); brings up the lab;
# warms the segment /shoal.bench-frontend-<octet>.vN with a real shoal-worker on 127.0.<octet>.1:53
# that resolves the lab's name set once (dnsperf -n 1, the lame-ns names left out, as
# bench/resolver.sh does), then stops it. Each round then starts `frontend-bench --mode nio`
# and `--mode mmsg` in turn on 127.0.<octet>.2:53, pinned to --cpu, and drives each with
# `dnsperf -l S -c 4 -q 256 -t 2 -e` pinned to --load-cpu. Queries that miss the packet cache
# end in SERVFAIL in both modes (frontend-bench has no upstream) and are counted ("misses"); the segment is
# warmed again before a round if the shortest lab TTL (300 s) could have run out.
# Reported per mode: median QPS, CPU per completed query (frontend-bench's utime+stime from
# /proc/PID/stat over the run, all threads, divided by dnsperf's completed queries), its user
# part, lost queries, misses; the mmsg/nio ratio of the medians and, for the noise, the ratio
# within each round. Only 127.0.0.0/8 is queried. Output: the tables on stdout, progress on
# stderr; processes started here, the segment and temporary files are removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

lab_dir="" own_lab=1 prefix="127.59" secs=10 rounds=5 cpu=0 load_cpu=1 batch=32
while (($#)); do
    case "$1" in
        --lab) lab_dir="$2"; own_lab=0; shift 2 ;;
        --seconds) secs="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --cpu) cpu="$2"; shift 2 ;;
        --load-cpu) load_cpu="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "frontend.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
scratch="${SHOAL_SCRATCH:-.build}"
source bench/lib.sh
[[ $secs =~ ^[0-9]+$ && $rounds =~ ^[0-9]+$ && $batch =~ ^[0-9]+$ ]] || die "--seconds, --rounds and --batch take integers"

[[ $(id -u) == 0 ]] || die "needs root (the lab and the resolvers bind port 53)"
for t in dnsperf jq taskset ss swift; do
    command -v "$t" >/dev/null || die "missing $t (Debian: dnsperf jq util-linux iproute2)"
done

work="$(mktemp -d /tmp/shoal-bench-frontend.XXXXXX)"
pids=()           # processes we started and have not stopped yet
lab_up=0 labbin="" segment="none"
cleanup() {
    local rc=$?
    set +e
    for p in "${pids[@]}"; do stop_pid "$p"; done
    lab_stop
    rm -f "/dev/shm/shoal.$segment".v*
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build --------------------------------------------------------------------------------------
build_release shoal-worker shoal-lab frontend-bench
workerbin="$bindir/shoal-worker" labbin="$bindir/shoal-lab" benchbin="$bindir/frontend-bench"

# --- lab ----------------------------------------------------------------------------------------
lab_start "/tmp/shoal-bench-frontend-lab"
segment="bench-frontend-$octet"
# Outside the lab's /16, like bench/resolver.sh's resolvers.
warm_addr="127.0.$octet.1" bench_addr="127.0.$octet.2"
jq -r 'select(.features | index("lame-ns") | not) | "\(.qname) \(.qtype)"' "$lab_dir/expected.jsonl" >"$work/hit.txt"
n_hit=$(wc -l <"$work/hit.txt")

wait_listening() { # addr, pid, log, what
    local i
    for i in $(seq 100); do
        ss -Hunl "src $1:53" 2>/dev/null | grep -q . && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$3" >&2
    die "$4 did not start listening on $1:53"
}
ss -Hunl "src $bench_addr:53" 2>/dev/null | grep -q . && die "something already listens on $bench_addr:53"

# --- warm the segment -----------------------------------------------------------------------------
warmed_at=0 warms=0
warm() {
    local out="$work/warm-$warms" pid
    warms=$((warms + 1))
    warmed_at=$(date +%s)
    taskset -c "$cpu" "$workerbin" --listen "$warm_addr:53" --root-hints "$hints" --segment "$segment" \
        --segment-size 256 --do-not-query-localhost false --log-level warning \
        --dnssec off >"$out.log" 2>&1 &   # as the earlier figures were measured (validation is on by default)
    pid=$!
    pids+=("$pid")
    wait_listening "$warm_addr" "$pid" "$out.log" shoal-worker
    taskset -c "$load_cpu" dnsperf -s "$warm_addr" -d "$work/hit.txt" -n 1 -c 1 -q 32 -t 15 -e >"$out" 2>&1 || true
    stop_pid "$pid"
    forget_pid "$pid"
    note "warm-up $warms: $(field "$out" 'Queries completed') of $n_hit names answered, $(field "$out" 'Queries lost') lost, $(rcode_count "$out" SERVFAIL) SERVFAIL"
}
rm -f "/dev/shm/shoal.$segment".v*
warm

# --- rounds ---------------------------------------------------------------------------------------
bench_field() { # file, key -> value of key=value in frontend-bench's result line
    tr ' ' '\n' <"$1" | sed -n "s/^$2=//p" | head -1
}

run_mode() { # mode, round -> one row in $work/<mode>.rows
    local m="$1" i="$2" out="$work/$1-$2" pid c0 c1 s0 s1 k0 k1
    taskset -c "$cpu" "$benchbin" --mode "$m" --listen "$bench_addr:53" --segment "$segment" --batch "$batch" \
        >"$out.result" 2>"$out.log" &
    pid=$!
    pids+=("$pid")
    wait_listening "$bench_addr" "$pid" "$out.log" "frontend-bench --mode $m"
    c0=$(cpu_ticks "$pid") s0=$(user_ticks "$pid") k0=$(core_jiffies "$cpu")
    TIMEFORMAT='%U %S'
    { time taskset -c "$load_cpu" dnsperf -s "$bench_addr" -d "$work/hit.txt" -l "$secs" -c 4 -q 256 -t 2 -e \
        >"$out" 2>&1; } 2>"$out.time" || true
    c1=$(cpu_ticks "$pid") s1=$(user_ticks "$pid") k1=$(core_jiffies "$cpu")
    stop_pid "$pid"
    forget_pid "$pid"
    [[ -s $out.result ]] || { cat "$out.log" >&2; die "frontend-bench --mode $m printed no counts"; }
    local q t
    q=$(field "$out" 'Queries completed') t=$(field "$out" 'Run time (s)')
    [[ -n $q && $q -gt 0 ]] || { tail -20 "$out" >&2; die "dnsperf completed no query against --mode $m"; }
    # qps cpu-us/q user-us/q bench-cpu% dnsperf-cpu% core-busy% lost servfail misses received answered
    # datagrams-per-flush avg-latency-us
    awk -v c=$((c1 - c0)) -v us=$((s1 - s0)) -v hz="$hz" -v q="$q" -v t="$t" -v ut="$(cat "$out.time")" \
        -v k0="$k0" -v k1="$k1" -v lost="$(field "$out" 'Queries lost')" -v sf="$(rcode_count "$out" SERVFAIL)" \
        -v mi="$(bench_field "$out.result" misses)" -v rx="$(bench_field "$out.result" received)" \
        -v ans="$(bench_field "$out.result" answered)" -v fl="$(bench_field "$out.result" flushes)" \
        -v lat="$(field "$out" 'Average Latency (s)')" '
        BEGIN { split(ut, u, " "); split(k0, a, " "); split(k1, b, " ")
                cs = c / hz
                printf "%.0f %.2f %.2f %.1f %.1f %.0f %d %d %d %d %d %.1f %.0f\n", q / t, 1e6 * cs / q, 1e6 * us / hz / q,
                       100 * cs / t, 100 * (u[1] + u[2]) / t, 100 * (b[1] - a[1]) / (b[2] - a[2]),
                       lost, sf, mi, rx, ans, (fl > 0 ? rx / fl : 0), 1e6 * lat }' >>"$work/$m.rows"
    note "round $i, $m: $(tail -1 "$work/$m.rows" | awk '{ printf "%s QPS, %s us CPU/query, fe CPU %s%%, core '"$cpu"' %s%%, avg lat %sus, %s dg/send, %s lost, %s misses", $1, $2, $4, $6, $13, $12, $7, $9 }')"
}

col() { cut -d' ' -f"$2" "$work/$1.rows"; }
each() { col "$1" "$2" | paste -sd' '; }
sum() { col "$1" "$2" | awk '{ s += $1 } END { print s + 0 }'; }

now="$(date -u '+%Y-%m-%d %H:%M UTC')"
model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
rev="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -z $(git status --porcelain -- Sources Package.swift bench/frontend-bench 2>/dev/null) ]] || rev="$rev + uncommitted changes"
echo "Front-end benchmark, $now: $(nproc) CPUs ($model), kernel $(uname -r); shoal $rev"
echo "lab $lab_dir, prefix $prefix: $n_hit names (lame-ns left out); segment /shoal.$segment.vN warmed by shoal-worker"
echo "frontend-bench on CPU $cpu (batch $batch), dnsperf -l $secs -c 4 -q 256 -t 2 -e on CPU $load_cpu, $rounds round(s), order alternating"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 1; i <= rounds; i++)); do
    # The shortest TTL in the lab is 300 s: warm again before entries could expire mid-round.
    (( $(date +%s) - warmed_at + 2 * (secs + 5) < 280 )) || warm
    if ((i % 2)); then order="nio mmsg"; else order="mmsg nio"; fi
    for m in $order; do run_mode "$m" "$i"; done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

fmt='%-5s %7s  %-40s %8s  %-32s %9s %7s %7s %6s %7s %7s %5s %8s %6s\n'
printf "$fmt" mode QPS "(each round)" "CPU us/q" "(each round)" "user us/q" "fe CPU" "dnsperf" "core $cpu" "avg lat" "dg/send" \
    lost SERVFAIL misses
for m in nio mmsg; do
    printf "$fmt" "$m" "$(col "$m" 1 | median)" "($(each "$m" 1))" "$(col "$m" 2 | median)" "($(each "$m" 2))" \
        "$(col "$m" 3 | median)" "$(col "$m" 4 | median)%" "$(col "$m" 5 | median)%" "$(col "$m" 6 | median)%" \
        "$(col "$m" 13 | median)us" "$(col "$m" 12 | median)" "$(sum "$m" 7)" "$(sum "$m" 8)" "$(sum "$m" 9)"
done
echo "(medians over the rounds; lost, SERVFAIL and misses summed. CPU us/q = frontend-bench's utime+stime /"
echo " dnsperf's completed queries; user us/q = its utime alone; fe CPU / dnsperf = share of one core used by"
echo " frontend-bench / by dnsperf; core N = how busy that CPU was in all, other processes included; avg lat ="
echo " dnsperf's; dg/send = datagrams answered per send to the kernel, nio only (a NIO flush, which follows up"
echo " to 4 recvmmsg calls; 0 for mmsg, the worker's front end, which sends up to 128 answers per sendmmsg"
echo " after up to 4 reads and does not count its sends). Below ~95 % fe CPU on a core that is not otherwise busy,"
echo " the load generator was the limit, and CPU us/q is the fair comparison)"
paste -d' ' <(col mmsg 1) <(col nio 1) <(col mmsg 2) <(col nio 2) | awk -v rounds="$rounds" \
    -v qm="$(col mmsg 1 | median)" -v qn="$(col nio 1 | median)" -v cm="$(col mmsg 2 | median)" -v cn="$(col nio 2 | median)" '
    { r = $1 / $2; c = $3 / $4; rq = rq sprintf("%s%.2f", NR > 1 ? " " : "", r); rc = rc sprintf("%s%.2f", NR > 1 ? " " : "", c)
      if (NR == 1 || r < lq) lq = r; if (NR == 1 || r > hq) hq = r; if (NR == 1 || c < lc) lc = c; if (NR == 1 || c > hc) hc = c }
    END { printf "mmsg / nio: QPS x%.2f, CPU per query x%.2f (ratio of the medians)\n", qm / qn, cm / cn
          printf "  within each round: QPS x(%s), range %.2f-%.2f; CPU per query x(%s), range %.2f-%.2f\n", rq, lq, hq, rc, lc, hc }'
for m in nio mmsg; do
    awk -v m="$m" '{ rx += $10; ans += $11 } END { printf "%s: frontend-bench received %d datagrams, answered %d\n", m, rx, ans }' "$work/$m.rows"
done
