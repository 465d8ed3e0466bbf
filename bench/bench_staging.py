"""Time staging a company's own tables (``data.source: directory``) and report its peak memory.

    python bench/bench_staging.py /tmp/fission-10m --root /tmp/h1/staged      # the Parquet case
    python bench/bench_staging.py /tmp/fission-10m --root /tmp/h1/staged --csv users --work /tmp/h1

The Parquet case stages the directory as it is (forced) and splits the time into the contract
check, converting/referencing the files, a second check (if the code makes one), the row count
and the fingerprint. ``--csv TABLE`` then writes that one table as UTF-8 CSV and as GBK CSV into
``--work`` (the input is only read) beside links to the other tables, and times staging's own
steps for that table: its contract check as Parquet, as CSV and as GBK CSV (which a directory
source refuses with a clear error: DuckDB reads UTF-8 only) and its conversion from CSV, and the
GBK→UTF-8 transcoding the mapping path does before that same conversion (rows/s, MB/s).
Whole-dataset CSV costs are *extrapolated* from these rates, never measured. Stages into
``--root`` only (never data/staged/). Wall and CPU seconds are both given: on a shared machine
the CPU seconds compare better between runs.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").exists() else "?"


def _edition(path: Path):
    from fission.params import DataParams, Edition, ScaleParams
    return Edition.model_construct(edition="bench", year=2025, compare_year=2024, seed=None,
                                   chapters=["01_industry_background"], scale=ScaleParams(users=1000),
                                   data=DataParams(source="directory", path=str(path)))


class Phases:
    """Wraps staging's steps with timers (whatever this version of staging.py calls)."""

    STEPS = ("validate", "convert_table", "reference_table", "_rows", "fingerprint")

    def __init__(self, staging):
        self.s = staging
        self.times: dict[str, list[float]] = {}   # wall seconds per call
        self.cpu: dict[str, list[float]] = {}     # CPU seconds (all threads): steadier on a shared machine
        self.real = {n: getattr(staging, n) for n in self.STEPS if hasattr(staging, n)}
        for n, f in self.real.items():
            setattr(staging, n, self._timed(n, f))

    def _timed(self, name, f):
        def run(*a, **kw):
            t, c = time.perf_counter(), time.process_time()
            try:
                return f(*a, **kw)
            finally:
                wall, cpu = time.perf_counter() - t, time.process_time() - c
                self.times.setdefault(name, []).append(round(wall, 2))
                self.cpu.setdefault(name, []).append(round(cpu, 2))
                if wall > 1:
                    print(f"[bench] {name}: {wall:.1f} s wall, {cpu:.1f} s CPU, load {_load()}",
                          file=sys.stderr, flush=True)
        return run

    def restore(self):
        for n, f in self.real.items():
            setattr(self.s, n, f)

    def summary(self) -> dict:
        v = self.times.get("validate", [])
        return {"check_s": v[0] if v else 0.0, "recheck_s": sum(v[1:]), "validate_calls": len(v),
                "convert_s": round(sum(self.times.get("convert_table", [])), 2),
                "convert_calls": len(self.times.get("convert_table", [])),
                "reference_s": round(sum(self.times.get("reference_table", [])), 2),
                "reference_calls": len(self.times.get("reference_table", [])),
                "rows_s": round(sum(self.times.get("_rows", [])), 2),
                "fingerprint_s": round(sum(self.times.get("fingerprint", [])), 2),
                "cpu_s": {k: round(sum(v), 1) for k, v in self.cpu.items()}}


def stage_once(src: Path, root: Path) -> dict:
    from fission.data import staging
    ph = Phases(staging)
    load0 = _load()
    t, c = time.perf_counter(), time.process_time()
    err = None
    try:
        m = staging.stage(_edition(src), root=root, force=True)
    except staging.StagingError as e:
        m, err = None, str(e)
    finally:
        ph.restore()
    out = {"src": str(src), "total_s": round(time.perf_counter() - t, 1),
           "total_cpu_s": round(time.process_time() - c, 1), **ph.summary(),
           "load_before": load0, "load_after": _load()}
    if m:
        out["tables"] = {k: {"rows": v["rows"], "staged_as": v.get("staged_as", "converted")}
                         for k, v in m["tables"].items()}
    if err:
        out["error"] = err.splitlines()[0][:300] + " | " + (err.splitlines()[1][:300] if len(err.splitlines()) > 1 else "")
    return out


def _mb(files) -> float:
    return sum(Path(f).stat().st_size for f in files) / 1e6


def csv_case(src: Path, table: str, work: Path) -> dict:
    """One table as UTF-8 and GBK CSV beside links to the other tables, put through staging's
    own steps for that table: the contract check (``validate(dir, [table])``: its rules, key
    and foreign keys) and ``convert_table``; the same check on the Parquet input for the
    difference. A whole ``stage`` of the directory would add the other tables' checks, which
    do not depend on this table's format."""
    import duckdb
    from fission.data import staging
    from fission.data.contract import TABLES
    from fission.data.load import table_files
    from fission.data.validate import errors, validate
    try:
        from fission.data.mapping import _transcode   # what the mapping path does with GBK
    except ImportError:   # the same streamed decode, should the mapper's helper move
        def _transcode(f, encoding, out):
            with open(f, encoding=encoding, newline="") as fin, open(out, "w", encoding="utf-8", newline="") as fo:
                while chunk := fin.read(1 << 20):
                    fo.write(chunk)
    res: dict = {"table": table}
    for enc in ("utf8", "gbk"):
        d = work / f"csv-{enc}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for name in TABLES:   # the other tables: symlinks to the (read-only) input
            if name == table:
                continue
            for f in table_files(src, name):
                rel = f.relative_to(src)
                (d / rel).parent.mkdir(parents=True, exist_ok=True)
                (d / rel).symlink_to(f)
    utf8 = work / "csv-utf8" / f"{table}.csv"
    gbk = work / "csv-gbk" / f"{table}.csv"
    files = table_files(src, table)
    scan = "read_parquet([" + ", ".join(f"'{f.as_posix()}'" for f in files) + "])"
    t = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order=false")
    con.execute(f"COPY (SELECT * FROM {scan}) TO '{utf8}' "
                "(FORMAT csv, HEADER, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S', DATEFORMAT '%Y-%m-%d')")
    rows = con.execute(f"SELECT count(*) FROM {scan}").fetchone()[0]
    con.close()
    res["write_csv_s"] = round(time.perf_counter() - t, 1)
    subprocess.run(["iconv", "-f", "UTF-8", "-t", "GBK", "-o", str(gbk), str(utf8)], check=True)
    res.update(rows=rows, parquet_mb=round(_mb(files), 1), csv_mb=round(_mb([utf8]), 1),
               gbk_mb=round(_mb([gbk]), 1))

    def timed(f, *a):
        t, c = time.perf_counter(), time.process_time()
        out = f(*a)
        return out, round(time.perf_counter() - t, 1), round(time.process_time() - c, 1)

    for what, d in (("parquet", src), ("utf8", work / "csv-utf8"), ("gbk", work / "csv-gbk")):
        problems, wall, cpu = timed(validate, d, [table])
        res[f"check_{what}"] = {"wall_s": wall, "cpu_s": cpu, "load": _load(),
                                "errors": [p.line()[:300] for p in errors(problems)]}
        print(f"[bench] check {table} as {what}: {wall} s wall, {cpu} s CPU", file=sys.stderr, flush=True)
    con = staging._duck()
    _, wall, cpu = timed(staging.convert_table, con, table, [utf8], work / f"{table}.parquet")
    con.close()
    (work / f"{table}.parquet").unlink()
    res["convert_utf8"] = {"wall_s": wall, "cpu_s": cpu, "load": _load(),
                           "rows_per_s": round(rows / wall), "csv_mb_per_s": round(res["csv_mb"] / wall, 1)}
    _, wall, cpu = timed(_transcode, gbk, "gb18030", work / "transcoded.csv")
    (work / "transcoded.csv").unlink()
    res["transcode_gbk"] = {"wall_s": wall, "cpu_s": cpu, "load": _load(),
                            "rows_per_s": round(rows / wall), "gbk_mb_per_s": round(res["gbk_mb"] / wall, 1)}
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("src", nargs="?", default="/tmp/fission-10m")
    ap.add_argument("--root", default="/tmp/fission-bench-staging", help="stage here (forced)")
    ap.add_argument("--csv", help="also measure this table as UTF-8 and GBK CSV")
    ap.add_argument("--work", default="/tmp/fission-bench-staging-work", help="where the CSV copies go")
    ap.add_argument("--skip-parquet", action="store_true")
    ap.add_argument("--json", default=str(RESULTS / "staging.json"))
    a = ap.parse_args()
    src, root = Path(a.src), Path(a.root)
    out: dict = {"src": str(src), "uptime": os.popen("uptime").read().strip()}
    if not a.skip_parquet:
        out["parquet"] = stage_once(src, root)
        print(json.dumps(out["parquet"], indent=1), flush=True)
    if a.csv:
        out["csv"] = csv_case(src, a.csv, Path(a.work))
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out, indent=1))
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
