"""The staged tables where a cluster reads them: a data lake folder (a local or shared path,
``file://…``, ``hdfs://…``, ``s3a://…``) of Parquet, the event-sized tables split into
hive-style partitions by month (``events/month=2025-01/…``).

    info = export("data/staged/2025", "s3a://bucket/fission/2025", manifest, spark=spark)

Partitions follow the lake's convention (a month's activity in its own folder, appended or
replaced as a unit); the metrics never filter on ``month``, so they read the same rows as from
the staged folder. The layout is written with DuckDB (``COPY … PARTITION_BY``) into the target
directly when it is local; a remote target gets the same folder copied there through the Spark
session's Hadoop file system (DuckDB writes neither HDFS nor, offline, S3). The target holds a
``manifest.json``: the staged manifest plus ``layout: lake`` and a ``lake`` record (where,
which table is partitioned by what, its files, partitions and rows), which the Spark engine
reads; :func:`record` adds the same record to the staged manifest.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .contract import TABLES
from .load import memory_cap, scan_sql, table_files

MANIFEST = "manifest.json"
PARTITION = "month"

#: the event-sized tables — rows per user per month, the bulk of the data (10 M users: events
#: 322 M rows, share_visits 48 M, order_items 46 M, orders 37 M, shares 13 M) — and the SQL of
#: the month each row belongs to. order_items has no time of its own: its order's month keeps
#: an order and its items in the same partition. users (a dimension, joined on user_id) and the
#: smaller activity tables (reviews, tickets, returns: under 10 M rows) stay single files.
PARTITIONED = {
    "events": "strftime(t.ts, '%Y-%m')",
    "share_visits": "strftime(t.visit_ts, '%Y-%m')",
    "shares": "strftime(t.share_ts, '%Y-%m')",
    "orders": "strftime(t.order_ts, '%Y-%m')",
    "order_items": "strftime(o.order_ts, '%Y-%m')",
}
_JOINS = {"order_items": "LEFT JOIN {orders} o ON o.order_id = t.order_id"}


class LakeError(RuntimeError):
    """The tables could not be written to the lake; the message says what to do."""


def is_remote(target: str) -> bool:
    """A location only a Hadoop client reaches (hdfs://, s3a://, …); local paths and file://
    URIs are written directly."""
    s = str(target)
    return "://" in s and not s.startswith("file://")


def local_path(target: str) -> Path:
    s = str(target)
    return Path(s[len("file://"):] if s.startswith("file://") else s)


def export(staged_dir: str | Path, target: str, manifest: dict | None = None, spark=None) -> dict:
    """Write the staged tables at ``staged_dir`` to ``target`` as Parquet (event-sized tables
    partitioned by month) with a ``manifest.json``; return the ``lake`` record. A remote target
    needs ``spark`` (a session with a master, not Spark Connect: the copy runs in its driver).
    What was at ``target`` is replaced only once the new lake is complete, and only if it is a
    lake (a folder with a lake manifest) or empty."""
    staged_dir = Path(staged_dir)
    if manifest is None:
        mf = staged_dir / MANIFEST
        manifest = json.loads(mf.read_text(encoding="utf-8")) if mf.is_file() else {}
    target = str(target).rstrip("/")
    if is_remote(target):
        fs = _hadoop_fs(spark, target)          # before the writing: it may take minutes
        with tempfile.TemporaryDirectory(prefix="fission-lake-") as tmp:
            lake = write_local(staged_dir, Path(tmp) / "lake", target, manifest)
            upload(Path(tmp) / "lake", target, spark, fs)
        return lake
    out = local_path(target)
    if out.resolve() == staged_dir.resolve():
        raise LakeError(f"the lake {target} is the staged folder itself; give another location")
    if out.exists() and any(out.iterdir()) and not _is_lake(out):
        raise LakeError(f"{out} exists and is not a fission lake (no {MANIFEST} with layout: lake); "
                        "give an empty or new location: the export replaces what is there")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        lake = write_local(staged_dir, tmp, target, manifest)
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            if old.exists():
                os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return lake


def _is_lake(folder: Path) -> bool:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("layout") == "lake"
    except (OSError, ValueError):
        return False


def write_local(staged_dir: Path, out: Path, target: str, manifest: dict) -> dict:
    """The lake layout in the new local folder ``out``, its manifest recording ``target``."""
    import duckdb
    out.mkdir(parents=True)
    con = duckdb.connect()
    # capped and spilling as staging is; rows keep no order across the partitions anyway
    if cap := memory_cap():
        con.execute(f"SET memory_limit='{cap}'")
    con.execute(f"SET temp_directory='{Path(tempfile.gettempdir()) / 'fission-duckdb'}'")
    con.execute("SET preserve_insertion_order=false")
    con.execute("SET enable_progress_bar=false")
    tables = {}
    try:
        for name in TABLES:
            files = table_files(staged_dir, name)
            if not files:
                continue
            staged_rows = con.execute(f"SELECT count(*) FROM {scan_sql(files)}").fetchone()[0]
            if name in PARTITIONED:
                join = _JOINS.get(name, "").format(
                    orders=scan_sql(table_files(staged_dir, "orders") or files))
                con.execute(f"COPY (SELECT t.*, {PARTITIONED[name]} AS {PARTITION} "
                            f"FROM {scan_sql(files)} t {join}) TO '{(out / name).as_posix()}' "
                            f"(FORMAT parquet, PARTITION_BY ({PARTITION}))")
                written = sorted((out / name).rglob("*.parquet"))
            else:
                (out / name).mkdir()
                dest = out / name / "part-0.parquet"
                con.execute(f"COPY (SELECT * FROM {scan_sql(files)}) TO '{dest.as_posix()}' (FORMAT parquet)")
                written = [dest]
            rows = con.execute(f"SELECT count(*) FROM read_parquet([{', '.join(repr(f.as_posix()) for f in written)}])"
                               ).fetchone()[0]
            if rows != staged_rows:             # a join that lost or doubled rows
                raise LakeError(f"{name}: {rows:,} rows written to the lake, {staged_rows:,} staged")
            info = {"path": f"{target}/{name}", "rows": int(rows), "files": len(written),
                    "partition_by": [PARTITION] if name in PARTITIONED else []}
            if name in PARTITIONED:
                info["partitions"] = sorted({f.parent.name.split("=", 1)[1] for f in written})
            tables[name] = info
    finally:
        con.close()
    lake = {"target": target, "format": "parquet", "partitioning": "hive",
            "fingerprint": manifest.get("fingerprint"), "tables": tables}
    (out / MANIFEST).write_text(json.dumps({**manifest, "layout": "lake", "lake": lake}, ensure_ascii=False, indent=2),
                                encoding="utf-8")
    return lake


def _hadoop_fs(spark, target: str):
    """The Hadoop file system of ``target`` in ``spark``'s driver."""
    jvm = getattr(getattr(spark, "sparkContext", None), "_jvm", None) if spark is not None else None
    if jvm is None:
        raise LakeError(
            f"writing to {target} needs a Spark session with a master (engine.master), which copies "
            "the tables through its Hadoop client; Spark Connect cannot. Export to a local folder "
            f"(`fission data --to /some/dir`) and copy that folder to {target} with `hdfs dfs -put` "
            "or `aws s3 cp --recursive`")
    path = jvm.org.apache.hadoop.fs.Path(target)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def upload(local_dir: Path, target: str, spark, fs=None) -> None:
    """Copy ``local_dir`` to ``target`` (replacing it) with the Hadoop client of ``spark``'s
    driver, which knows the cluster's file systems (hdfs://, s3a:// with hadoop-aws in its
    ``spark.jars.packages`` and credentials in its conf)."""
    fs = fs or _hadoop_fs(spark, target)
    hpath = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
    dest = hpath(target)
    if fs.exists(dest):
        if not fs.exists(hpath(f"{target}/{MANIFEST}")):
            raise LakeError(f"{target} exists and is not a fission lake (no {MANIFEST}); give a new "
                            "location: the export replaces what is there")
        fs.delete(dest, True)
    fs.mkdirs(dest)
    for child in sorted(local_dir.iterdir()):
        # delSrc=False, overwrite=True
        fs.copyFromLocalFile(False, True, hpath(child.resolve().as_uri()), hpath(f"{target}/{child.name}"))


def up_to_date(target: str, fingerprint: str | None) -> bool:
    """A local lake already holding the staged data of ``fingerprint`` (remote ones are
    always rewritten: checking them needs the cluster's client)."""
    if is_remote(target) or not fingerprint:
        return False
    mf = local_path(target) / MANIFEST
    try:
        m = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return m.get("layout") == "lake" and (m.get("lake") or {}).get("fingerprint") == fingerprint


def record(staged_dir: str | Path, lake: dict) -> dict:
    """Add the ``lake`` record to the staged manifest (what `run` and the chapters read)."""
    mf = Path(staged_dir) / MANIFEST
    manifest = json.loads(mf.read_text(encoding="utf-8"))
    manifest["lake"] = lake
    tmp = mf.with_name(f".{MANIFEST}.tmp")         # a reader never sees half a manifest
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(mf)
    return manifest
