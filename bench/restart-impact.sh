#!/usr/bin/env bash
# Restart impact: what a restart costs clients, second by second, for Shoal and its peers.
#
# Usage (as root, from anywhere):
#   bash bench/restart-impact.sh [--prefix 127.N] [--qps Q] [--seconds S] [--event-at T]
#                                [--only LIST] [--out DIR]
#
#   --prefix P     lab prefix (default 127.60; the lab is brought up in /tmp/shoal-bench-restart-lab-60
#                  and stopped at the end; its directory is kept so later runs skip key generation)
#   --qps Q        fixed query rate (default 3000)
#   --seconds S    length of each run (default 30); --event-at T: when the event happens (default 10)
#   --only LIST    events, comma-separated (default: all of them, below)
#   --out DIR      where the CSV and PNG of each event go (default bench/restart-impact)
# Environment: SHOAL_SCRATCH (swift build scratch path for the release build, default .build);
#   SHOAL_WORKER_EXECUTABLE (another shoal-worker build for shoald to run: an A/B of a change).
#
# Each event: the resolver is started with an empty cache, warmed with every name of the lab
# (lame-ns names left out) once, then bench/restart-load.py sends Q queries a second, cycling
# through those names, and at T seconds the event happens:
#   shoal-kill           shoald with one worker: SIGKILL the worker (shoald replaces it; its
#                        socket keeps the queries queued; the replacement adopts what it was resolving)
#   shoal-restart-worker shoalctl restart-worker 0 (hot replace)
#   shoal-daemon         shoald stopped (SIGTERM) and started again, segment kept
#   shoal-daemon-empty   the same with the segment removed in between (a cold node)
#   shoal-empty-mesh     shoal-daemon-empty with the fleet bridge: a second shoald (node A, on
#                        127.0.N.11, its own segment) and the measured one both run shoal-bridge
#                        to a nats-server on 127.0.0.1; what the measured node learns reaches A,
#                        and the measured node, restarted with its segment removed, warms from A
#   shoal-systemctl      shoald.service under the real systemd (scripts/systemd-container, host
#                        network, installed with scripts/install): `systemctl restart shoald`; the
#                        sockets wait in systemd's fd store while no shoald runs
#   pdns                 pdns-recursor (one thread) stopped and started
#   unbound              unbound (one thread) stopped and started
#   kresd-kill           two kresd processes sharing one cache (SO_REUSEPORT, LMDB): SIGKILL one
#                        (Knot Resolver's own way to survive a process death); not restarted
# Per second: sent, answered, lost (no answer within 2 s), latency p50/p99, upstream queries
# (UDP packets to the lab's /16 counted by an htb class on lo). Output: DIR/EVENT.csv,
# DIR/EVENT.png (matplotlib), and a summary table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

own_lab=1 lab_dir="" prefix="127.60" qps=3000 secs=30 event_at=10 out="bench/restart-impact"
only="shoal-kill,shoal-restart-worker,shoal-daemon,shoal-daemon-empty,shoal-empty-mesh,shoal-systemctl,pdns,unbound,kresd-kill"
while (($#)); do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --qps) qps="$2"; shift 2 ;;
        --seconds) secs="$2"; shift 2 ;;
        --event-at) event_at="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "restart-impact.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
scratch="${SHOAL_SCRATCH:-.build}"
source bench/lib.sh
[[ $(id -u) == 0 ]] || die "needs root (the lab binds port 53; tc on lo)"
for t in dnsperf /usr/sbin/pdns_recursor /usr/sbin/unbound /usr/sbin/kresd nats-server tc jq /usr/bin/python3 swift; do
    command -v "$t" >/dev/null || die "missing $t (Debian: dnsperf pdns-recursor unbound knot-resolver nats-server iproute2 jq python3-matplotlib)"
done

work="$(mktemp -d /tmp/shoal-bench-restart.XXXXXX)"
pids=() tc_handle="" lab_up=0 labbin="" segment="none"
cleanup() {
    local rc=$?
    set +e
    stop_all
    tc_off
    lab_stop
    rm -f "/dev/shm/shoal.$segment".v* "/dev/shm/shoal.$segment-a".v*
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_release shoald shoal-worker shoalctl shoal-lab shoal-bridge
labbin="$bindir/shoal-lab"
lab_start "/tmp/shoal-bench-restart-lab-${prefix#127.}"
segment="bench-restart-$octet"
addr="127.0.$octet.1"
lab_names >"$work/names.txt"
mkdir -p "$out"
tc_on

# Every resolver process of the current event, by pid file, so events can replace them.
stop_all() {
    [[ -e $work/systemd ]] && bash scripts/systemd-container destroy "$work/systemd"
    stop_pidfiles "$work"/*.pid
    pkill -f "$work/" 2>/dev/null || true
    sleep 0.3
}

# Starters: each writes its pid file and returns at once (the resolver is detached).
shoal_config "$addr" "$segment" "$work/control" 0 >"$work/shoal.yaml"
# The mesh: a nats-server on loopback, and the same configuration with a bridge: section for the
# measured node (B) and for node A, its peer.
nats_port=$((14000 + ${prefix#127.}))
start_mesh() {
    start_nats
    # A's control socket (and the bridge's metrics file shoald keeps beside it) in a directory of its own.
    mkdir -p "$work/a"
    mesh_config a "127.0.$octet.11" "$segment-a" "$work/a/control" 1 >"$work/a.yaml"
    mesh_config b "$addr" "$segment" "$work/control" 0 >"$work/b.yaml"
    rm -f "/dev/shm/shoal.$segment-a".v*
    start_shoald "$work/a.yaml" shoald-a "$work/a/control"
    start_shoald "$work/b.yaml"
}
# shoald.service in a systemd container sharing the host's network: installed as documented,
# with the same configuration (its files copied in: the container has its own /run).
start_shoald_systemd() {
    local sd="$work/systemd" r
    bash scripts/systemd-container boot "$sd" basic.target host-network >/dev/null
    r="/proc/$(cat "$sd/pid1")/root"
    bash scripts/systemd-container run "$sd" bash "$PWD/scripts/install" --from "$bindir" >>"$work/install.log" 2>&1
    install -m 0644 "$hints" "$r/etc/shoal/hints"
    sed -e "s|^root-hints: .*|root-hints: /etc/shoal/hints|" -e "s|^control-socket: .*|control-socket: /run/shoal/control|" \
        "$work/shoal.yaml" >"$r/etc/shoal/shoal.yaml"
    mkdir -p "$r/etc/systemd/system/shoald.service.d"
    printf '[Service]\nStandardOutput=append:/run/shoald.log\nStandardError=inherit\n' >"$r/etc/systemd/system/shoald.service.d/bench.conf"
    bash scripts/systemd-container run "$sd" systemctl daemon-reload
    bash scripts/systemd-container run "$sd" systemctl start shoald || die "shoald.service did not start: $(tail -5 "$r/run/shoald.log")"
}
mkdir -p "$work/pdns" "$work/unbound" "$work/kresd/cache" "$work/kresd/a" "$work/kresd/b"
cat >"$work/pdns/recursor.conf" <<CONF
local-address=$addr
local-port=53
threads=1
pdns-distributes-queries=no
hint-file=$hints
dont-query=
allow-from=127.0.0.0/8
dnssec=off
socket-dir=$work/pdns
daemon=no
write-pid=no
disable-syslog=yes
quiet=yes
loglevel=3
security-poll-suffix=
max-cache-entries=4000000
CONF
start_pdns() {
    setsid taskset -c 0 /usr/sbin/pdns_recursor --config-dir="$work/pdns" >>"$work/pdns.log" 2>&1 </dev/null &
    echo $! >"$work/pdns.pid"
}
cat >"$work/unbound/unbound.conf" <<CONF
server:
    interface: $addr
    port: 53
    num-threads: 1
    do-daemonize: no
    use-syslog: no
    chroot: ""
    username: ""
    pidfile: "$work/unbound/unbound.pid"
    root-hints: "$hints"
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    msg-cache-size: 256m
    rrset-cache-size: 256m
    verbosity: 0
CONF
start_unbound() {
    setsid taskset -c 0 /usr/sbin/unbound -d -c "$work/unbound/unbound.conf" >>"$work/unbound.log" 2>&1 </dev/null &
    echo $! >"$work/unbound.pid"
}
cat >"$work/kresd/kresd.conf" <<CONF
net.listen('$addr', 53, { kind = 'dns' })
modules.unload('ta_update')
modules.unload('ta_signal_query')
modules.unload('priming')
modules.unload('detect_time_skew')
trust_anchors.remove('.')
option('ALLOW_LOCAL', true)
modules.load('hints > iterate')
hints.root_file('$hints')
cache.open(256 * MB, 'lmdb://$work/kresd/cache')
CONF
start_kresd() { # instance a or b, CPU
    (cd "$work/kresd/$1" && setsid taskset -c "$2" /usr/sbin/kresd -n -c "$work/kresd/kresd.conf" "$work/kresd/$1" \
        >>"$work/kresd-$1.log" 2>&1 </dev/null & echo $! >"$work/kresd-$1.pid")
}

# The event of each run, as a script restart-load.py starts at T seconds.
event_script() { # event -> path
    local e="$1" f="$work/event-$1.sh"
    {
        echo "#!/usr/bin/env bash"
        echo "exec >>'$work/event.log' 2>&1"
        echo "$(declare -f die note start_shoald start_pdns start_unbound)"
        echo "work='$work' bindir='$bindir' segment='$segment' bench_name=event"
        case "$e" in
        shoal-kill) echo "kill -KILL \$('$bindir/shoalctl' status --json --control-socket '$work/control' | jq '.workers[0].pid')" ;;
        shoal-restart-worker) echo "'$bindir/shoalctl' restart-worker 0 --control-socket '$work/control'" ;;
        shoal-daemon|shoal-daemon-empty|shoal-empty-mesh)
            echo "p=\$(cat '$work/shoald.pid'); kill -TERM \$p; while kill -0 \$p 2>/dev/null; do sleep 0.01; done"
            [[ $e != shoal-daemon ]] && echo "rm -f /dev/shm/shoal.$segment.v*"
            if [[ $e == shoal-empty-mesh ]]; then echo "start_shoald '$work/b.yaml'"; else echo "start_shoald"; fi ;;
        pdns) echo "p=\$(cat '$work/pdns.pid'); kill -TERM \$p; while kill -0 \$p 2>/dev/null; do sleep 0.01; done; start_pdns" ;;
        unbound) echo "p=\$(cat '$work/unbound.pid'); kill -TERM \$p; while kill -0 \$p 2>/dev/null; do sleep 0.01; done; start_unbound" ;;
        kresd-kill) echo "kill -KILL \$(cat '$work/kresd-a.pid')" ;;
        shoal-systemctl) echo "bash '$PWD/scripts/systemd-container' run '$work/systemd' systemctl restart shoald" ;;
        esac
    } >"$f"
    chmod +x "$f"
    echo "$f"
}

printf '%-22s %7s %8s %6s %9s %10s %9s %9s\n' event sent answered lost "slow>100ms" "upstream" "before" "after"
for e in ${only//,/ }; do
    stop_all
    rm -f "/dev/shm/shoal.$segment".v*
    rm -rf "$work/kresd/cache"/*
    rm -f "/dev/shm/shoal.$segment-a".v*
    case "$e" in
    shoal-systemctl) start_shoald_systemd ;;
    shoal-empty-mesh) start_mesh ;;
    shoal-*) start_shoald ;;
    pdns) start_pdns ;;
    unbound) start_unbound ;;
    kresd-kill) start_kresd a 0; start_kresd b 1 ;;
    *) die "unknown event $e" ;;
    esac
    sleep 1
    note "$e: warming"
    dnsperf -s "$addr" -d "$work/names.txt" -n 1 -c 1 -q 64 -t 5 >"$work/warm-$e" 2>&1 || true
    sleep 1
    note "$e: $secs s at $qps q/s, event at $event_at s"
    summary=$(/usr/bin/python3 bench/restart-load.py "$addr" "$qps" "$secs" "$work/names.txt" "$event_at" \
        "$(event_script "$e")" "$out/$e.csv" "${tc_handle:+$tc_handle:1}")
    # Upstream queries in the 10 s before and after the event.
    before=$(awk -F, -v t="$event_at" 'NR > 1 && $1 >= t - 10 && $1 < t { s += $7 } END { print s + 0 }' "$out/$e.csv")
    after=$(awk -F, -v t="$event_at" 'NR > 1 && $1 >= t && $1 < t + 10 { s += $7 } END { print s + 0 }' "$out/$e.csv")
    eval "$(echo "$summary" | tr ' ' '\n' | sed 's/^/s_/')"
    printf '%-22s %7s %8s %6s %9s %10s %9s %9s\n' "$e" "$s_sent" "$s_answered" "$s_lost" "$s_slow100ms" "$s_upstream" "$before" "$after"
done
stop_all
/usr/bin/python3 bench/restart-plot.py "$event_at" "$out"/*.csv
echo "(per event: $out/EVENT.csv and $out/EVENT.png; lost = no answer within 2 s; slow = answered after more than 100 ms;"
echo " upstream = queries to the lab's authoritative servers during the run, before/after = in the 10 s before and after the event)"
