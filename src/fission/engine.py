"""The engines the analyses run on. Every metric is written once, in DuckDB's SQL dialect,
against a connection: ``con.execute(sql, params)`` (then ``.df()``, ``.fetchall()`` or
``.fetchone()``), ``con.register(name, pandas_df)`` / ``con.unregister(name)``, and
``fission.metrics._sql.has_table``.

* DuckDB (the default): :func:`fission.data.load.connect` — in-process, up to the 10 M-user
  edition on one machine.
* Apache Spark: :func:`connect_spark` returns a connection of the same shape whose statements
  are transpiled from DuckDB's dialect to Spark SQL with sqlglot (parameters bound as literals
  first) and run on a local Spark, a cluster (``master``) or a Spark Connect server
  (``remote``). Only query results — aggregates, or the samples the driver-side fits take —
  reach the driver, as pandas with DuckDB's types.

The tables Spark reads: the staged folder, or ``engine.data_path`` where ``fission data --to``
put them for a cluster (fission.data.lake: month partitions for the event-sized tables).

pyspark with its Spark Connect client (and the Java it needs) is an optional extra:
``make setup-spark``.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd


class EngineError(RuntimeError):
    """A statement could not be run on the engine; the message names it and what to do."""


# ------------------------------------------------------------------ DuckDB SQL → Spark SQL
def literal(value: Any) -> str:
    """A Python parameter as a SQL literal both dialects read."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EngineError(f"parameter {value!r}: no SQL literal for a non-finite number")
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return f"TIMESTAMP '{pd.Timestamp(value):%Y-%m-%d %H:%M:%S.%f}'"
    if isinstance(value, dt.date):
        return f"DATE '{value:%Y-%m-%d}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if hasattr(value, "item"):          # numpy scalars
        return literal(value.item())
    raise EngineError(f"parameter {value!r} ({type(value).__name__}): give numbers, strings, "
                      "dates or timestamps")


def bind(sql: str, params=None) -> str:
    """``sql`` with its parameters — ``?`` in order, or ``$1``, ``$2`` … by position — replaced
    by the literals of ``params`` (inside a string or a comment they are left alone: the
    tokenizer knows)."""
    params = list(params or [])
    if not params:
        return sql
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.tokens import TokenType
    toks = Dialect.get_or_raise("duckdb").tokenize(sql)
    spots = []                                  # (start, end, parameter index)
    for i, t in enumerate(toks):
        if t.token_type == TokenType.PLACEHOLDER and t.text == "?":
            spots.append((t.start, t.end, len(spots)))
        elif (t.token_type == TokenType.PARAMETER and t.text == "$" and i + 1 < len(toks)
              and toks[i + 1].token_type == TokenType.NUMBER and toks[i + 1].start == t.end + 1):
            spots.append((t.start, toks[i + 1].end, int(toks[i + 1].text) - 1))
    used = {k for _, _, k in spots}
    if used != set(range(len(params))):
        raise EngineError(f"{len(params)} parameter(s) for the placeholders {sorted(used)} in: {sql[:200]}")
    out = sql
    for start, end, k in sorted(spots, reverse=True):
        out = out[:start] + literal(params[k]) + out[end + 1:]
    return out


def to_spark_sql(sql: str, params=None) -> str:
    """One DuckDB statement (with ``?`` parameters) as Spark SQL."""
    import sqlglot
    bound = bind(sql, params)
    try:
        trees = sqlglot.parse(bound, read="duckdb")
        if len(trees) != 1:
            raise EngineError(f"one statement at a time, got {len(trees)}: {bound[:200]}")
        return trees[0].transform(_exact_percentile).sql(
            dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.SqlglotError as e:
        raise EngineError(f"this statement does not translate to Spark SQL ({e}); rewrite it in "
                          f"the SQL both engines read:\n{bound[:600]}") from e


def _exact_percentile(node):
    """DuckDB's quantile_cont(x, q) is exact; sqlglot writes PERCENTILE_CONT(x, q), which Spark
    rejects: Spark's exact one is PERCENTILE(x, q) (linear interpolation, as DuckDB's)."""
    from sqlglot import exp
    if isinstance(node, exp.PercentileCont) and node.args.get("expression") is not None:
        return exp.Anonymous(this="PERCENTILE", expressions=[node.this, node.expression])
    return node


# ------------------------------------------------------------------ results
def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Spark's pandas as DuckDB gives it: dates and timestamps as datetime64[us], decimals as
    float64, integers as int64."""
    df = df.copy()
    for c in df.columns:
        s = df[c]
        if s.dtype == object:
            first = s.dropna().iloc[0] if s.notna().any() else None
            if isinstance(first, (dt.date, dt.datetime, pd.Timestamp)):
                df[c] = pd.to_datetime(s).astype("datetime64[us]")
            elif isinstance(first, decimal.Decimal):
                df[c] = s.astype(float)
        elif pd.api.types.is_datetime64_any_dtype(s):
            df[c] = s.dt.tz_localize(None).astype("datetime64[us]") if s.dt.tz is not None \
                else s.astype("datetime64[us]")
        elif pd.api.types.is_integer_dtype(s) and s.dtype != "int64" and not isinstance(s.dtype, pd.BooleanDtype):
            df[c] = s.astype("int64")
    return df


class _Result:
    def __init__(self, frame):
        self._frame = frame

    def df(self) -> pd.DataFrame:
        return normalise(self._frame.toPandas())

    def fetchall(self) -> list[tuple]:
        return [tuple(_py(v) for v in r) for r in self._frame.collect()]

    def fetchone(self):
        rows = self._frame.limit(1).collect()
        return tuple(_py(v) for v in rows[0]) if rows else None


def _py(v):
    return float(v) if isinstance(v, decimal.Decimal) else v


# ------------------------------------------------------------------ the Spark connection
class SparkConnection:
    """A DuckDB-shaped connection over a Spark session (see the module docstring)."""

    def __init__(self, spark, log=None, unavailable: dict[str, set[str]] | None = None):
        self.spark = spark
        self.statements = 0
        self._log = log
        self._unavailable = unavailable or {}
        self._remembered: dict[str, list[tuple]] = {}

    def remembered(self, sql: str) -> list[tuple]:
        """``execute(sql).fetchall()``, run once per connection: for the full scans chapters
        repeat over the run's immutable tables (the data start and end: 5–53 s each on Spark,
        docs/scaling.md). Only for statements whose result does not depend on registered
        views."""
        if sql not in self._remembered:
            self._remembered[sql] = self.execute(sql).fetchall()
        return self._remembered[sql]

    def execute(self, sql: str, params=None) -> _Result:
        spark_sql = to_spark_sql(sql, params)
        self.statements += 1
        if self._log is not None:
            self._log.append(spark_sql)
        try:
            return _Result(self.spark.sql(spark_sql))
        except Exception as e:  # noqa: BLE001 - Spark raises many kinds; all mean the same here
            raise EngineError(f"Spark could not run a statement: {str(e).splitlines()[0]}\n"
                              f"  Spark SQL: {spark_sql[:600]}") from e

    def has_table(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(name))

    def columns(self, name: str) -> list[str]:
        """The table's columns, less those a mapping only filled with placeholders."""
        gone = self._unavailable.get(name, set())
        return [c for c in self.spark.table(name).columns if c not in gone]

    def register(self, name: str, df: pd.DataFrame) -> None:
        self.spark.createDataFrame(df).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        pass            # the session may serve others; stop it with spark.stop()


def spark_settings(master: str = "local[2]", remote: str | None = None) -> dict[str, str]:
    """The session settings :func:`spark_session` gives before the edition's own ``conf``
    (which wins). Timestamps are wall times (the contract's UTC+8 clock), so the session's
    zone is UTC: no shift; ANSI mode off, so that a division by zero gives NULL as in DuckDB."""
    settings = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false",
                # the referral trees' recursive walk (metrics.cascades) has as many levels as the
                # longest referral chain and a row per referred user: Spark's defaults (100
                # levels, 1 M rows) would stop it on large data; -1 lifts both
                "spark.sql.cteRecursionLevelLimit": "-1", "spark.sql.cteRecursionRowLimit": "-1"}
    if remote:
        return settings
    # the server's own settings: a Connect client cannot change them
    settings |= {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}
    if master.startswith("local"):
        # a few local cores: Spark's default 200 shuffle partitions would be mostly scheduling.
        # A cluster keeps its own default, which adaptive execution coalesces
        settings["spark.sql.shuffle.partitions"] = "8"
        # local mode runs everything in the driver's JVM, whose default heap (1 GB) cannot
        # broadcast a join side at 10 M users (measured: OutOfMemoryError in the referral
        # walk): half the machine's memory, as DuckDB's own default memory limit takes
        settings["spark.driver.memory"] = f"{_half_memory_gb()}g"
    return settings


def _half_memory_gb() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):   # not a POSIX system: Spark's own default
        return 1
    return max(1, int(total / 2**30 / 2))


def spark_session(master: str = "local[2]", remote: str | None = None, conf: dict | None = None):
    """A Spark session: Spark Connect at ``remote`` (``sc://host:15002``), else ``master``,
    with :func:`spark_settings` and then ``conf``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise EngineError("the Spark engine needs pyspark: `make setup-spark` installs it "
                          "(and Java 17 must be on the machine)") from e
    if remote:
        # the Connect client's own builder: pyspark's generic one refuses a Connect session in
        # a process that also runs a local Spark, and marks the whole process as Connect-only
        try:
            from pyspark.sql.connect.session import SparkSession as ConnectSession
        except ImportError as e:
            raise EngineError(f"engine.remote {remote}: Spark Connect needs pyspark's connect "
                              "extra (grpcio, …): `make setup-spark` installs it") from e
        b = ConnectSession.builder.remote(remote)
    else:
        b = SparkSession.builder.master(master).appName("fission")
    for k, v in {**spark_settings(master, remote), **(conf or {})}.items():
        b = b.config(k, v)
    return b.getOrCreate()


def connect_spark(data_dir: str | Path, master: str = "local[2]", remote: str | None = None,
                  conf: dict | None = None, spark=None, fingerprint: str | None = None) -> SparkConnection:
    """The staged tables at ``data_dir`` (a local path, or a location the cluster reads:
    ``s3a://…``, ``hdfs://…``) as temporary views of a Spark session. A lake written by
    ``fission data --to`` (fission.data.lake) is read as its manifest lists it, hive-style
    month partitions included; the partition column is not a contract column and is left out
    of the views, so ``SELECT *`` and the column checks see the staged tables' columns.
    ``fingerprint``: the staged data's; a lake holding other data is refused."""
    from .data.contract import TABLES
    spark = spark or spark_session(master, remote, conf)
    root = str(data_dir).rstrip("/")
    manifest = _manifest(spark, root)
    if fingerprint and manifest.get("fingerprint") and manifest["fingerprint"] != fingerprint:
        raise EngineError(f"{root} holds staged data {manifest['fingerprint'][:12]}, not the edition's "
                          f"{fingerprint[:12]}: export it again with `fission data --to {root}`")
    # a lake's own manifest lists its tables (a staged folder's records where it was exported)
    listed = (manifest.get("lake") or {}).get("tables") if manifest.get("layout") == "lake" else None
    for name in TABLES:
        path = _table_path(root, name, listed)
        if path is None:
            continue
        try:
            df = spark.read.parquet(path)
        except Exception as e:  # noqa: BLE001 - Spark's "path does not exist" has no portable class
            if listed is None and "://" in root and "PATH_NOT_FOUND" in str(e):
                continue        # a remote folder without a lake manifest: the table is absent
            raise EngineError(f"Spark could not read table {name} at {path}: {str(e).splitlines()[0]}") from e
        # the lake's partition column (month=YYYY-MM folders) is a layout, not data
        extra = [c for c in (listed or {}).get(name, {}).get("partition_by", ["month"])
                 if c in df.columns and c not in TABLES[name].names]
        (df.drop(*extra) if extra else df).createOrReplaceTempView(name)
    return SparkConnection(spark, unavailable=_unavailable(manifest))


def _table_path(root: str, name: str, listed: dict | None) -> str | None:
    """Where table ``name`` is under ``root``: as the lake manifest lists it, the staged file
    or folder of parts (local), or ``root/name`` (remote); None when absent."""
    if listed is not None:
        return f"{root}/{name}" if name in listed else None
    if "://" in root and not root.startswith("file://"):
        return f"{root}/{name}"
    p = Path(root[len("file://"):] if root.startswith("file://") else root)
    if (p / f"{name}.parquet").exists():
        return str(p / f"{name}.parquet")
    if (p / name).is_dir():
        return str(p / name)
    return None


def _manifest(spark, root: str) -> dict:
    """The manifest beside the tables (staged folder or lake), or {} when there is none."""
    if "://" not in root or root.startswith("file://"):
        mf = Path(root[len("file://"):] if root.startswith("file://") else root) / "manifest.json"
        return json.loads(mf.read_text(encoding="utf-8")) if mf.is_file() else {}
    try:
        rows = spark.read.text(f"{root}/manifest.json", wholetext=True).collect()
    except Exception:  # noqa: BLE001 - absent: a folder of tables without a manifest
        return {}
    return json.loads(rows[0][0]) if rows else {}


def _unavailable(manifest: dict) -> dict[str, set[str]]:
    """The columns a mapping filled with placeholders or left empty (as
    fission.data.load.unavailable_columns reads them for DuckDB): present, but not data."""
    tables = (manifest.get("mapping") or {}).get("tables") or {}
    return {t: set((r.get("columns") or {}).get("filled") or {}) | set((r.get("columns") or {}).get("absent") or [])
            for t, r in tables.items()}


class RecordingConnection:
    """A DuckDB connection that records every statement it runs (with its parameters): what a
    chapter asks of an engine, e.g. to check that all of it translates to Spark SQL."""

    def __init__(self, con):
        self.con = con
        self.statements: list[tuple[str, list]] = []

    def execute(self, sql: str, params=None):
        self.statements.append((sql, list(params or [])))
        return self.con.execute(sql, params or [])

    def register(self, name: str, df) -> None:
        self.con.register(name, df)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def __getattr__(self, name):
        return getattr(self.con, name)


def connect(data_dir: str | Path, engine: dict | None = None):
    """The connection a chapter runs on: DuckDB over the staged tables at ``data_dir`` (the
    default), or Spark when ``engine["kind"] == "spark"`` (the edition's ``engine``
    parameters: master, remote, data_path, conf)."""
    engine = dict(engine or {})
    kind = engine.get("kind", "duckdb")
    if kind == "duckdb":
        from .data.load import connect as duckdb_connect
        return duckdb_connect(data_dir)
    if kind == "spark":
        staged = Path(data_dir) / "manifest.json"
        fp = json.loads(staged.read_text(encoding="utf-8")).get("fingerprint") if staged.is_file() else None
        return connect_spark(engine.get("data_path") or data_dir, master=engine.get("master", "local[2]"),
                             remote=engine.get("remote"), conf=engine.get("conf"), fingerprint=fp)
    raise EngineError(f"engine.kind {kind!r} is not one of duckdb, spark")
