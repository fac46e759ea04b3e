#!/usr/bin/env bash
# Resolver benchmark: one shoal-worker against one thread of pdns-recursor and of unbound, each
# pinned to the same CPU, resolving the same lab hierarchy with the same query file.
#
# Usage (as root, from anywhere):
#   bash bench/resolver.sh [--lab DIR] [--prefix 127.N] [--seconds S] [--rounds R]
#                          [--cpu N] [--load-cpu N[,N...]] [--loaders N]
#                          [--only shoal,pdns,unbound] [--dnssec]
#
#   --lab DIR      use a lab that is already up in DIR (its prefix is read from DIR/lab.json);
#                  it is left running. Without it, the script brings up its own lab in
#                  /tmp/shoal-bench-resolver-lab-58 (prefix 127.58) and stops it at the end; the
#                  directory (cached keys, zones) is kept so that later runs skip key generation.
#   --prefix P     prefix of the lab the script brings up (default 127.58).
#   --seconds S    length of one cache-hit dnsperf run (default 10).
#   --rounds R     cache-hit rounds, interleaved over the resolvers; the median is reported (5).
#   --cpu N        CPU every resolver is pinned to (default 0).
#   --load-cpu L   CPU dnsperf is pinned to (default 1); a comma-separated list pins the hit
#                  phase's dnsperf processes to its CPUs in turn (the first CPU is used for the
#                  cold and warm-up runs, and for shoald2's second worker).
#   --loaders N    dnsperf processes run at once against each resolver in the hit phase, each
#                  with the same flags (default 1); QPS is their sum, CPU per query the
#                  resolver's CPU over the sum of their completed queries. On a 2-core machine
#                  with the resolver pinned to one core, extra dnsperf processes share the other
#                  core (or, given --load-cpu 0,1, the resolver's): they add outstanding queries,
#                  not load-generating CPU, so they can show whether one dnsperf's latency was
#                  the limit, not what a resolver core sustains under more load than one core
#                  of dnsperf makes.
#   --only LIST    subset of resolvers, comma-separated (default shoal,pdns,unbound; also shoald and
#                  shoald2: the worker under the supervisor with one worker, or two; and bare:
#                  `frontend-bench --mode bare`, a recvmmsg/sendmmsg loop that answers each query
#                  with the query itself, QR and RA set and RCODE 0, and does nothing else: the
#                  socket work any UDP front end pays, its floor. bare takes part in the hit
#                  phase only, unwarmed).
#   --dnssec       every resolver validates, from the lab's trust anchor (shoal: `dnssec:
#                  validate`, its default; unbound: module-config "validator iterator"; pdns-recursor:
#                  dnssec=validate), and the rcodes are checked against what validation gives
#                  (SERVFAIL for the lab's bogus names). Without it, none validates (below).
# Environment:
#   SHOAL_SCRATCH  swift build scratch path for the release build (default .build).
#
# What it measures (DESIGN.md, "Performance"):
#   COLD  each resolver freshly started with an empty cache receives every name of the lab's
#         expected.jsonl once (dnsperf -n 1): wall time, its CPU time, upstream queries, rcodes
#         (checked name by name against expected.jsonl on the passes with 32 outstanding: dnsperf
#         -v, which that check needs, slows dnsperf itself at one outstanding). Three runs: the
#         full set with 32 queries outstanding; the set without the lame-ns names (whose
#         black-hole server makes the wall time a measure of each resolver's timeout policy), 32
#         outstanding; the same, one at a time (so that no two resolutions overlap and share or
#         duplicate upstream work).
#         Upstream queries are counted in the kernel: for the cold runs only, an htb qdisc on lo
#         classifies UDP packets to <prefix>.0.0/16 port 53 (and TCP SYNs to it) into classes
#         whose packet counters are read before and after each run (DESIGN, "Platform notes";
#         this kernel has no iptables/nft userland and no tc actions). If lo already has a root
#         qdisc that is not ours, the counts are reported as n/a.
#   HIT   each resolver warmed with the name set (lame-ns names left out), then dnsperf for S
#         seconds per round with that file: QPS, average latency, lost queries, and the
#         resolver's CPU per completed query (utime+stime from /proc/PID/stat, all threads).
#         One dnsperf on one core saturates near the rate one resolver core sustains, so the
#         resolver's CPU share and dnsperf's are printed too: a resolver below ~90 % of its
#         core was limited by the load generator, and CPU per query is then the fair figure.
#         After the table: each shoal row's QPS and CPU per query against pdns-recursor's,
#         unbound's and the bare loop's (how far the worker is from the socket work alone).
#
# All three do the same work: no DNSSEC validation unless --dnssec (shoal-worker and shoald run
# with --dnssec off / `dnssec: off`, though shoal validates by default; unbound runs
# module-config "iterator", pdns-recursor dnssec=off), QNAME minimisation on (the default of
# all three), aggressive NSEC with validation (the default of all three), caches far larger
# than the data, one thread each. Only 127.0.0.0/8 is queried.
# Output: the tables on stdout, progress on stderr; temporary files are removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

lab_dir="" own_lab=1 prefix="127.58" secs=10 rounds=5 cpu=0 load_cpu=1 loaders=1 only="shoal,pdns,unbound" dnssec=0
while (($#)); do
    case "$1" in
        --lab) lab_dir="$2"; own_lab=0; shift 2 ;;
        --prefix) prefix="$2"; shift 2 ;;
        --seconds) secs="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --cpu) cpu="$2"; shift 2 ;;
        --load-cpu) load_cpu="$2"; shift 2 ;;
        --loaders) loaders="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --dnssec) dnssec=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "resolver.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
scratch="${SHOAL_SCRATCH:-.build}"
source bench/lib.sh
[[ $prefix =~ ^127\.[0-9]{1,3}$ ]] || { echo "resolver.sh: --prefix $prefix: expected 127.N" >&2; exit 2; }
[[ $loaders =~ ^[1-9][0-9]*$ ]] || { echo "resolver.sh: --loaders $loaders: expected a positive integer" >&2; exit 2; }
[[ $load_cpu =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "resolver.sh: --load-cpu $load_cpu: expected N or N,N,..." >&2; exit 2; }
IFS=, read -r -a load_cpus <<<"$load_cpu"
load_cpu="${load_cpus[0]}"   # cold and warm-up runs, shoald2's second worker
# The distinct CPUs of the hit phase's dnsperf processes (their busy share is reported).
mapfile -t load_cores < <(printf '%s\n' "${load_cpus[@]::loaders}" | sort -nu)

[[ $(id -u) == 0 ]] || die "needs root (the lab binds port 53; tc on lo)"
for t in dnsperf /usr/sbin/pdns_recursor /usr/sbin/unbound tc jq taskset ss swift; do
    command -v "$t" >/dev/null || die "missing $t (Debian: dnsperf pdns-recursor unbound iproute2 jq util-linux)"
done

work="$(mktemp -d /tmp/shoal-bench-resolver.XXXXXX)"
pids=()           # resolvers we started
tc_handle=""      # set while our qdisc is installed on lo
lab_up=0 labbin="" segment="none"
cleanup() {
    local rc=$?
    set +e
    for p in "${pids[@]}"; do stop_pid "$p"; done
    declare -F tc_off >/dev/null && tc_off
    lab_stop
    rm -f "/dev/shm/shoal.$segment".v* "/dev/shm/shoal.$segment"-shoald*.v*
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build --------------------------------------------------------------------------------------
products=(shoal-worker shoal-lab shoald)
[[ ,$only, == *,bare,* ]] && products+=(frontend-bench)
build_release "${products[@]}"
workerbin="$bindir/shoal-worker" labbin="$bindir/shoal-lab" shoaldbin="$bindir/shoald" benchbin="$bindir/frontend-bench"

# --- lab ----------------------------------------------------------------------------------------
lab_start "/tmp/shoal-bench-resolver-lab-${prefix#127.}"
segment="bench-resolver-$octet"
# Resolvers listen outside the lab's /16, so the upstream counters never see client traffic.
declare -A addr=([shoal]="127.0.$octet.1" [pdns]="127.0.$octet.2" [unbound]="127.0.$octet.3"
                 [shoald]="127.0.$octet.4" [shoald2]="127.0.$octet.5" [bare]="127.0.$octet.6")
declare -A label=([shoal]="shoal-worker" [shoald]="shoald, 1 worker" [shoald2]="shoald, 2 workers" [pdns]="pdns-recursor $(dpkg-query -W -f='${Version}' pdns-recursor 2>/dev/null | cut -d- -f1)"
                  [bare]="bare recvmmsg loop"
                  [unbound]="unbound $(dpkg-query -W -f='${Version}' unbound 2>/dev/null | cut -d- -f1)")
IFS=, read -r -a resolvers <<<"$only"
for r in "${resolvers[@]}"; do [[ -n ${addr[$r]:-} ]] || die "--only: unknown resolver $r"; done

# --- query files ----------------------------------------------------------------------------------
jq -r '"\(.qname) \(.qtype)"' "$lab_dir/expected.jsonl" >"$work/all.txt"
jq -r 'select(.features | index("lame-ns") | not) | "\(.qname) \(.qtype)"' "$lab_dir/expected.jsonl" >"$work/hit.txt"
# With validation, the lab's bogus names are SERVFAIL.
jq -r --argjson v "$dnssec" '"\(.qname) \(.qtype) \(if $v == 1 and .dnssec == "bogus" then "SERVFAIL" else .rcode end)"' \
    "$lab_dir/expected.jsonl" >"$work/expected-rcodes.txt"
# The validation settings of each resolver.
anchor="$lab_dir/root.ds"
if ((dnssec)); then
    [[ -r $anchor ]] || die "no trust anchor $anchor in the lab"
    shoal_dnssec=(--dnssec validate --trust-anchor "$anchor")
    shoald_dnssec="dnssec: validate\ntrust-anchor: $anchor"
    pdns_dnssec="dnssec=validate"
    unbound_modules="validator iterator"
else
    shoal_dnssec=(--dnssec off)
    shoald_dnssec="dnssec: off"
    pdns_dnssec="dnssec=off"
    unbound_modules="iterator"
fi
n_all=$(wc -l <"$work/all.txt") n_hit=$(wc -l <"$work/hit.txt")

# --- resolvers ----------------------------------------------------------------------------------
start_resolver() { # name -> sets $pid
    local r="$1" a="${addr[$1]}" d="$work/$1"
    rm -rf "$d"; mkdir -p "$d"
    case "$r" in
    shoal)
        rm -f "/dev/shm/shoal.$segment".v*
        taskset -c "$cpu" "$workerbin" --listen "$a:53" --root-hints "$hints" --segment "$segment" \
            --segment-size 256 --do-not-query-localhost false --log-level warning \
            "${shoal_dnssec[@]}" >"$d/log" 2>&1 &   # as for the peers here (see above)
        ;;
    shoald|shoald2)
        # The same worker under shoald: one worker on the resolvers' CPU, or two (the second on
        # the load generator's CPU: a 2-core machine has no third).
        # A segment of its own: removing another resolver's would make its workers exit (their
        # segment's name gone) and restart on a new one.
        rm -f "/dev/shm/shoal.$segment-$r".v*
        local n=1 cpus="$cpu"
        [[ $r == shoald2 ]] && n=2 cpus="$cpu,$load_cpu"
        # Validation as for the peers (see above).
        printf 'listen: ["%s:53"]\nroot-hints: %s\nsegment: %s-%s\nsegment-size: 256\nlog-level: warning\nworkers: %s\ncpus: "%s"\ncontrol-socket: %s/control\ndo-not-query-localhost: false\n%b\n' \
            "$a" "$hints" "$segment" "$r" "$n" "$cpus" "$d" "$shoald_dnssec" >"$d/shoal.yaml"
        "$shoaldbin" --config "$d/shoal.yaml" >"$d/log" 2>&1 &
        ;;
    pdns)
        cat >"$d/recursor.conf" <<EOF
local-address=$a
local-port=53
threads=1
pdns-distributes-queries=no
reuseport=no
hint-file=$hints
dont-query=
allow-from=127.0.0.0/8
$pdns_dnssec
lua-config-file=$d/recursor.lua
socket-dir=$d
daemon=no
write-pid=no
disable-syslog=yes
quiet=yes
loglevel=3
log-common-errors=no
statistics-interval=0
security-poll-suffix=
max-cache-entries=4000000
max-packetcache-entries=2000000
EOF
        # The lab's root anchor instead of the Internet's (used only with dnssec=validate).
        printf 'clearTA(".")\naddTA(".", "%s")\n' "$(awk '$3 == "DS" { $1 = $2 = $3 = ""; sub(/^ +/, ""); print }' "$anchor")" >"$d/recursor.lua"
        taskset -c "$cpu" /usr/sbin/pdns_recursor --config-dir="$d" >"$d/log" 2>&1 &
        ;;
    unbound)
        cat >"$d/unbound.conf" <<EOF
server:
    interface: $a
    port: 53
    num-threads: 1
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$d"
    pidfile: "$d/unbound.pid"
    use-syslog: no
    logfile: "$d/log"
    verbosity: 0
    do-ip6: no
    do-not-query-localhost: no
    root-hints: "$hints"
    module-config: "$unbound_modules"
    $( ((dnssec)) && echo "trust-anchor-file: \"$anchor\"" || true )
    access-control: 127.0.0.0/8 allow
    msg-cache-size: 256m
    rrset-cache-size: 512m
    so-rcvbuf: 4m
    so-sndbuf: 4m
remote-control:
    control-enable: no
EOF
        taskset -c "$cpu" /usr/sbin/unbound -d -c "$d/unbound.conf" >"$d/stdout" 2>&1 &
        ;;
    bare)
        # No cache, no engine: the socket work alone (frontend-bench --mode bare, 64 per batch).
        taskset -c "$cpu" "$benchbin" --mode bare --listen "$a:53" >"$d/stdout" 2>"$d/log" &
        ;;
    esac
    pid=$!
    pids+=("$pid")
    local i
    for i in $(seq 100); do
        if ss -Hunl "src $a:53" 2>/dev/null | grep -q .; then
            # shoald binds before its workers start: wait until one answers, so that neither
            # the wall time nor the CPU of a run includes a worker's start-up.
            [[ $r == shoald* ]] || return 0
            dig +tries=1 +time=1 @"$a" version.bind CH TXT >/dev/null 2>&1 && return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$d/log" "$d/stdout" 2>/dev/null | tail -20 >&2
    die "${label[$r]} did not start listening on $a:53"
}
stop_resolver() { # pid
    stop_pid "$1"
    forget_pid "$1"
}

# Cold run of one resolver over one query file: prints one table row.
cold_fmt='%-22s %-8s %5s %3s %7s %6s %9s %4s %8s %8s %8s %5s %5s\n'
cold_run() { # name, set-name, file, outstanding queries
    local r="$1" set="$2" file="$3" q="$4" out="$work/cold-$1-$2-$4"
    start_resolver "$r"
    local u0 t0 u1 t1 c0 c1
    u0=$(tc_packets 1) t0=$(tc_packets 2) c0=$(cpu_ticks "$pid")
    # -v (one line per answer, for the name-by-name check) slows dnsperf itself: at one query
    # outstanding it stretched every resolver's wall time 2-4x, more than their differences. So
    # the one-at-a-time pass runs without it; the passes with 32 outstanding (where -v made no
    # measurable difference) check every answer of the same names.
    local verbose=-v
    ((q > 1)) || verbose=""
    taskset -c "$load_cpu" dnsperf -s "${addr[$r]}" -d "$file" -n 1 -c 1 -q "$q" -t 15 -e $verbose >"$out" 2>&1 || true
    sleep 1 # late upstream queries of the last resolutions
    u1=$(tc_packets 1) t1=$(tc_packets 2) c1=$(cpu_ticks "$pid")
    stop_resolver "$pid"
    local up="n/a" tcp="n/a"
    [[ $u0 == n/a ]] || up=$((u1 - u0))
    [[ $t0 == n/a ]] || tcp=$((t1 - t0))
    # Per-query lines of dnsperf -v: "> RCODE qname qtype latency"; compare with expected.jsonl.
    awk 'NR == FNR { want[$1 " " $2] = $3; next }
         $1 == ">" { got = $2; key = $3 " " $4; if (key in want && want[key] != got) print got, key, "(expected " want[key] ")" }' \
        "$work/expected-rcodes.txt" "$out" >"$out.wrong"
    local wrong; wrong=$(wc -l <"$out.wrong")
    [[ -n $verbose ]] || wrong="n/a"
    printf "$cold_fmt" "${label[$r]}" "$set" "$(wc -l <"$file")" "$q" \
        "$(field "$out" 'Run time (s)' | awk '{ printf "%.2f", $1 }')" "$(awk -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.2f", c / hz }')" \
        "$up" "$tcp" "$(rcode_count "$out" NOERROR)" \
        "$(rcode_count "$out" NXDOMAIN)" "$(rcode_count "$out" SERVFAIL)" "$(field "$out" 'Queries lost')" \
        "$wrong"
}


# --- run ------------------------------------------------------------------------------------------
now="$(date -u '+%Y-%m-%d %H:%M UTC')"
model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
rev="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -z $(git status --porcelain -- Sources Package.swift bench/frontend-bench 2>/dev/null) ]] || rev="$rev + uncommitted changes"
echo "Resolver benchmark, $now: $(nproc) CPUs ($model), kernel $(uname -r); shoal $rev"
echo "lab $lab_dir, prefix $prefix: $n_all names ($n_hit without lame-ns); resolvers on CPU $cpu, dnsperf on CPU $load_cpu"
if ((dnssec)); then echo "DNSSEC validation ON for every resolver (lab trust anchor $anchor)"; else echo "DNSSEC validation off for every resolver"; fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "COLD: fresh resolver, each name once (dnsperf -n 1 -e, timeout 15 s, 'q' queries outstanding);"
echo "      upstream = UDP packets to $prefix.0.0/16 port 53, TCP = SYNs to it; CPU s = the resolver's utime+stime"
printf "$cold_fmt" resolver "set" names q "wall s" "CPU s" "upstream" "TCP" NOERROR NXDOMAIN SERVFAIL lost wrong
tc_on
for run in all:32 no-lame:32 no-lame:1; do
    set="${run%:*}" q="${run#*:}"
    [[ $set == all ]] && f="$work/all.txt" || f="$work/hit.txt"
    for r in "${resolvers[@]}"; do [[ $r == bare ]] || cold_run "$r" "$set" "$f" "$q"; done
done
tc_off
printf "$cold_fmt" "expected" "all" "$n_all" "" "" "" "" "" \
    "$(awk '$3 == "NOERROR"' "$work/expected-rcodes.txt" | wc -l)" "$(awk '$3 == "NXDOMAIN"' "$work/expected-rcodes.txt" | wc -l)" \
    "$(awk '$3 == "SERVFAIL"' "$work/expected-rcodes.txt" | wc -l)" 0 0
echo "('wrong' = answers whose rcode differs from expected.jsonl, checked on the passes with 32 outstanding;"
echo " 'no-lame' leaves out the $((n_all - n_hit)) lame-ns names)"
for f in "$work"/cold-*.wrong; do
    [[ -s $f ]] || continue
    n="${f#"$work"/cold-}"
    echo "  ${n%.wrong}: $(wc -l <"$f") wrong, e.g. $(head -3 "$f" | paste -sd ';' | sed 's/;/; /g')"
done
echo

note "cache-hit phase: warming"
declare -A hpid
for r in "${resolvers[@]}"; do
    start_resolver "$r"
    hpid[$r]=$pid
    [[ $r == bare ]] && continue   # nothing to warm
    taskset -c "$load_cpu" dnsperf -s "${addr[$r]}" -d "$work/hit.txt" -n 2 -c 1 -q 32 -t 15 -e >"$work/warm-$r" 2>&1 || true
done

# The hit phase's load: --loaders dnsperf processes at once, pinned to the --load-cpu list in
# turn; output in PREFIX.1 ... PREFIX.N. Run it in a subshell (its `wait`s are for these alone).
run_loaders() { # address, output prefix
    local j lp=()
    for ((j = 1; j <= loaders; j++)); do
        taskset -c "${load_cpus[(j - 1) % ${#load_cpus[@]}]}" \
            dnsperf -s "$1" -d "$work/hit.txt" -l "$secs" -c 4 -q 256 -t 2 -e >"$2.$j" 2>&1 &
        lp+=($!)
    done
    for j in "${lp[@]}"; do wait "$j" || true; done
}
# "busy total" jiffies summed over the hit phase's load CPUs.
load_jiffies() {
    local c
    for c in "${load_cores[@]}"; do core_jiffies "$c"; done | awk '{ b += $1; t += $2 } END { print b, t }'
}
load_label="core $(IFS=,; echo "${load_cores[*]}")"
if ((loaders == 1)); then
    echo "HIT: warm cache, dnsperf -l $secs -c 4 -q 256 -e on the $n_hit-name file (CPU ${load_cpus[0]}), $rounds round(s) interleaved, median"
else
    echo "HIT: warm cache, $loaders dnsperf processes at once, each -l $secs -c 4 -q 256 -e on the $n_hit-name file (CPUs" \
        "$(for ((j = 0; j < loaders; j++)); do echo "${load_cpus[j % ${#load_cpus[@]}]}"; done | paste -sd,)), $rounds round(s) interleaved, median"
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 1; i <= rounds; i++)); do
    for r in "${resolvers[@]}"; do
        out="$work/hit-$r-$i"
        c0=$(cpu_ticks "${hpid[$r]}") s0=$(user_ticks "${hpid[$r]}") k0=$(core_jiffies "$cpu") l0=$(load_jiffies)
        TIMEFORMAT='%U %S'
        { time (run_loaders "${addr[$r]}" "$out"); } 2>"$out.time"
        c1=$(cpu_ticks "${hpid[$r]}") s1=$(user_ticks "${hpid[$r]}") k1=$(core_jiffies "$cpu") l1=$(load_jiffies)
        # One line per dnsperf: completed, run time, lost, SERVFAIL, average latency, response size.
        for ((j = 1; j <= loaders; j++)); do
            f="$out.$j"
            echo "$(field "$f" 'Queries completed') $(field "$f" 'Run time (s)') $(field "$f" 'Queries lost')" \
                "$(rcode_count "$f" SERVFAIL) $(field "$f" 'Average Latency (s)')" \
                "$(sed -n 's/^ *Average packet size:.*response *\([0-9]*\).*/\1/p' "$f" | head -1)"
        done >"$out.each"
        awk '$1 > 0 && $2 > 0 { n++ } END { exit n == NR ? 0 : 1 }' "$out.each" \
            || { tail -20 "$out.1" >&2; die "a dnsperf against ${label[$r]} completed no query (round $i)"; }
        # qps, cpu-us/query, resolver cpu%, dnsperf cpu%, resolver core busy%, load cores busy%, user-us/query;
        # QPS summed over the loaders, CPU shares over the longest run time.
        awk -v c=$((c1 - c0)) -v us=$((s1 - s0)) -v hz="$hz" -v ut="$(cat "$out.time")" \
            -v k0="$k0" -v k1="$k1" -v l0="$l0" -v l1="$l1" '
            { q += $1; qps += $1 / $2; if ($2 > t) t = $2 }
            END { split(ut, u, " "); split(k0, a, " "); split(k1, b, " "); split(l0, x, " "); split(l1, y, " ")
                  cs = c / hz
                  printf "%.1f %.2f %.1f %.1f %.0f %.0f %.2f\n", qps, 1e6 * cs / q, 100 * cs / t, 100 * (u[1] + u[2]) / t,
                         100 * (b[1] - a[1]) / (b[2] - a[2]), 100 * (y[1] - x[1]) / (y[2] - x[2]), 1e6 * us / hz / q }' \
            "$out.each" >>"$work/hit-$r.rows"
        # average latency (weighted by completed queries), lost, SERVFAIL, average response size
        awk '{ q += $1; lat += $1 * $5; lost += $3; sf += $4; size += $1 * $6 }
             END { printf "%.6f %d %d %.0f\n", lat / q, lost, sf, size / q }' "$out.each" >>"$work/hit-$r.extra"
    done
done
hit_fmt='%-22s %7s %-36s %7s %5s %8s %6s %9s %9s %8s %8s %7s %7s\n'
printf "$hit_fmt" resolver "QPS" "(each round)" "avg lat" lost SERVFAIL "resp B" "CPU us/q" "user us/q" "res CPU" "perf CPU" "core $cpu" "$load_label"
# The median, printed with a format (an even number of rounds averages the middle two).
medf() { median | awk -v f="$1" '$1 == "n/a" { print; next } { printf f, $1 }'; }
declare -A qps cpq
for r in "${resolvers[@]}"; do
    rows="$work/hit-$r.rows" extra="$work/hit-$r.extra"
    qps[$r]=$(cut -d' ' -f1 "$rows" | median)
    cpq[$r]=$(cut -d' ' -f2 "$rows" | median)
    printf "$hit_fmt" "${label[$r]}" "$(printf '%.0f' "${qps[$r]}")" \
        "($(cut -d' ' -f1 "$rows" | awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $1 }'))" \
        "$(cut -d' ' -f1 "$extra" | median | awk '{ printf "%.0fus", $1 * 1e6 }')" \
        "$(cut -d' ' -f2 "$extra" | awk '{ s += $1 } END { print s }')" \
        "$(cut -d' ' -f3 "$extra" | awk '{ s += $1 } END { print s }')" \
        "$(cut -d' ' -f4 "$extra" | median)" \
        "$(medf %.2f <<<"${cpq[$r]}")" "$(cut -d' ' -f7 "$rows" | medf %.2f)" "$(cut -d' ' -f3 "$rows" | medf %.1f%%)" \
        "$(cut -d' ' -f4 "$rows" | medf %.1f%%)" "$(cut -d' ' -f5 "$rows" | medf %.0f%%)" "$(cut -d' ' -f6 "$rows" | medf %.0f%%)"
done
echo "(medians over the rounds; lost and SERVFAIL summed. QPS = the sum over the dnsperf processes;"
echo " resp B = dnsperf's average response size (the bare loop's answer is the query itself); CPU us/q ="
echo " resolver utime+stime / completed queries, user us/q = its utime alone (the resolver's own code; the"
echo " rest is the kernel's socket and loopback work); res CPU / perf CPU = share of one core used by the"
echo " resolver / by dnsperf (all processes summed); core N = how busy that CPU was in all, other processes"
echo " included. A resolver well below 100 % on a core that is not otherwise busy was limited by the load"
echo " generator, and CPU us/q is then the fair comparison)"
for s in shoal shoald shoald2; do
    [[ -n ${qps[$s]:-} ]] || continue
    for r in pdns unbound bare; do
        [[ -n ${qps[$r]:-} ]] || continue
        awk -v a="${qps[$s]}" -v b="${qps[$r]}" -v ca="${cpq[$s]}" -v cb="${cpq[$r]}" -v m="${label[$s]}" -v n="${label[$r]}" \
            'BEGIN { printf "%s / %s: QPS x%.2f, CPU per query x%.2f\n", m, n, a / b, ca / cb }'
    done
done
for r in pdns unbound; do
    [[ -n ${qps[$r]:-} && -n ${qps[bare]:-} ]] || continue
    awk -v ca="${cpq[bare]}" -v cb="${cpq[$r]}" -v n="${label[$r]}" \
        'BEGIN { printf "bare recvmmsg loop / %s: CPU per query x%.2f (the least any front end could reach)\n", n, ca / cb }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
