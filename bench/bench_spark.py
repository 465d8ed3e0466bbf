"""Each chapter's facts on DuckDB and on Spark (local) over the same data: seconds, CPU
seconds, statements run, the heaviest statements, peak memory, the load average beside it, and
the facts compared (relative 1e-6) — the figures behind docs/scaling.md.

    python bench/bench_spark.py --data /tmp/sim20                 # all chapters but 10
    python bench/bench_spark.py --data /tmp/sim1m --chapters growth,retention --master local[2]
    python bench/bench_spark.py --data /tmp/fission-10m --engines spark --chapters retention \\
        --conf spark.driver.memory=8g --trace /tmp/trace.txt
    python bench/bench_spark.py --data /tmp/fission-10m --chapters growth --driver-sample 1000000
    python bench/bench_spark.py --data /tmp/fission-10m --inventory bench/results/spark-….json
Needs `make setup-spark`. One Spark session serves all chapters (its start is not counted).
The machine's load average is printed beside every figure: on a shared machine the seconds
are only as good as the cores the run had. Results also go to bench/results/spark-*.json.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
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


class _TimedResult:
    """A statement's result; fetching it is where Spark does the work, so the fetch is timed
    too and added to the statement's seconds."""

    def __init__(self, result, entry):
        self._r, self._entry = result, entry

    def _timed(self, name):
        def call(*a, **kw):
            t = time.perf_counter()
            try:
                return getattr(self._r, name)(*a, **kw)
            finally:
                self._entry[0] += time.perf_counter() - t
        return call

    def __getattr__(self, name):
        attr = getattr(self._r, name)
        return self._timed(name) if callable(attr) and name.startswith(("df", "fetch")) else attr


class TimedConnection:
    """Either engine's connection, recording every statement with its seconds (execute +
    fetch). Everything else passes through (has_table only where the engine has it)."""

    def __init__(self, con, trace=None):
        self.con = con
        self.log: list[list] = []           # [seconds, sql]
        self._trace = trace                 # a file: each statement once the next one starts

    def flush(self):
        if self._trace and self.log:
            s, sql = self.log[-1]
            print(f"{time.strftime('%H:%M:%S')} {s:8.1f} s  {' '.join(sql.split())[:150]}",
                  file=self._trace, flush=True)

    def execute(self, sql, params=None):
        self.flush()
        entry = [0.0, sql.strip()]          # as run: a "--" comment ends at its newline
        self.log.append(entry)
        t = time.perf_counter()
        try:
            r = self.con.execute(sql, params or [])
        finally:
            entry[0] += time.perf_counter() - t
        return _TimedResult(r, entry)

    def register(self, name, df):
        self.con.register(name, df)

    def unregister(self, name):
        self.con.unregister(name)

    def __getattr__(self, name):
        return getattr(self.con, name)


class PeakMemory:
    """Peak resident memory (MB) of this process and, separately, of its children (the Spark
    driver's JVM in local mode, where the executors live too), sampled every 0.25 s."""

    def __init__(self):
        import psutil
        self._me = psutil.Process()
        self.python = self.jvm = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self._stop.wait(0.25):
            try:
                self.python = max(self.python, self._me.memory_info().rss / 2**20)
                kids = sum(c.memory_info().rss for c in self._me.children(recursive=True))
                self.jvm = max(self.jvm, kids / 2**20)
            except Exception:  # noqa: BLE001 - a child may end while it is read
                pass

    def reset(self):
        self.python = self.jvm = 0.0

    def cpu(self) -> tuple[float, float]:
        """CPU seconds (user + system) so far of this process (DuckDB's threads run in it) and
        of its children (the JVM): unlike wall seconds, about the same on a loaded machine."""
        t = self._me.cpu_times()
        kids = sum(sum(c.cpu_times()[:2]) for c in self._me.children(recursive=True))
        return t.user + t.system, kids

    def stop(self):
        self._stop.set()


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run(mod, con, year, trace=None, driver_sample=None):
    """One chapter's facts on one connection: (facts, seconds, statement log). With
    ``driver_sample`` (the edition's engine.driver_sample) for the chapters that take it."""
    import inspect
    from fission.notebook import jsonable
    timed = TimedConnection(con, trace)
    kw = {"driver_sample": driver_sample} if driver_sample and \
        "driver_sample" in inspect.signature(mod.facts).parameters else {}
    t = time.perf_counter()
    facts = jsonable(mod.facts(timed, year, year - 1, 50, **kw))
    timed.flush()
    # DuckDB looks tables and columns up with statements, Spark asks its catalog: catalog
    # look-ups are not analysis statements, so not counted
    log = [e for e in timed.log if not e[1].startswith("DESCRIBE")
           and "information_schema" not in e[1] and "_unavailable_columns" not in e[1]]
    return facts, time.perf_counter() - t, log


def heaviest(log, n=3):
    return [{"s": round(s, 2), "sql": " ".join(sql.split())[:300]}
            for s, sql in sorted(log, reverse=True)[:n]]


def column_bytes(data_dir) -> dict[str, dict[str, int]]:
    """Compressed Parquet bytes of every column of every table at ``data_dir``."""
    import pyarrow.parquet as pq
    out: dict[str, dict[str, int]] = {}
    for p in sorted(Path(data_dir).iterdir()):
        files = [p] if p.suffix == ".parquet" else sorted(p.rglob("*.parquet")) if p.is_dir() else []
        for f in files:
            md = pq.ParquetFile(f).metadata
            cols = out.setdefault(p.name.removesuffix(".parquet"), {})
            for g in range(md.num_row_groups):
                for c in range(md.num_columns):
                    cc = md.row_group(g).column(c)
                    cols[cc.path_in_schema] = cols.get(cc.path_in_schema, 0) + cc.total_compressed_size
    return out


def inventory(results: Path, data_dir: str) -> None:
    """What each chapter's statements ask (from a results JSON's DuckDB log): statements, joins,
    group-bys, windows, distinct counts, and the Parquet bytes they read at ``data_dir``
    (every column of a table a statement names, once per statement that reads the table:
    nothing is cached between statements, and the staged tables are not partitioned by date,
    so a date filter does not prune files)."""
    import sqlglot
    from sqlglot import exp
    sizes = column_bytes(data_dir)
    print(f"{'chapter':<15} {'stmts':>5} {'joins':>5} {'groups':>6} {'windows':>7} "
          f"{'distinct':>8} {'GB read':>8} {'of events':>9}  statements reading: events / orders / users")
    for row in json.loads(results.read_text())["chapters"]:
        log = (row.get("duckdb") or row.get("spark"))["log"]
        n = {"joins": 0, "groups": 0, "windows": 0, "distinct": 0}
        reads: dict[str, int] = {}
        gb = ev = 0.0
        for _, sql in log:
            try:
                tree = sqlglot.parse_one(sql, read="duckdb")
            except sqlglot.errors.SqlglotError:
                print(f"  (not parsed, left out: {' '.join(sql.split())[:80]})")
                continue
            names = {c.name for c in tree.find_all(exp.Column)}
            n["joins"] += len(list(tree.find_all(exp.Join)))
            n["groups"] += len(list(tree.find_all(exp.Group)))
            n["windows"] += len(list(tree.find_all(exp.Window)))
            n["distinct"] += sum(1 for c in tree.find_all(exp.Count) if isinstance(c.this, exp.Distinct))
            for t in {t.name for t in tree.find_all(exp.Table)} & sizes.keys():
                reads[t] = reads.get(t, 0) + 1
                read = sum(b for c, b in sizes[t].items() if c in names) / 1e9
                gb += read
                ev += read if t == "events" else 0.0
        print(f"{row['chapter']:<15} {len(log):>5} {n['joins']:>5} {n['groups']:>6} "
              f"{n['windows']:>7} {n['distinct']:>8} {gb:>8.2f} {ev:>9.2f}  "
              f"{reads.get('events', 0)} / {reads.get('orders', 0)} / {reads.get('users', 0)}")


def main() -> None:
    from fission.chapters import OUTLINE
    from fission.data.load import connect
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a staged or simulated data directory")
    ap.add_argument("--chapters", help="comma-separated slugs (default: all but conclusions)")
    ap.add_argument("--engines", default="duckdb,spark", help="duckdb,spark (default), or one")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                    help="Spark conf, e.g. spark.driver.memory=8g (repeatable)")
    ap.add_argument("--year", type=int, default=2025)
    ap.add_argument("--driver-sample", type=int, metavar="N",
                    help="engine.driver_sample for the chapters that take it (3, 5, 6)")
    ap.add_argument("--out", help="JSON results (default bench/results/spark-<data>-<time>.json)")
    ap.add_argument("--trace", metavar="FILE",
                    help="append each statement's seconds as it completes (a long run that is "
                         "stopped still leaves its figures)")
    ap.add_argument("--inventory", metavar="RESULTS_JSON",
                    help="run nothing: what the statements logged in RESULTS_JSON read at --data")
    args = ap.parse_args()
    if args.inventory:
        return inventory(Path(args.inventory), args.data)
    slugs = args.chapters.split(",") if args.chapters else \
        [s for s in OUTLINE.values() if s != "conclusions"]
    engines = args.engines.split(",")
    conf = dict(kv.split("=", 1) for kv in args.conf)
    out = Path(args.out or Path(__file__).parent / "results" /
               f"spark-{Path(args.data).name}-{time.strftime('%Y%m%dT%H%M%S')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    trace = open(args.trace, "a", encoding="utf-8") if args.trace else None
    mem = PeakMemory()
    cons = {}
    if "duckdb" in engines:
        cons["duckdb"] = connect(args.data)
    if "spark" in engines:
        from fission.engine import connect_spark
        t = time.perf_counter()
        cons["spark"] = connect_spark(args.data, master=args.master, conf=conf)
        print(f"spark session {args.master} {conf or ''}: {time.perf_counter() - t:.1f} s "
              "(not counted)", flush=True)
    print(f"{'chapter':<15} {'engine':<7} {'seconds':>8} {'cpu py':>7} {'cpu jvm':>7} {'stmts':>6} "
          f"{'s/stmt med':>10} {'py MB':>7} {'jvm MB':>7}  load before→after", flush=True)
    results = []
    for slug in slugs:
        mod = importlib.import_module(f"fission.chapters.{slug}")
        row, facts = {"chapter": slug}, {}
        for name, con in cons.items():
            mem.reset()
            before, cpu0 = load(), mem.cpu()
            if trace:
                print(f"# {slug} on {name}, load {before}", file=trace, flush=True)
            facts[name], seconds, log = run(mod, con, args.year, trace, args.driver_sample)
            cpu = [b - a for a, b in zip(cpu0, mem.cpu())]
            times = sorted(s for s, _ in log)
            med = times[len(times) // 2] if times else 0.0
            row[name] = {"seconds": round(seconds, 1), "cpu_python_s": round(cpu[0], 1),
                         "cpu_jvm_s": round(cpu[1], 1), "statements": len(log),
                         "median_statement_s": round(med, 3),
                         "peak_python_mb": round(mem.python), "peak_jvm_mb": round(mem.jvm),
                         "load_before": before, "load_after": load(),
                         "heaviest": heaviest(log),
                         "log": [[round(s, 3), sql] for s, sql in log]}
            r = row[name]
            print(f"{slug:<15} {name:<7} {seconds:>8.1f} {cpu[0]:>7.1f} {cpu[1]:>7.1f} {len(log):>6} {med:>10.3f} "
                  f"{r['peak_python_mb']:>7} {r['peak_jvm_mb']:>7}  {before} → {r['load_after']}",
                  flush=True)
            for h in r["heaviest"][:2]:      # the full log is in the JSON
                print(f"    {h['s']:>7.1f} s  {h['sql'][:110]}", flush=True)
        if len(facts) == 2:
            diff = differences(facts["duckdb"], facts["spark"])
            row["facts"] = "equal" if not diff else f"{len(diff)} differ, e.g. {diff[0]}"
            print(f"{slug:<15} facts: {row['facts']}", flush=True)
        results.append(row)
        out.write_text(json.dumps({"data": args.data, "master": args.master, "conf": conf,
                                   "driver_sample": args.driver_sample,
                                   "chapters": results}, indent=1, ensure_ascii=False))
    mem.stop()
    print(f"results: {out}")


if __name__ == "__main__":
    main()
