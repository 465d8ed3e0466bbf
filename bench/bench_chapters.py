"""Seconds and peak memory of each chapter notebook (issue figures: ≤ 30 s per chapter on the
default edition; ≤ 5 min and ≤ 8 GB on the 10-million-user dataset).

    python bench/bench_chapters.py                      # the staged default edition
    python bench/bench_chapters.py --data /tmp/fission-10m --chapters 02_fission_elements
Each chapter runs in its own process, so its peak RSS (kernel included) is measured alone.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

# Runs one chapter and prints the peak RSS of its kernel (a waited-for child of this process).
RUN_ONE = """
import json, resource, sys, papermill as pm
pm.execute_notebook(sys.argv[1], sys.argv[2], parameters=json.loads(sys.argv[3]),
                    kernel_name="fission", progress_bar=False, shutdown_kernel="immediate",
                    cwd=sys.argv[4])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def main() -> None:
    from fission import params
    from fission.paths import STAGED
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", default="params/default.yaml")
    ap.add_argument("--data", help="data directory (default: the edition's staged data)")
    ap.add_argument("--chapters", help="comma-separated (default: the edition's chapters)")
    args = ap.parse_args()
    ed = params.load(args.params)
    data = Path(args.data) if args.data else STAGED / ed.edition
    if not data.exists():
        sys.exit(f"{data} does not exist: run `make data` first")
    chapters = args.chapters.split(",") if args.chapters else ed.chapters
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        p = ed.notebook_parameters(data)
        p["output_dir"] = tmp
        for ch in chapters:
            nb = REPO / "notebooks" / f"{ch}.ipynb"
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", RUN_ONE, str(nb), f"{tmp}/{ch}.ipynb",
                                   json.dumps(p), str(nb.parent)], capture_output=True, text=True)
            took = time.perf_counter() - start
            ok = proc.returncode == 0
            peak_kb = int(proc.stdout.split()[-1]) if ok else 0
            if not ok:
                print(proc.stderr[-2000:], file=sys.stderr)
            results[ch] = {"seconds": round(took, 1), "peak_rss_mb": round(peak_kb / 1024),
                           "ok": ok}
            print(f"{ch:<28} {took:7.1f} s  peak {peak_kb / 1024:7.0f} MB  {'ok' if ok else 'FAILED'}",
                  flush=True)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"chapters-{data.name}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
