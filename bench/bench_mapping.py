"""Time staging an edition through a mapping (data.source: mapping) and report its peak memory.

    python bench/bench_mapping.py                                  # the UCI Online Retail example
    python bench/bench_mapping.py params/examples/online_retail.yaml --repeat 3

Stages into a temporary root (never data/staged/), forced, ``--repeat`` times; prints the
mapping step, the contract validation and the total, the rows read/written/set aside, and the
time of a second call that finds the data up to date.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("params", nargs="?", default="params/examples/online_retail.yaml")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args()
    from fission.data import staging
    from fission.params import load
    ed = load(a.params)
    runs = []
    with tempfile.TemporaryDirectory(prefix="fission-bench-map-") as root:
        for _ in range(a.repeat):
            log = []
            real = staging._log
            staging._log = lambda msg: (log.append((time.perf_counter(), msg)), real(msg))
            t0 = time.perf_counter()
            try:
                m = staging.stage(ed, root=Path(root), force=True)
            finally:
                staging._log = real
            total = time.perf_counter() - t0
            steps = {}
            for _, msg in log:
                if hit := re.match(r"(mapped|valid \(\d+ tables\)) in ([\d.]+) s", msg):
                    steps["mapping" if hit.group(1) == "mapped" else "validation"] = float(hit.group(2))
            runs.append({"total_s": round(total, 2), **steps})
        t = time.perf_counter()
        staging.stage(ed, root=Path(root))
        reuse = time.perf_counter() - t
    rep = m["mapping"]
    src = next(iter(rep["sources"].values()))
    out = {
        "params": a.params, "runs": runs, "best_total_s": min(r["total_s"] for r in runs),
        "up_to_date_s": round(reuse, 3),
        "rows_read": sum(s["rows_read"] for s in rep["sources"].values()),
        "encoding": src["files"][0].get("encoding"),
        "tables": {k: v["rows"] for k, v in m["tables"].items()},
        "rejected": {k: v["rejected"] for k, v in rep["tables"].items() if v["rejected"]},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
