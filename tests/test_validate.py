"""The validator catches each kind of contract breach with one clear line, and never touches
its input."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fission.data import validate as V
from fission.data.contract import TABLES

TS = pd.Timestamp


def valid_frames(seed: int = 0) -> dict[str, pd.DataFrame]:
    """A tiny dataset that satisfies the contract: the required tables plus a few optional
    ones that exercise same-table and cross-table time order. ``seed`` shifts the times."""
    base = TS("2025-01-01 08:00") + pd.Timedelta(hours=seed)
    uid = [1, 2, 3, 4, 5, 6]
    users = pd.DataFrame({
        "user_id": pd.array(uid, dtype="int64"),
        "signup_ts": [base + pd.Timedelta(days=i) for i in range(6)],
        "city_tier": [1, 2, 3, 4, 5, 1],
        "province": ["广东", "浙江", "北京", "四川", "河南", "江苏"],
        "age_band": ["18-24", "25-30", "31-40", "41-50", "50+", "<18"],
        "gender": ["F", "M", "F", "M", "F", "M"],
        "acquisition_channel": ["organic", "referral", "kol", "ads", "live", "group_buy"],
        "referrer_user_id": pd.array([None, 1, 1, 1, 1, 1], dtype="Int64"),
        "device_hash": [f"d{i:04x}" for i in uid],
        "is_member": [i % 2 == 0 for i in uid],
        "member_since": [base + pd.Timedelta(days=i + 3) if i % 2 == 0 else pd.NaT for i in range(6)],
    })
    suppliers = pd.DataFrame({"supplier_id": [10, 11], "region": ["east", "south"],
                              "category": ["beauty", "food"]})
    items = pd.DataFrame({"item_id": [100, 101, 102], "category": ["beauty", "food", "food"],
                          "brand": ["A", "B", "C"], "list_price": [99.0, 12.5, 30.0],
                          "supplier_id": [10, 11, 11]})
    orders = pd.DataFrame({
        "order_id": [1000, 1001, 1002, 1003],
        "user_id": [1, 2, 2, 3],
        "order_ts": [TS("2025-03-01 10:00"), TS("2025-03-02 11:00"), TS("2025-03-05 12:00"), TS("2025-04-01 09:00")],
        "gmv": [99.0, 25.0, 30.0, 111.5],
        "discount": [0.0, 5.0, 0.0, 10.0],
        "channel": ["organic", "referral", "referral", "kol"],
        "campaign_id": pd.array([None, None, None, None], dtype="Int64"),
        "group_id": pd.array([None, None, None, None], dtype="Int64"),
        "live_id": pd.array([None, None, None, None], dtype="Int64"),
        "status": ["paid", "paid", "cancelled", "refunded"],
        "shipped_ts": [TS("2025-03-01 18:00"), TS("2025-03-03 08:00"), pd.NaT, TS("2025-04-02 09:00")],
        "delivered_ts": [TS("2025-03-03 10:00"), TS("2025-03-04 08:00"), pd.NaT, TS("2025-04-04 09:00")],
        "warehouse_id": ["east", "south", None, "north"],
        "carrier": ["sf", "zto", None, "jd"],
    })
    order_items = pd.DataFrame({"order_id": [1000, 1001, 1001, 1002, 1003],
                                "item_id": [100, 101, 102, 102, 100],
                                "qty": [1, 1, 1, 1, 1], "unit_price": [99.0, 12.5, 12.5, 30.0, 111.5]})
    shares = pd.DataFrame({
        "share_id": [1, 2], "user_id": [1, 2],
        "share_ts": [TS("2025-02-01 10:00"), TS("2025-02-10 10:00")],
        "platform": ["wechat_group", "douyin"], "mechanism": ["invite_coupon", "content"],
        "campaign_id": pd.array([None, None], dtype="Int64"),
        "item_id": pd.array([100, None], dtype="Int64"),
    })
    tickets = pd.DataFrame({
        "ticket_id": [1, 2], "user_id": [1, 2],
        "order_id": pd.array([1000, None], dtype="Int64"),
        "created_ts": [TS("2025-03-04 10:00"), TS("2025-03-06 10:00")],
        "first_response_ts": [TS("2025-03-04 11:00"), pd.NaT],
        "resolved_ts": [TS("2025-03-05 11:00"), pd.NaT],
        "category": ["logistics", "other"], "channel": ["in_app", "phone"],
        "csat": pd.array([5, None], dtype="Int64"),
        "agent_id": pd.array([7, None], dtype="Int64"),
    })
    return {"users": users, "suppliers": suppliers, "items": items, "orders": orders,
            "order_items": order_items, "shares": shares, "tickets": tickets}


def write(frames: dict[str, pd.DataFrame], d: Path, fmt: str = "parquet") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        if fmt == "parquet":
            df.to_parquet(d / f"{name}.parquet", index=False)
        else:
            df.to_csv(d / f"{name}.csv", index=False)
    return d


def make_valid(d: Path, fmt: str = "parquet", **kw) -> Path:
    return write(valid_frames(**kw), d, fmt)


def errs(problems):
    return [p for p in problems if p.severity == "error"]


def one(problems, rule, table=None, column=None):
    hits = [p for p in problems if p.rule == rule and (table is None or p.table == table)
            and (column is None or p.column == column)]
    assert len(hits) == 1, f"expected one {rule} on {table}.{column}, got: " + \
        "\n".join(p.line() for p in problems)
    return hits[0]


def broken(tmp_path, table, change, fmt="parquet"):
    frames = valid_frames()
    frames[table] = change(frames[table].copy())
    return V.validate(write(frames, tmp_path / "d", fmt))


# --- the valid dataset --------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_valid_dataset_passes(tmp_path, fmt, capsys):
    d = make_valid(tmp_path / "d", fmt)
    problems = V.validate(d)
    assert errs(problems) == [], "\n".join(p.line() for p in problems)
    absent = {p.table for p in problems if p.rule == "table_absent"}
    assert absent == {t.name for t in TABLES.values() if not t.required} - {"shares", "tickets"}
    assert V.run(d) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("all 7 tables pass the contract")


def test_input_files_unchanged(tmp_path):
    d = make_valid(tmp_path / "p", "parquet")
    c = make_valid(tmp_path / "c", "csv")
    (tmp_path / "p" / "users.parquet").unlink()  # one broken dir too
    before = {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in list(d.iterdir()) + list(c.iterdir())}
    V.validate(d)
    V.validate(c)
    after = {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in list(d.iterdir()) + list(c.iterdir())}
    assert before == after


def write_parts(frames: dict[str, pd.DataFrame], table: str, parts: dict[str, pd.DataFrame], d: Path) -> Path:
    """The tables of ``frames`` with ``table`` written as a folder of Parquet ``parts``."""
    write({k: v for k, v in frames.items() if k != table}, d)
    (d / table).mkdir()
    for name, part in parts.items():
        part.to_parquet(d / table / name, index=False)
    return d


def test_parts_directory(tmp_path):
    frames = valid_frames()
    o = frames["orders"]
    d = write_parts(frames, "orders", {"part-0.parquet": o.iloc[:2], "part-1.parquet": o.iloc[2:]}, tmp_path / "d")
    assert errs(V.validate(d)) == []


def test_stats_give_the_stored_schema(tmp_path):
    """Staging references Parquet whose stored schema is the staged one; the validator says
    what it found: the columns and types, or None for CSV and for parts that differ."""
    frames = valid_frames()
    d = write({k: v for k, v in frames.items() if k not in ("orders", "tickets")}, tmp_path / "d")
    (d / "orders").mkdir()
    o = frames["orders"]
    o.iloc[:2].to_parquet(d / "orders" / "part-0.parquet", index=False)
    o.iloc[2:].astype({"gmv": "int64"}).to_parquet(d / "orders" / "part-1.parquet", index=False)
    frames["tickets"].to_csv(d / "tickets.csv", index=False)
    st: dict = {}
    V.validate(d, stats=st)
    assert st["schemas"]["orders"] is None and st["schemas"]["tickets"] is None
    users = st["schemas"]["users"]
    assert [c for c, _ in users] == list(frames["users"].columns)
    assert dict(users)["user_id"] == "BIGINT" and dict(users)["signup_ts"] == "TIMESTAMP_NS"
    assert users != V.staged_schema(TABLES["users"])   # nanoseconds: staging converts it
    assert ("signup_ts", "TIMESTAMP") in V.staged_schema(TABLES["users"])
    o.to_parquet(d / "orders" / "part-1.parquet", index=False)   # the same types again
    V.validate(d, stats=st)
    assert dict(st["schemas"]["orders"])["gmv"] == "DOUBLE"


# --- structure ----------------------------------------------------------------------------
def test_missing_required_table(tmp_path):
    d = make_valid(tmp_path / "d")
    (d / "items.parquet").unlink()
    p = one(V.validate(d), "missing_table", "items")
    assert p.severity == "error"
    assert p.line().startswith("items: required table missing")
    assert V.run(d) != 0


def test_missing_optional_table_is_a_warning(tmp_path):
    d = make_valid(tmp_path / "d")
    (d / "shares.parquet").unlink()
    problems = V.validate(d)
    p = one(problems, "table_absent", "shares")
    assert p.severity == "warning" and "optional table shares absent" in p.line()
    assert errs(problems) == []


def test_fk_to_absent_table_skipped_with_warning(tmp_path):
    problems = V.validate(make_valid(tmp_path / "d"))
    p = one(problems, "foreign_key_skipped", "orders", "campaign_id")
    assert p.severity == "warning" and "campaigns absent" in p.line()


def test_missing_column(tmp_path):
    problems = broken(tmp_path, "orders", lambda df: df.drop(columns=["gmv"]))
    p = one(problems, "missing_column", "orders", "gmv")
    assert p.severity == "error" and p.line().startswith("orders.gmv: column missing")


def test_extra_column_is_a_warning(tmp_path):
    problems = broken(tmp_path, "orders", lambda df: df.assign(note="x"))
    p = one(problems, "extra_column", "orders", "note")
    assert p.severity == "warning"
    assert errs(problems) == []


def test_wrong_type_reported_once_and_value_checks_skipped(tmp_path):
    def change(df):
        df["gmv"] = ["a", "b", "c", "-1"]          # strings: wrong type
        df["order_ts"] = df["order_ts"].astype(str)  # timestamps as text
        return df
    problems = broken(tmp_path, "orders", change)
    p = one(problems, "type", "orders", "gmv")
    assert "VARCHAR" in p.line() and "money" in p.line()
    one(problems, "type", "orders", "order_ts")
    assert [x for x in problems if x.column == "gmv"] == [p]
    # time order rules using order_ts are skipped, not crashed
    assert not [x for x in problems if x.rule == "time_order" and x.table == "orders"]


def test_float_id_gets_a_pandas_hint(tmp_path):
    problems = broken(tmp_path, "orders", lambda df: df.assign(campaign_id=[None, 1.0, None, None]))
    assert "Int64" in one(problems, "type", "orders", "campaign_id").line()


def test_csv_unreadable_value(tmp_path):
    def change(df):
        df["user_id"] = df["user_id"].astype(object)
        df.loc[1, "user_id"] = "abc"
        return df
    problems = broken(tmp_path, "orders", change, fmt="csv")
    p = one(problems, "type", "orders", "user_id")
    assert p.count == 1 and "abc" in p.line() and "order_id=1001" in p.line()
    assert not [x for x in problems if x.rule == "foreign_key" and x.column == "user_id"]


# --- values -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_null_in_non_nullable(tmp_path, fmt):
    problems = broken(tmp_path, "users", lambda df: df.assign(device_hash=[None, "x", None, "y", "z", "w"]), fmt)
    p = one(problems, "not_null", "users", "device_hash")
    assert p.count == 2 and "user_id=1" in p.line()
    assert "users.device_hash: null in a non-nullable column in 2 rows, e.g. user_id=1" in p.line()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_value_outside_closed_list(tmp_path, fmt):
    problems = broken(tmp_path, "orders", lambda df: df.assign(status=["paid", "PAID", "lost", "paid"]), fmt)
    p = one(problems, "allowed", "orders", "status")
    assert p.count == 2 and "PAID" in p.line() and "lost" in p.line() and "order_id=1001" in p.line()


def test_int_code_outside_closed_list(tmp_path):
    problems = broken(tmp_path, "users", lambda df: df.assign(city_tier=[1, 2, 3, 4, 5, 6]))
    assert one(problems, "allowed", "users", "city_tier").count == 1


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_negative_money(tmp_path, fmt):
    problems = broken(tmp_path, "orders", lambda df: df.assign(discount=[0.0, -5.0, 0.0, 1.0]), fmt)
    p = one(problems, "min", "orders", "discount")
    assert p.count == 1 and "negative amount" in p.line() and "discount=-5" in p.line()


def test_bounds_and_nan(tmp_path):
    frames = valid_frames()
    frames["order_items"] = frames["order_items"].assign(qty=[1, 0, 1, 1, 1])
    frames["tickets"] = frames["tickets"].assign(csat=pd.array([9, None], dtype="Int64"))
    d = write(frames, tmp_path / "d")
    import pyarrow as pa
    import pyarrow.parquet as pq
    items = pa.Table.from_pandas(frames["items"], preserve_index=False)  # a real NaN, not a null
    items = items.set_column(3, "list_price", pa.array([1.0, float("nan"), 3.0], from_pandas=False))
    pq.write_table(items, d / "items.parquet")
    problems = V.validate(d)
    assert one(problems, "min", "order_items", "qty").count == 1
    assert one(problems, "finite", "items", "list_price").count == 1
    assert "above maximum 5" in one(problems, "max", "tickets", "csat").line()


# --- keys ---------------------------------------------------------------------------------
def test_duplicate_single_key(tmp_path):
    problems = broken(tmp_path, "items", lambda df: df.assign(item_id=[100, 101, 101]))
    p = one(problems, "primary_key", "items", "item_id")
    assert p.count == 2 and "item_id=101" in p.line() and "1 value repeated" in p.line()


def test_duplicate_composite_key(tmp_path):
    problems = broken(tmp_path, "order_items", lambda df: df.assign(item_id=[100, 101, 101, 102, 100]))
    p = one(problems, "primary_key", "order_items")
    assert "composite key (order_id, item_id)" in p.line()
    assert "order_id=1001, item_id=101" in p.line()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_dangling_foreign_key(tmp_path, fmt):
    problems = broken(tmp_path, "orders", lambda df: df.assign(user_id=[1, 2, 99, 98]), fmt)
    p = one(problems, "foreign_key", "orders", "user_id")
    assert p.count == 2 and "users.user_id" in p.line() and "user_id=99" in p.line()
    assert "order_id=1002" in p.line()


def test_self_referencing_foreign_key(tmp_path):
    problems = broken(tmp_path, "users", lambda df: df.assign(
        referrer_user_id=pd.array([None, 1, 1, 77, 1, 1], dtype="Int64")))
    assert one(problems, "foreign_key", "users", "referrer_user_id").count == 1


# --- time order ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_shipped_before_ordered(tmp_path, fmt):
    def change(df):
        df.loc[0, "shipped_ts"] = TS("2025-02-28 09:00")
        return df
    problems = broken(tmp_path, "orders", change, fmt)
    p = one(problems, "time_order", "orders", "shipped_ts")
    assert p.line() == ("orders.shipped_ts: time order shipped_ts >= order_ts broken in 1 row, e.g. "
                        "order_id=1000 (order_ts=2025-03-01 10:00, shipped_ts=2025-02-28 09:00)"
                        " — correct the times, or the rows they come from")


def test_first_response_before_created(tmp_path):
    def change(df):
        df.loc[0, "first_response_ts"] = TS("2025-03-04 09:00")
        return df
    problems = broken(tmp_path, "tickets", change)
    p = one(problems, "time_order", "tickets", "first_response_ts")
    assert p.count == 1 and "ticket_id=1" in p.line()


def test_cross_table_time_order(tmp_path):
    def change(df):
        df.loc[1, "order_ts"] = TS("2025-01-01 00:00")  # before user 2 signed up
        df.loc[1, "shipped_ts"] = TS("2025-01-01 01:00")
        df.loc[1, "delivered_ts"] = TS("2025-01-01 02:00")
        return df
    problems = broken(tmp_path, "orders", change)
    p = one(problems, "time_order", "orders", "order_ts")
    line = p.line()
    assert "order_ts >= users.signup_ts (via user_id)" in line and "order_id=1001" in line
    assert "users.signup_ts=2025-01-02 08:00" in line and "order_ts=2025-01-01 00:00" in line


def test_cross_table_time_order_csv(tmp_path):
    def change(df):
        df.loc[0, "share_ts"] = TS("2024-12-01 00:00")
        return df
    problems = broken(tmp_path, "shares", change, "csv")
    assert one(problems, "time_order", "shares", "share_ts").count == 1


# --- report -------------------------------------------------------------------------------
def test_report_and_exit_code(tmp_path, capsys):
    frames = valid_frames()
    frames["orders"] = frames["orders"].assign(discount=[0.0, -5.0, 0.0, 1.0], status="paid ")
    d = write(frames, tmp_path / "d")
    assert V.run(d) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].startswith("7 tables checked, 2 rules broken")
    assert out[-1] == f"fix the rules above in {d} (or export the tables again), then run `fission validate {d}` again"
    assert out[0].startswith("ERROR orders.")
    assert V.run(tmp_path / "nope") == 2


def test_contract_markdown_mentions_every_column():
    md = V.contract_markdown()
    for t in TABLES.values():
        assert f"### `{t.name}`" in md
        for c in t.columns:
            assert f"| `{c.name}` |" in md


def test_unreadable_file_is_an_error_not_a_crash(tmp_path):
    d = make_valid(tmp_path / "d")
    (d / "items.parquet").write_bytes(b"not parquet at all")
    problems = V.validate(d)
    p = one(problems, "unreadable", "items")
    assert p.severity == "error" and "items.parquet" in p.line()
    # foreign keys into the unreadable table are skipped quietly (the table is reported)
    assert not [x for x in problems if x.rule == "foreign_key"]


def test_unknown_table_warning(tmp_path):
    d = make_valid(tmp_path / "d")
    valid_frames()["orders"].to_parquet(d / "order.parquet", index=False)  # a typo
    p = one(V.validate(d), "unknown_table", "order")
    assert p.severity == "warning"


# --- memory -------------------------------------------------------------------------------------
def test_out_of_memory_retries_on_one_thread_then_says_what_to_do(monkeypatch):
    import duckdb

    class Starved:   # a connection whose queries never fit in memory
        def __init__(self):
            self.sql = []

        def execute(self, sql):
            self.sql.append(sql)
            if not sql.startswith("SET"):
                raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate")

    con = Starved()
    with pytest.raises(V.OutOfMemory, match=r"cap 20MB, one thread\): set FISSION_MEMORY_LIMIT higher"):
        V.retry_on_one_thread(con, "SELECT 1", "20MB", "checking x")
    assert con.sql == ["SELECT 1", "SET threads=1", "SELECT 1"]


def test_memory_limit_comes_from_the_environment(monkeypatch, tmp_path):
    from fission.data import load
    monkeypatch.setenv("FISSION_MEMORY_LIMIT", "123MB")
    assert load.memory_cap() == "123MB"
    con = load.connect(tmp_path)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0].startswith("117")  # MiB
    monkeypatch.delenv("FISSION_MEMORY_LIMIT")
    assert load.memory_cap() == "4GB" and load.memory_cap(None) is None


def test_a_chapter_query_out_of_memory_runs_again_on_one_thread_and_restores_the_threads():
    """fission.metrics._sql.query: DuckDB's advice for a statement that needs more memory on
    several threads than the cap; the result is fetched before the threads are restored (the
    next statement would replace it), and the chapter's other statements keep their threads."""
    import duckdb
    from fission.metrics._sql import query

    class Result:
        def __init__(self, frame):
            self.frame = frame

        def df(self):
            return self.frame

        def fetchone(self):
            return self.frame

    class Crowded:   # a DuckDB connection whose statement fits in memory on one thread only
        def __init__(self):
            self.sql, self.threads = [], 2

        def execute(self, sql, params=None):
            self.sql.append(sql)
            if sql.startswith("SET threads="):
                self.threads = int(sql.split("=")[1])
                return Result(None)
            if "current_setting('memory_limit')" in sql:
                return Result(("4 GiB",))
            if "current_setting('threads')" in sql:
                return Result((self.threads,))
            if self.threads > 1:
                raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")
            return Result(pd.DataFrame({"n": [1]}))

    con = Crowded()
    assert query(con, "SELECT median(x) FROM t").n.tolist() == [1]
    assert con.threads == 2 and con.sql[-3:] == ["SET threads=1", "SELECT median(x) FROM t", "SET threads=2"]
