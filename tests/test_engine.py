"""The engines: every statement the chapters run, written in DuckDB's dialect, translates to
Spark SQL (no Java needed); parameters bind as literals; Spark's results come back with
DuckDB's types. The end-to-end parity of the two engines is in test_report_e2e.py."""
import datetime as dt
import decimal
import importlib
from pathlib import Path

import pandas as pd
import pytest

from fission import engine
from fission.chapters import OUTLINE
from fission.data.load import connect
from fission.notebook import jsonable


def test_parameters_bind_as_literals_in_order_and_by_position():
    sql = "SELECT '?' AS q, x FROM t WHERE a = ? AND b IN (?, ?) -- ?\n AND c = ?"
    out = engine.bind(sql, [1, "it's", 2.5, pd.Timestamp("2025-01-02 03:04:05")])
    assert out == ("SELECT '?' AS q, x FROM t WHERE a = 1 AND b IN ('it''s', 2.5) -- ?\n"
                   " AND c = TIMESTAMP '2025-01-02 03:04:05.000000'")
    assert engine.bind("SELECT $2, $1, $2", [dt.date(2025, 1, 1), None]) == \
        "SELECT NULL, DATE '2025-01-01', NULL"
    with pytest.raises(engine.EngineError, match="2 parameter"):
        engine.bind("SELECT ?", [1, 2])
    with pytest.raises(engine.EngineError, match="non-finite"):
        engine.literal(float("nan"))


def test_duckdb_idioms_translate():
    out = engine.to_spark_sql("SELECT date_diff('microsecond', a, b) / 1e6 AS s, x::DATE AS d, "
                              "INTERVAL '86400.0' SECOND AS i FROM t WHERE ts >= ? GROUP BY ALL",
                              ["2025-01-01"])
    assert out == ("SELECT DATEDIFF(MICROSECOND, a, b) / 1e6 AS s, CAST(x AS DATE) AS d, "
                   "INTERVAL '86400.0' SECOND AS i FROM t WHERE ts >= '2025-01-01' GROUP BY ALL")


def test_spark_results_get_duckdbs_types():
    df = pd.DataFrame({"d": [dt.date(2025, 1, 1)], "n": pd.Series([3], dtype="int32"),
                       "s": [decimal.Decimal("1.5")], "t": pd.to_datetime(["2025-01-01 10:00"])})
    out = engine.normalise(df)
    assert str(out.d.dtype) == "datetime64[us]" and str(out.t.dtype) == "datetime64[us]"
    assert out.n.dtype == "int64" and out.s.dtype == "float64"


def test_every_statement_of_every_chapter_translates_to_spark_sql(small_platform):
    """Run every chapter's facts on DuckDB, recording each statement, and translate them all."""
    con = engine.RecordingConnection(connect(small_platform[0]))
    facts = {}
    for ch, slug in OUTLINE.items():
        mod = importlib.import_module(f"fission.chapters.{slug}")
        kw = {"chapter_facts": dict(facts)} if slug == "conclusions" else {}
        facts[ch] = jsonable(mod.facts(con, 2025, 2024, 50, **kw))    # as chapter 10 reads them
    assert len(con.statements) > 300
    failed = []
    for sql, params in con.statements:
        try:
            engine.to_spark_sql(sql, params)
        except engine.EngineError as e:
            failed.append(str(e)[:300])
    assert not failed, f"{len(failed)} statement(s) do not translate:\n" + "\n".join(failed[:5])


def test_an_unknown_engine_is_refused(tmp_path):
    with pytest.raises(engine.EngineError, match="duckdb, spark"):
        engine.connect(tmp_path, {"kind": "bigquery"})


def test_the_edition_chooses_the_engine_and_spark_runs_one_chapter_at_a_time():
    from fission import params
    staged = Path("data/staged/2025")
    assert params.load("params/default.yaml").notebook_parameters(staged)["engine"]["kind"] == "duckdb"
    sp = params.load("params/default.yaml", ["engine.kind=spark", "engine.master=local[4]"])
    p = sp.notebook_parameters(staged)["engine"]
    assert p["kind"] == "spark" and p["master"] == "local[4]" and sp.workers == 1
    with pytest.raises(params.ParamsError, match="engine"):
        params.load("params/default.yaml", ["engine.kind=bigquery"])


def test_exact_percentiles_stay_exact_on_spark():
    # sqlglot would write PERCENTILE_CONT(x, 0.9), which Spark rejects
    assert engine.to_spark_sql("SELECT quantile_cont(x, 0.9) AS p FROM t") == \
        "SELECT PERCENTILE(x, 0.9) AS p FROM t"


def test_spark_column_checks_leave_out_a_mappings_placeholders(tmp_path):
    """As on DuckDB (fission.data.load.unavailable_columns): a column a mapping filled or left
    empty is in the table but not in the data, so coverage does not count it."""
    import json

    from fission.data.load import unavailable_columns
    manifest = {"mapping": {"tables": {"orders": {"columns": {"filled": {"carrier": "unknown"},
                                                                  "absent": ["warehouse_id"]}}}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert engine._unavailable(manifest) == unavailable_columns(tmp_path) == \
        {"orders": {"carrier", "warehouse_id"}}

    class Table:                       # the one thing columns() asks of a Spark session
        columns = ["order_id", "carrier", "warehouse_id", "gmv"]
    spark = type("Spark", (), {"table": lambda self, name: Table()})()
    con = engine.SparkConnection(spark, unavailable=engine._unavailable(manifest))
    assert con.columns("orders") == ["order_id", "gmv"] and con.columns("items") == Table.columns


def test_spark_finds_the_tables_of_a_staged_folder_and_of_a_lake(tmp_path):
    (tmp_path / "users.parquet").touch()
    (tmp_path / "events").mkdir()
    assert engine._table_path(str(tmp_path), "users", None) == str(tmp_path / "users.parquet")
    assert engine._table_path(f"file://{tmp_path}", "events", None) == str(tmp_path / "events")
    assert engine._table_path(str(tmp_path), "orders", None) is None
    lake = {"users": {}, "events": {"partition_by": ["month"]}}
    assert engine._table_path("s3a://b/f/2025", "events", lake) == "s3a://b/f/2025/events"
    assert engine._table_path("s3a://b/f/2025", "orders", lake) is None
    assert engine._table_path("hdfs://nn/f", "orders", None) == "hdfs://nn/f/orders"


# ------------------------------------------------------------------ Spark session settings
def test_shuffle_partitions_are_set_for_spark_local_only():
    assert engine.spark_settings("local[2]")["spark.sql.shuffle.partitions"] == "8"
    assert engine.spark_settings("local[*]")["spark.sql.shuffle.partitions"] == "8"
    # local mode: the driver is the executor, with half the machine's memory (not Spark's 1 GB)
    assert int(engine.spark_settings("local[2]")["spark.driver.memory"].rstrip("g")) >= 1
    for master, remote in (("spark://h:7077", None), ("yarn", None), ("k8s://h", None),
                           ("local[2]", "sc://h:15002")):
        s = engine.spark_settings(master, remote)
        assert "spark.sql.shuffle.partitions" not in s and "spark.driver.memory" not in s, (master, remote)
        assert s["spark.sql.session.timeZone"] == "UTC"
        assert s["spark.sql.cteRecursionRowLimit"] == "-1"


def test_the_data_start_and_end_are_asked_once_per_spark_connection():
    from fission.metrics import _sql

    class Frame:
        def __init__(self, v):
            self.v = v

        def collect(self):
            return [(self.v,)]

    class Spark:
        asked = []

        def sql(self, q):
            self.asked.append(q)
            return Frame(dt.datetime(2025, 12, 31) if "GREATEST" in q.upper() or "LEAST" in q.upper()
                         else dt.datetime(2020, 1, 1))

    con = engine.SparkConnection(Spark())
    con.has_table = lambda name: name in ("orders", "users")
    for _ in range(3):
        assert _sql.data_end(con) == pd.Timestamp("2025-12-31")
        assert _sql.data_start(con) == pd.Timestamp("2025-12-31")
    # greatest(…), least(…), min(signup_ts): one statement each, however often the chapters ask
    assert len(Spark.asked) == con.statements == 3


# ------------------------------------------------------------------ the same SQL on both engines
def _spark_ready() -> bool:
    import shutil
    return importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None


@pytest.fixture(scope="module")
def both(small_platform):
    """DuckDB and Spark local over the same simulated platform (Spark's start: tens of seconds)."""
    if not _spark_ready():
        pytest.skip("pyspark or Java is missing (`make setup-spark`; Java 17)")
    spark = engine.spark_session("local[2]")
    duck = connect(small_platform[0])
    yield duck, engine.connect_spark(small_platform[0], spark=spark)
    duck.close()
    spark.stop()


def test_sampled_cascade_trees_are_the_same_on_both_engines(both):
    from fission.metrics import cascades
    duck, sp = both
    d = cascades.referral_edges(duck, max_users=2000)
    s = cascades.referral_edges(sp, max_users=2000)
    assert d.attrs["sample"]["sampled"] and 1900 < d.attrs["sample"]["users"] <= 2000
    assert d.attrs == s.attrs
    pd.testing.assert_frame_equal(d, s)


def test_the_training_sample_and_its_friends_are_the_same_on_both_engines(both):
    import numpy as np

    from fission.chapters import recommendation
    duck, sp = both
    start, cutoff = pd.Timestamp("2024-12-03"), pd.Timestamp("2025-12-04")
    d = recommendation.training_sample(duck, start, cutoff, 2000)
    s = recommendation.training_sample(sp, start, cutoff, 2000)
    assert d["with_history"] == s["with_history"] > 2000
    assert np.array_equal(d["core"], s["core"]) and np.array_equal(d["users"], s["users"])
    key = ["user_id", "friend_id"]
    fd = recommendation.friends(duck, d["users"]).sort_values(key, ignore_index=True)
    fs = recommendation.friends(sp, s["users"]).sort_values(key, ignore_index=True)
    assert len(fd) > 0
    pd.testing.assert_frame_equal(fd, fs)


def test_the_online_ab_sums_are_the_same_on_both_engines(both):
    from fission.metrics import recommend as rm
    duck, sp = both
    d = rm.online_ab(duck, "2025-01-01", "2026-01-01")
    s = rm.online_ab(sp, "2025-01-01", "2026-01-01")
    pd.testing.assert_frame_equal(d["rows"], s["rows"], check_exact=False, rtol=1e-9)
    for k in ("users", "impressions", "clicks", "ctr", "ctr_se", "conversion", "conversion_se", "srm_p"):
        assert d[k] == pytest.approx(s[k], rel=1e-9), k


def test_the_data_start_and_end_agree_and_spark_asks_once(both):
    from fission.metrics import _sql
    duck, sp = both
    assert _sql.data_end(duck) == _sql.data_end(sp)
    assert _sql.data_start(duck) == _sql.data_start(sp)
    n = sp.statements
    _sql.data_end(sp), _sql.data_start(sp), _sql.first_activity(sp)
    assert sp.statements == n
