#!/usr/bin/python3
"""Plots each restart-impact CSV as a PNG beside it: answered and lost per second, latency p99,
upstream queries, and the cache-hit share when the CSV has a hit_share column (scripts/demo);
the event marked. Usage: restart-plot.py EVENT_AT CSV..."""
import csv
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

event_at = float(sys.argv[1])
for path in sys.argv[2:]:
    rows = list(csv.DictReader(open(path)))
    t = [int(r["second"]) for r in rows]
    hits = "hit_share" in rows[0]
    fig, axes = plt.subplots(4 if hits else 3, 1, figsize=(8, 9 if hits else 7), sharex=True)
    a, b, c = axes[:3]
    a.plot(t, [int(r["answered"]) for r in rows], label="answered")
    a.plot(t, [int(r["lost"]) for r in rows], label="lost", color="red")
    a.set_ylabel("queries/s")
    a.legend(loc="center left")
    b.plot(t, [float(r["p50_ms"]) for r in rows], label="p50")
    b.plot(t, [float(r["p99_ms"]) for r in rows], label="p99")
    b.set_yscale("symlog", linthresh=1)
    b.set_ylabel("latency ms")
    b.legend(loc="center left")
    c.bar(t, [int(r["upstream"] or 0) for r in rows], color="gray")
    c.set_ylabel("upstream/s")
    if hits:
        d = axes[3]
        d.plot(t, [float(r["hit_share"]) * 100 if r["hit_share"] else float("nan") for r in rows], color="green")
        d.set_ylim(0, 105)
        d.set_ylabel("packet-cache hits %")
    axes[-1].set_xlabel("second")
    for ax in axes:
        ax.axvline(event_at, color="black", linestyle="--", linewidth=0.8)
    fig.suptitle(os.path.basename(path)[:-4])
    fig.tight_layout()
    fig.savefig(path[:-4] + ".png", dpi=80)
    plt.close(fig)
