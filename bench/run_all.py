"""`make bench`: run the benchmarks at the default scale, one after the other.

The 10-million-user figures take many minutes and ~100 M rows on disk; run them on purpose:
    python bench/bench_simulate.py --users 10000000 --out /tmp/fission-10m
    python bench/bench_validate.py /tmp/fission-10m
    python bench/bench_chapters.py --data /tmp/fission-10m
    python bench/bench_staging.py /tmp/fission-10m --root /tmp/fission-staged --csv users --work /tmp/fission-csv
"""
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
DEFAULT = [["bench_simulate.py", "--users", "100000"], ["bench_render.py"],
           ["bench_chapters.py"], ["bench_report.py"]]
if shutil.which("quarto"):   # the engines side by side need a real Quarto (../shared/tools/quarto)
    DEFAULT.append(["bench_engines.py"])

if __name__ == "__main__":
    failed = []
    for script, *args in DEFAULT:
        if not (HERE / script).exists():
            continue
        print(f"== {script} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *args]).returncode:
            failed.append(script)
    sys.exit(f"failed: {', '.join(failed)}" if failed else 0)
