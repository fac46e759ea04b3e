# Shared by the benchmark scripts (bench/*.sh) and scripts/demo; sourced after `cd` to
# the repository. Expects: $work (a temporary directory), $scratch (swift build scratch path),
# $own_lab, $lab_dir and $prefix (lab options), and an array pids=() of processes to stop.
# shellcheck shell=bash

bench_name="$(basename "$0")"
note() { echo "# $*" >&2; }
die() { echo "$bench_name: $*" >&2; exit 1; }

# Stops a process: TERM, then KILL after 5 s; reaps it.
stop_pid() {
    local p="$1" i
    kill -TERM "$p" 2>/dev/null || return 0
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}
# Removes a stopped process from pids.
forget_pid() {
    local keep=() p
    for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    pids=("${keep[@]}")
}

# Builds products in release; sets bindir.
build_release() { # product...
    local p attempt
    note "building $* (release, scratch path $scratch)"
    for p in "$@"; do
        for attempt in 1 2 3; do # sources edited during the build make swift build fail; try again
            if swift build -c release --scratch-path "$scratch" --product "$p" >"$work/build-$p.log" 2>&1; then break; fi
            grep -q 'was modified during the build' "$work/build-$p.log" && ((attempt < 3)) && continue
            tail -30 "$work/build-$p.log" >&2; die "build of $p failed"
        done
    done
    bindir="$(swift build -c release --scratch-path "$scratch" --show-bin-path)"
}

# Brings up the lab in $1 (own lab), or checks the one given with --lab and reads its prefix;
# sets lab_dir, prefix, lab_up, hints, octet. $labbin must be set.
lab_start() { # default directory
    if ((own_lab)); then
        lab_dir="$1"
        note "bringing up the lab in $lab_dir (prefix $prefix)"
        lab_up=1
        "$labbin" up --dir "$lab_dir" --prefix "$prefix" >"$work/lab-up.log" 2>&1 \
            || { tail -30 "$work/lab-up.log" >&2; die "shoal-lab up failed"; }
    else
        lab_dir="$(cd "$lab_dir" && pwd)"
        prefix="$(jq -r .addressPrefix "$lab_dir/lab.json")"
        "$labbin" status --dir "$lab_dir" >/dev/null || die "the lab in $lab_dir is not up"
    fi
    hints="$lab_dir/root.hints"
    [[ -s $hints && -s $lab_dir/expected.jsonl ]] || die "$lab_dir has no root.hints or expected.jsonl"
    octet="${prefix#127.}"
}
# Stops a lab this script brought up (nsd exits a little after shoal-lab down returns).
lab_stop() {
    ((own_lab && lab_up)) || return 0
    "$labbin" down --dir "$lab_dir" >/dev/null 2>&1
    local i
    for i in $(seq 50); do pgrep -f "$lab_dir/" >/dev/null || break; sleep 0.1; done
}

# The lab's names as "qname qtype" lines (lame-ns names left out: they only time out).
lab_names() {
    jq -r 'select(.features | index("lame-ns") | not) | "\(.qname) \(.qtype)"' "$lab_dir/expected.jsonl"
}

# shoald on the lab (bench/restart-impact.sh, scripts/demo). Expects $work, $bindir, $hints.
shoal_config() { # listen address, segment, control socket, CPU -> stdout: one worker, validation off
    cat <<CONF
listen: ["$1:53"]
root-hints: $hints
segment: $2
segment-size: 256
workers: 1
cpus: $4
log-level: ${SHOAL_LOG_LEVEL:-warning}
control-socket: $3
restart-backoff-min-ms: 20
do-not-query-localhost: false
# Validation off, as for the other resolvers here (pdns dnssec=off …): shoal validates by default.
dnssec: off
CONF
    # SHOAL_WORKER_EXECUTABLE: another shoal-worker build under this shoald (A/B of a change).
    if [[ -n ${SHOAL_WORKER_EXECUTABLE:-} ]]; then echo "worker-executable: $SHOAL_WORKER_EXECUTABLE"; fi
}
# Starts shoald detached (pid in $work/NAME.pid, output in $work/NAME.log) and waits until its
# control socket answers.
start_shoald() { # [configuration file, pid file name, control socket]
    local conf="${1:-$work/shoal.yaml}" name="${2:-shoald}" control="${3:-$work/control}"
    setsid "$bindir/shoald" --config "$conf" >>"$work/$name.log" 2>&1 </dev/null &
    echo $! >"$work/$name.pid"
    for _ in $(seq 100); do "$bindir/shoalctl" ping --control-socket "$control" >/dev/null 2>&1 && return; sleep 0.05; done
    die "shoald did not come up: $(tail -5 "$work/$name.log")"
}
# The fleet mesh: a nats-server on 127.0.0.1:$nats_port (pid in $work/nats.pid), and shoald
# configurations with a bridge: section pointing at it.
start_nats() {
    setsid nats-server -a 127.0.0.1 -p "$nats_port" >>"$work/nats.log" 2>&1 </dev/null &
    echo $! >"$work/nats.pid"
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && return; sleep 0.05; done
    die "nats-server did not come up: $(tail -5 "$work/nats.log")"
}
mesh_config() { # node id, listen address, segment, control socket, CPU -> stdout
    shoal_config "$2" "$3" "$4" "$5"
    printf 'bridge:\n  servers: ["nats://127.0.0.1:%s"]\n  cluster: bench\n  node-id: %s\n' "$nats_port" "$1"
}
# Stops the processes of pid files (TERM, KILL after 5 s); they need not be this shell's children.
stop_pidfiles() { # file...
    local f p
    for f in "$@"; do
        [[ -e $f ]] || continue
        p=$(cat "$f"); rm -f "$f"
        kill -TERM "$p" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
}

# dnsperf output: the first number after a label; the count of one rcode.
field() { # file, label regex
    sed -n "s/^ *$2: *\([0-9.]*\).*/\1/p" "$1" | head -1
}
rcode_count() { # file, rcode
    sed -n 's/^ *Response codes: *//p' "$1" | tr ',' '\n' | awk -v c="$2" '$1 == c { print $2; f=1 } END { if (!f) print 0 }'
}

# CPU accounting from /proc.
hz=$(getconf CLK_TCK)
proc_ticks() { # pid, awk expression over the stat fields after the name -> clock ticks, live children included
    local p v t=0
    for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk "{ print $2 }")
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
cpu_ticks() { proc_ticks "$1" '$12 + $13'; } # pid -> utime+stime, every thread, shoald's workers included
user_ticks() { proc_ticks "$1" '$12'; }      # pid -> utime alone
core_jiffies() { # cpu -> "busy total" jiffies of that CPU, every process and interrupt included
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Upstream queries counted in the kernel: an htb qdisc on lo classifies UDP packets to
# $prefix.0.0/16 port 53 (class 1) and TCP SYNs to it (class 2); their packet counters are the
# counts. Expects $octet and $prefix; sets tc_handle while installed (remove it with tc_off).
tc_on() {
    if ! tc qdisc show dev lo | grep -q '^qdisc noqueue 0: root'; then
        note "lo already has a root qdisc ($(tc qdisc show dev lo | head -1)): upstream queries n/a"
        return
    fi
    local h; h=$(printf '%x' $((0x5300 + octet)))
    tc qdisc add dev lo root handle "$h:" htb || return 0
    tc_handle="$h"
    tc class add dev lo parent "$h:" classid "$h:1" htb rate 10gbit burst 1m quantum 60000
    tc class add dev lo parent "$h:" classid "$h:2" htb rate 10gbit burst 1m quantum 60000
    tc filter add dev lo parent "$h:" protocol ip pref 1 u32 match ip dst "$prefix.0.0/16" \
        match ip protocol 17 0xff match ip dport 53 0xffff flowid "$h:1"
    # TCP SYN (IPv4 header without options on lo: TCP flags at byte 33).
    tc filter add dev lo parent "$h:" protocol ip pref 2 u32 match ip dst "$prefix.0.0/16" \
        match ip protocol 6 0xff match ip dport 53 0xffff match u8 0x02 0x02 at 33 flowid "$h:2"
}
tc_off() {
    [[ -n $tc_handle ]] || return 0
    tc qdisc show dev lo | grep -q "^qdisc htb $tc_handle: root" && tc qdisc del dev lo root
    tc_handle=""
}
tc_packets() { # class number -> packets so far, or n/a
    [[ -n $tc_handle ]] || { echo n/a; return; }
    tc -s class show dev lo classid "$tc_handle:$1" | awk '/Sent/ { print $4; exit }'
}

