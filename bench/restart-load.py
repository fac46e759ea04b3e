#!/usr/bin/python3
"""Fixed-rate DNS load with per-second accounting, for bench/restart-impact.sh.

Sends QPS queries a second over UDP to SERVER:53 for DURATION seconds, cycling through the
names of NAMES (lines "qname qtype"), and at second EVENT_AT runs EVENT (a shell command) in the
background. Each query has its own ID (65536 IDs, reused only after 3 s); a query unanswered 2 s
after it was sent is lost. Every second (by send time) it records: sent, answered, lost,
latency p50 and p99 in ms, and upstream queries (the packet counter of tc class CLASS on lo,
when given). Writes CSV to OUT and prints a summary line. With LIVE, each second's row is also
appended to that file as it goes, 1.1 s after the second ended (answers counted so far: the
final CSV counts the later ones too), for a live display (scripts/demo). An empty EVENT: none.

Usage: restart-load.py SERVER QPS DURATION NAMES EVENT_AT EVENT OUT [TC_CLASS [LIVE]]
"""
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33,
         "DS": 43, "DNSKEY": 48, "NAPTR": 35, "CAA": 257, "HTTPS": 65, "SVCB": 64}


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def query(qid, name, qtype):
    t = TYPES.get(qtype.upper(), 1)
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire_name(name) + struct.pack(">HH", t, 1)


def tc_packets(cls):
    if not cls:
        return None
    out = subprocess.run(["tc", "-s", "class", "show", "dev", "lo", "classid", cls],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "Sent":
            return int(parts[3])
    return None


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def row(second, p, tc_class):
    return "%d,%d,%d,%d,%.2f,%.2f,%s\n" % (second, p["sent"], p["answered"], p["lost"],
                                          percentile(p["lat"], 0.5), percentile(p["lat"], 0.99),
                                          p["up"] if tc_class else "")


def main():
    server, qps, duration, names_file, event_at, event, out = sys.argv[1:8]
    tc_class = sys.argv[8] if len(sys.argv) > 8 else ""
    live = open(sys.argv[9], "a", buffering=1) if len(sys.argv) > 9 and sys.argv[9] else None
    live_next = 0
    qps, duration, event_at = int(qps), int(duration), float(event_at)
    names = [line.split() for line in open(names_file) if line.strip()]
    random.Random(1).shuffle(names)
    packets = [query(0, n[0], n[1] if len(n) > 1 else "A")[2:] for n in names]

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.connect((server, 53))
    s.setblocking(False)

    outstanding = {}          # id -> (send time, second)
    per = [{"sent": 0, "answered": 0, "lost": 0, "lat": [], "up": 0} for _ in range(duration + 3)]
    free_at = [0.0] * 65536
    next_id = 0
    start = time.monotonic()
    sent_total = 0
    ran_event = False
    up_last, up_second = tc_packets(tc_class), 0
    last_expire = start
    while True:
        now = time.monotonic()
        t = now - start
        if not ran_event and t >= event_at and event:
            subprocess.Popen(event, shell=True)
            ran_event = True
        # Upstream counter once a second.
        if tc_class and int(t) > up_second and int(t) <= duration + 2:
            v = tc_packets(tc_class)
            if v is not None and up_last is not None:
                per[up_second]["up"] = v - up_last
            up_last, up_second = v, int(t)
        # Send what is due.
        if t < duration:
            due = int(t * qps)
            while sent_total < due:
                for _ in range(65536):
                    next_id = (next_id + 1) & 0xFFFF
                    if free_at[next_id] <= now:
                        break
                pkt = struct.pack(">H", next_id) + packets[sent_total % len(packets)]
                try:
                    s.send(pkt)
                except (BlockingIOError, ConnectionRefusedError):
                    pass   # nothing listening (a restart in progress): counted as lost
                sec = int(t)
                outstanding[next_id] = (now, sec)
                free_at[next_id] = now + 3.0
                per[sec]["sent"] += 1
                sent_total += 1
        # Receive.
        r, _, _ = select.select([s], [], [], 0.0005)
        if r:
            while True:
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    break
                except ConnectionRefusedError:
                    continue   # the ICMP of a send while nothing listened
                if len(data) < 12:
                    continue
                qid = struct.unpack(">H", data[:2])[0]
                entry = outstanding.pop(qid, None)
                if entry:
                    sent_at, sec = entry
                    per[sec]["answered"] += 1
                    per[sec]["lat"].append((time.monotonic() - sent_at) * 1000)
        # Expire (ten times a second is enough).
        if now - last_expire > 0.1:
            last_expire = now
            for qid, (sent_at, sec) in list(outstanding.items()):
                if now - sent_at > 2.0:
                    del outstanding[qid]
                    per[sec]["lost"] += 1
        if live and live_next < duration and t >= live_next + 1.1:
            live.write(row(live_next, per[live_next], tc_class))
            live_next += 1
        if t >= duration + 2.2:
            break
    for qid, (sent_at, sec) in outstanding.items():
        per[sec]["lost"] += 1

    with open(out, "w") as f:
        f.write("second,sent,answered,lost,p50_ms,p99_ms,upstream\n")
        for i in range(duration):
            f.write(row(i, per[i], tc_class))
    sent = sum(p["sent"] for p in per)
    lost = sum(p["lost"] for p in per)
    slow = sum(1 for p in per[:duration] for x in p["lat"] if x > 100)
    up = sum(p["up"] for p in per) if tc_class else "n/a"
    print("sent=%d answered=%d lost=%d slow100ms=%d upstream=%s" % (sent, sent - lost, lost, slow, up))


if __name__ == "__main__":
    main()
