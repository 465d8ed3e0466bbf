"""Staging for a cluster (fission.data.lake): the staged tables written to a lake folder, the
event-sized ones in hive-style month partitions, recorded in the manifests; and the Spark
engine reading that folder gives DuckDB's numbers from the staged one."""
import importlib.util
import json
import shutil

import duckdb
import pandas as pd
import pytest

from fission import engine
from fission.data import lake
from fission.data.contract import TABLES
from fission.data.load import connect, table_files


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """A small simulated edition with a staged manifest (as `fission data` leaves it)."""
    from fission.data.simulate import simulate
    out = tmp_path_factory.mktemp("staged")
    simulate(out, year=2025, users=3000, seed=20250101, progress=False)
    (out / "manifest.json").write_text(json.dumps({"edition": "2025", "fingerprint": "f" * 64}))
    return out


@pytest.fixture(scope="module")
def exported(staged, tmp_path_factory):
    target = tmp_path_factory.mktemp("lake") / "2025"
    return target, lake.export(staged, str(target))


def _months(con, sql):
    return dict(con.execute(sql).fetchall())


def test_event_sized_tables_are_partitioned_by_month_with_every_row(staged, exported):
    target, info = exported
    con = duckdb.connect()
    for name, files in ((n, table_files(staged, n)) for n in TABLES):
        if not files:
            assert name not in info["tables"]
            continue
        t = info["tables"][name]
        written = sorted((target / name).rglob("*.parquet"))
        assert t["files"] == len(written) and t["path"] == f"{target}/{name}"
        src = "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "])"
        assert t["rows"] == con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
        if name not in lake.PARTITIONED:
            assert t["partition_by"] == [] and len(written) == 1
            continue
        assert t["partition_by"] == ["month"]
        # each month folder holds exactly that month's rows; the folder is the only place
        # the month is written (the files keep the staged columns)
        got = _months(con, f"SELECT month, count(*) FROM read_parquet('{target}/{name}/*/*.parquet', "
                           "hive_partitioning=true) GROUP BY 1")
        ts = {"events": "ts", "share_visits": "visit_ts", "shares": "share_ts", "orders": "order_ts"}
        want = _months(con, f"SELECT strftime({ts[name]}, '%Y-%m'), count(*) FROM {src} GROUP BY 1"
                       if name in ts else
                       f"SELECT strftime(o.order_ts, '%Y-%m'), count(*) FROM {src} i JOIN "
                       f"read_parquet('{staged}/orders.parquet') o USING (order_id) GROUP BY 1")
        assert got == want and sorted(want) == t["partitions"]
        assert len(want) == 24           # compare year and year, every month active
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{written[0]}', hive_partitioning=false)").fetchall()]
        assert "month" not in cols and set(TABLES[name].names) <= set(cols)


def test_the_lake_carries_its_manifest_and_the_staged_manifest_records_it(staged, exported, tmp_path):
    target, info = exported
    m = json.loads((target / "manifest.json").read_text())
    assert m["layout"] == "lake" and m["lake"] == info and m["edition"] == "2025"
    assert info["fingerprint"] == "f" * 64 and lake.up_to_date(str(target), "f" * 64)
    assert not lake.up_to_date(str(target), "0" * 64) and not lake.up_to_date("hdfs://nn/x", "f" * 64)
    copy = tmp_path / "staged"
    shutil.copytree(staged, copy)
    rec = lake.record(copy, info)
    assert json.loads((copy / "manifest.json").read_text()) == rec and rec["lake"] == info
    assert "layout" not in rec          # the staged folder is not the lake


def test_export_refuses_to_overwrite_what_is_not_a_lake(staged, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "precious.csv").write_text("a\n1\n")
    with pytest.raises(lake.LakeError, match="not a fission lake"):
        lake.export(staged, str(tmp_path / "other"))
    assert (tmp_path / "other" / "precious.csv").exists()
    with pytest.raises(lake.LakeError, match="not a fission lake"):      # another staged folder
        lake.export(tmp_path / "other", str(staged))
    with pytest.raises(lake.LakeError, match="staged folder itself"):
        lake.export(staged, f"file://{staged}")
    with pytest.raises(lake.LakeError, match="hdfs dfs -put"):
        lake.export(staged, "hdfs://namenode:8020/fission/2025")     # no Spark session given


def test_fission_data_to_exports_and_records_the_lake(staged, tmp_path, monkeypatch, capsys):
    from fission import cli
    root = tmp_path / "staged_root"
    shutil.copytree(staged, root / "2025")
    monkeypatch.setattr(cli, "STAGED", root)
    monkeypatch.setattr(cli, "_stage", lambda ed, force=False: json.loads((root / "2025" / "manifest.json").read_text()))
    target = tmp_path / "lake"
    assert cli.main(["data", "--to", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"exported {len(json.loads((target / 'manifest.json').read_text())['lake']['tables'])} tables" in out
    assert json.loads((root / "2025" / "manifest.json").read_text())["lake"]["target"] == str(target)
    assert cli.main(["data", "--to", str(target)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert cli.main(["data", "--to"]) == 2               # no engine.data_path in the defaults
    assert "engine.data_path" in capsys.readouterr().err
    assert cli.main(["data", "--to", "-p", f"engine.data_path={tmp_path / 'lake2'}"]) == 0
    assert (tmp_path / "lake2" / "events").is_dir()


def _spark_ready() -> bool:
    return importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def spark():
    """Spark local, serving Spark Connect too (the plugin ships in pyspark's jars): one JVM for
    both tests, started once (tens of seconds)."""
    if not _spark_ready():
        pytest.skip("pyspark or Java is missing (`make setup-spark`; Java 17)")
    s = engine.spark_session("local[2]", conf={
        "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
        "spark.connect.grpc.binding.port": str(_free_port())})
    yield s
    s.stop()


def test_spark_reads_the_partitioned_lake_as_duckdb_reads_the_staged_tables(staged, exported, spark):
    from fission import coverage
    from fission.metrics import growth, overview, supply
    target, _ = exported
    with pytest.raises(engine.EngineError, match="export it again"):     # a lake of other data
        engine.connect_spark(f"file://{target}", spark=spark, fingerprint="0" * 64)
    sc = engine.connect_spark(f"file://{target}", spark=spark, fingerprint="f" * 64)
    dc = connect(staged)
    for name in ("events", "order_items", "users"):
        duck_cols = [r[0] for r in dc.execute(f'DESCRIBE "{name}"').fetchall()]
        assert sc.columns(name) == duck_cols == list(sc.execute(f"SELECT * FROM {name} LIMIT 1").df().columns)
        assert coverage.columns(sc, name) == coverage.columns(dc, name)
    assert sc.execute("SELECT count(*) FROM events").fetchone() == dc.execute("SELECT count(*) FROM events").fetchone()
    all_delivered = len(supply.deliveries(dc, 2025))
    for f in (lambda c: overview.yearly_kpis(c, 2025, 2024),
              lambda c: growth.growth_accounting(c, "month"),
              # the md5 sample picks the same orders on both engines (hash() did not)
              lambda c: supply.deliveries(c, 2025, max_rows=all_delivered // 4)):
        d, s = f(dc), f(sc)
        by = list(d.columns) if "transit_days" in d else list(d.columns[:2])
        pd.testing.assert_frame_equal(s.sort_values(by).reset_index(drop=True),
                                      d.sort_values(by).reset_index(drop=True), rtol=1e-9)


def test_a_remote_lake_is_copied_through_the_spark_drivers_hadoop_client(exported, spark, tmp_path):
    target, info = exported
    dest = f"file://{tmp_path}/remote/2025"          # what hdfs:// or s3a:// get, on the local FS
    lake.upload(target, dest, spark)
    assert json.loads((tmp_path / "remote" / "2025" / "manifest.json").read_text())["lake"] == info
    assert len(list((tmp_path / "remote" / "2025" / "events").rglob("*.parquet"))) == info["tables"]["events"]["files"]
    sc = engine.connect_spark(dest, spark=spark)
    assert sc.execute("SELECT count(*) FROM order_items").fetchone()[0] == info["tables"]["order_items"]["rows"]


def test_spark_connect_runs_the_metrics_as_duckdb(staged, exported, spark):
    """`engine.remote`: the statements go to a Spark Connect server over gRPC (here the one the
    local Spark above serves) and give DuckDB's numbers."""
    if not all(importlib.util.find_spec(m) for m in ("grpc", "grpc_status", "zstandard")):
        pytest.skip("pyspark's connect extra is missing (`make setup-spark`)")
    from fission.metrics import growth, overview
    target, _ = exported
    port = spark.conf.get("spark.connect.grpc.binding.port")
    sc = engine.connect(staged, {"kind": "spark", "remote": f"sc://localhost:{port}",
                                 "data_path": f"file://{target}"})
    try:
        assert type(sc.spark).__module__.startswith("pyspark.sql.connect")     # not the local session
        dc = connect(staged)
        assert sc.columns("events") == [r[0] for r in dc.execute('DESCRIBE "events"').fetchall()]
        for f in (lambda c: overview.yearly_kpis(c, 2025, 2024),
                  lambda c: growth.growth_accounting(c, "month")):
            d, s = f(dc), f(sc)
            by = list(d.columns[:2])
            pd.testing.assert_frame_equal(s.sort_values(by).reset_index(drop=True),
                                          d.sort_values(by).reset_index(drop=True), rtol=1e-9)
        sc.register("picked", pd.DataFrame({"user_id": [1, 2, 3]}))   # driver-side frames go up too
        assert sc.execute("SELECT count(*) FROM picked WHERE user_id > ?", [1]).fetchone() == (2,)
    finally:
        sc.spark.stop()
