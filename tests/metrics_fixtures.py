"""Helpers for the metric tests: small hand-made tables registered into DuckDB."""
from __future__ import annotations

import duckdb
import pandas as pd


def ts(*values):
    return pd.to_datetime(list(values), format="ISO8601")


def make_con(**tables: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one table per keyword (name = contract table name)."""
    con = duckdb.connect()
    for name, df in tables.items():
        con.register(f"_df_{name}", df)
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM "_df_{name}"')
        con.unregister(f"_df_{name}")
    return con


def users_df(rows):
    """rows: (user_id, signup_ts, referrer_user_id, acquisition_channel) tuples; the other
    contract columns get fixed values."""
    df = pd.DataFrame(rows, columns=["user_id", "signup_ts", "referrer_user_id",
                                     "acquisition_channel"])
    df["signup_ts"] = pd.to_datetime(df["signup_ts"], format="ISO8601")
    df["referrer_user_id"] = df["referrer_user_id"].astype("Int64")
    df["city_tier"] = 1
    df["province"] = "上海"
    df["age_band"] = "25-30"
    df["gender"] = "F"
    df["device_hash"] = "d" + df["user_id"].astype(str)
    df["is_member"] = False
    df["member_since"] = pd.NaT
    return df


def orders_df(rows):
    """rows: (order_id, user_id, order_ts, gmv, status) tuples."""
    df = pd.DataFrame(rows, columns=["order_id", "user_id", "order_ts", "gmv", "status"])
    df["order_ts"] = pd.to_datetime(df["order_ts"], format="ISO8601")
    df["gmv"] = df["gmv"].astype(float)
    df["discount"] = 0.0
    df["channel"] = "organic"
    return df


def referral_tables(extra_users=()):
    """Users 1–7 of a small referral world (1 referred 3 and 4, 2 referred 5; 7 signed up too
    late to be fully observed by 2025-04-01), their shares and the visits those shares got.
    ``extra_users`` are more (user_id, signup_ts, referrer_user_id, channel) rows."""
    rows = [
        (1, "2025-01-01", None, "organic"),
        (2, "2025-01-10", None, "organic"),
        (3, "2025-01-05", 1, "referral"),   # 4 days after user 1
        (4, "2025-01-07", 1, "referral"),   # 6 days after user 1
        (5, "2025-02-03", 2, "referral"),   # 24 days after user 2
        (6, "2025-02-01", None, "ads"),
        (7, "2025-03-25", None, "ads"),     # not fully observed (end 2025-04-01)
    ]
    users = users_df(rows + list(extra_users))
    shares = pd.DataFrame({
        "share_id": [1, 2, 3, 4, 5, 6],
        "user_id": [1, 1, 1, 2, 2, 6],
        "share_ts": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-03-01",  # 3rd: > 30 d
                                    "2025-01-20", "2025-01-21", "2025-02-02"]),
        "platform": ["wechat_group"] * 6,
        "mechanism": ["invite_coupon", "group_buy", "invite_coupon", "invite_coupon",
                      "invite_coupon", "group_buy"],
        "campaign_id": [None] * 6, "item_id": [None] * 6})
    visits = pd.DataFrame({
        "visit_id": [1, 2, 3, 4, 5, 6, 7],
        "share_id": [1, 1, 2, 3, 4, 4, 5],
        "visit_ts": pd.to_datetime(["2025-01-04", "2025-01-05", "2025-01-07", "2025-03-02",
                                    "2025-01-21", "2025-02-03", "2025-01-22"]),
        "visitor_user_id": pd.array([None, 3, 4, None, None, 5, None], dtype="Int64"),
        "is_new_user": [True] * 7,
        "signup_user_id": pd.array([None, 3, 4, None, None, 5, None], dtype="Int64"),
        "first_order_id": pd.array([None] * 7, dtype="Int64")})
    return users, shares, visits
