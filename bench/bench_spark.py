"""Each chapter's facts on DuckDB and on Spark (local) over the same data: seconds, statements
run, and the facts compared (relative 1e-6) — the figures behind docs of the Spark engine.

    python bench/bench_spark.py --data /tmp/sim20                 # all chapters but 10
    python bench/bench_spark.py --data /tmp/sim1m --chapters growth,retention --master local[2]
Needs `make setup-spark`. One Spark session serves all chapters (its start is not counted).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def differences(a, b, path="", out=None) -> list[str]:
    out = [] if out is None else out
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if abs(a - b) > 1e-6 * max(1, abs(a), abs(b)):
            out.append(f"{path}: {a} vs {b}")
    elif isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            out.append(f"{path}: keys {sorted(set(a) ^ set(b))}")
        for k in a.keys() & b.keys():
            differences(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} vs {len(b)} items")
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                differences(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: {str(a)[:60]!r} vs {str(b)[:60]!r}")
    return out


def main() -> None:
    from fission.chapters import OUTLINE
    from fission.data.load import connect
    from fission.engine import connect_spark
    from fission.notebook import jsonable
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="a staged or simulated data directory")
    ap.add_argument("--chapters", help="comma-separated slugs (default: all but conclusions)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--year", type=int, default=2025)
    args = ap.parse_args()
    slugs = args.chapters.split(",") if args.chapters else \
        [s for s in OUTLINE.values() if s != "conclusions"]
    duck, spark = connect(args.data), connect_spark(args.data, master=args.master)
    print(f"{'chapter':<16} {'duckdb s':>9} {'spark s':>9} {'statements':>10}  facts")
    for slug in slugs:
        mod = importlib.import_module(f"fission.chapters.{slug}")
        t = time.perf_counter()
        a = jsonable(mod.facts(duck, args.year, args.year - 1, 50))
        td = time.perf_counter() - t
        n, t = spark.statements, time.perf_counter()
        b = jsonable(mod.facts(spark, args.year, args.year - 1, 50))
        ts = time.perf_counter() - t
        diff = differences(a, b)
        print(f"{slug:<16} {td:>9.1f} {ts:>9.1f} {spark.statements - n:>10}  "
              f"{'equal' if not diff else f'{len(diff)} differ, e.g. ' + diff[0]}", flush=True)


if __name__ == "__main__":
    main()
