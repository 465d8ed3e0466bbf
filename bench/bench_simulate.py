"""Benchmark the simulator: seconds, peak RSS and rows per table.

    python bench/bench_simulate.py --users 100000 [--out DIR] [--seed N] [--year 2025]
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from fission.data.simulate import simulate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20250101)
    ap.add_argument("--year", type=int, default=2025)
    ap.add_argument("--out", type=Path, default=None, help="keep the output here (default: temp dir, removed)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    out = a.out or Path(tempfile.mkdtemp(prefix="fission-sim-"))
    t = time.perf_counter()
    truth = simulate(out, year=a.year, users=a.users, seed=a.seed, progress=not a.quiet)
    secs = time.perf_counter() - t
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"users requested {a.users}, simulated {truth['users']}")
    print(f"seconds {secs:.1f}  peak RSS {rss_gb:.2f} GB  on disk {size / 1024 ** 2:.1f} MB")
    for name, n in sorted(truth["rows"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:16s} {n:>14,d}")
    print(f"  {'total':16s} {sum(truth['rows'].values()):>14,d}")
    if a.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
