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
