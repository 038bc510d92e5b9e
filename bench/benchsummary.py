"""One row of the benchmark table that bench/run prints.

Every bench/run-* script calls record() for each workload it judges against
a target. When PRIVSTACK_BENCH_SUMMARY names a file (bench/run sets it), the
row is appended to it as one JSON line; otherwise record() does nothing and
the script's own table is all there is.
"""
import json
import os


def record(workload, ours, peer, peer_figure, ratio, target, passed):
    """ours/peer_figure/ratio/target are display strings ("12,345 rows/s",
    "0.72x", ">= 0.5x"); passed is True, False or None (no target)."""
    path = os.environ.get("PRIVSTACK_BENCH_SUMMARY")
    if not path:
        return
    row = {"workload": workload, "privstack": ours, "peer": peer or "",
           "peer_figure": peer_figure or "", "ratio": ratio or "",
           "target": target or "", "passed": passed}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
