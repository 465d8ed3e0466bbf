"""The Parquet footers settle contract rules without a scan only where they prove them: every
breach is still found when the statistics are absent, inexact or inconclusive."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fission.data import validate as V
from fission.data.footer import read_footer

from test_validate import errs, one, valid_frames, write, write_parts


def _stats(d):
    st = {}
    problems = V.validate(d, stats=st)
    return problems, st["settled"]


def test_a_clean_table_is_settled_by_its_footers(tmp_path):
    d = write(valid_frames(), tmp_path / "d")
    problems, settled = _stats(d)
    assert errs(problems) == []
    # left to a scan: order_items' NaN check (pyarrow records no NaN count), suppliers' two text
    # lists (a text column's range cannot prove membership); every null and range rule settled
    assert settled["scanned_rules"]["order_items"] == 1 and settled["scanned_rules"]["suppliers"] == 2
    # users' ids are 1…6 with no gap: orders.user_id (1…3) is settled without a join
    assert settled["foreign_keys"] >= 1


def test_footer_ranges_nulls_and_dense_keys(tmp_path):
    f = tmp_path / "t.parquet"
    big = 2**60
    pq.write_table(pa.table({"k": pa.array([big, big + 1, big + 2], pa.int64()),
                             "x": pa.array([1.5, None, -2.0]), "n": pa.array([None, None, None], pa.int64())}),
                   f, row_group_size=2)
    ft = read_footer(duckdb.connect(), [f], ints={"k", "n"}, reals={"x"})
    assert ft.rows == 3 and ft.dense_range("k") == (big, big + 2)       # exact beyond 2**53
    assert ft.no_nulls("k") and not ft.no_nulls("x") and ft.within("x", -2.0, 1.5) and not ft.within("x", lo=-1.9)
    assert ft.within("n", 0, 0) and ft.columns["n"].all_null            # nothing to break a range
    assert not ft.in_integers("k", [1, 2])


def test_without_statistics_every_rule_is_scanned(tmp_path):
    frames = valid_frames()
    frames["items"].loc[0, "list_price"] = -1.0
    d = write(frames, tmp_path / "d")
    pq.write_table(pa.Table.from_pandas(frames["items"], preserve_index=False), d / "items.parquet",
                   write_statistics=False)
    problems, settled = _stats(d)
    one(problems, "min", "items", "list_price")
    assert settled["scanned_rules"]["items"] >= 3


def test_a_column_missing_from_one_part_is_not_settled(tmp_path):
    """Read by name, a part without the column gives nulls: its siblings' footers prove nothing."""
    frames = valid_frames()
    s = frames["suppliers"]
    d = write_parts(frames, "suppliers", {"a.parquet": s.iloc[:1], "b.parquet": s.iloc[1:].drop(columns=["region"])},
                    tmp_path / "d")
    assert one(V.validate(d), "not_null", "suppliers", "region").count == 1


def test_nan_is_found_though_footers_leave_it_out(tmp_path):
    frames = valid_frames()
    d = write(frames, tmp_path / "d")
    items = pa.Table.from_pandas(frames["items"], preserve_index=False)
    price = pa.array([99.0, float("nan"), 30.0], pa.float64(), from_pandas=False)   # a NaN, not a null
    pq.write_table(items.set_column(items.schema.get_field_index("list_price"), "list_price", price),
                   d / "items.parquet")
    assert one(V.validate(d), "finite", "items", "list_price").count == 1


@pytest.mark.parametrize("parent_ids, child, dangling", [
    ([1, 2, 3, 4, 5, 6], [1, 2, 2, 7], 1),        # dense parent, child beyond its range: scanned
    ([1, 2, 4, 5, 6, 7], [1, 2, 2, 3], 1),        # a gap: not dense, scanned, 3 found
    ([1, 2, 3, 4, 5, 6], [1, 2, 2, 3], 0),        # dense and inside: settled
])
def test_foreign_key_into_a_dense_parent(tmp_path, parent_ids, child, dangling):
    frames = valid_frames()
    frames["users"]["user_id"] = pd.array(parent_ids, dtype="int64")
    frames["users"]["referrer_user_id"] = pd.array([None] * 6, dtype="Int64")
    frames["users"]["device_hash"] = [f"d{i}" for i in parent_ids]
    frames["orders"]["user_id"] = child
    frames["shares"]["user_id"] = [1, 2]
    frames["tickets"]["user_id"] = [1, 2]
    problems = V.validate(write(frames, tmp_path / "d"))
    fk = [p for p in problems if p.rule == "foreign_key" and p.table == "orders" and p.column == "user_id"]
    assert sum(p.count for p in fk) == dangling
