"""Chapter 2 (裂变营销策略的关键要素): the acquisition channel mix and what the fission
incentives cost per acquired user.

Definitions:

* **channel mix** – new users (``users.signup_ts`` in the month) per ``acquisition_channel``,
  and each channel's share of the month's new users.
* **acquired user of a mechanism** (in year Y) – a user who signed up in Y and either
  (a) signed up from a visit to a share of that mechanism (``share_visits.signup_user_id``;
  if several visits signed the same user up, the earliest visit's share counts), or
  (b) for ``group_buy`` only, joined a group buy as a new user (``group_members.is_new_user``)
  without a referring share.
* **first-order discount** – ``orders.discount`` of the acquired user's first non-cancelled
  order, if it was placed within ``window_days`` of sign-up (the new-user coupon plus the
  price discount on that order).
* **group-buy discount** – ``orders.discount`` of the non-cancelled group-buy orders
  (``orders.group_id`` set) placed in Y that are not already counted as a first order above;
  charged to ``group_buy``.
* **campaign cost** – ``campaigns.cost`` of the campaigns starting in Y whose type funds the
  mechanism (``MECHANISM_CAMPAIGNS``: coupon → 邀请得券, group_buy subsidy → 拼团, content → 内容种草).
  KOL, live and ads campaigns buy paid acquisition (chapter 1's CAC) and are not counted here.
* **incentive cost per acquired user** = (first-order discount + group-buy discount +
  campaign cost) / acquired users.
"""
from __future__ import annotations

import duckdb
import pandas as pd

from ._sql import has_table, interval_days, query, require

MECHANISM_CAMPAIGNS = {"invite_coupon": ("coupon",), "group_buy": ("group_buy",),
                       "content": ("content",)}

_VALID = "status <> 'cancelled'"


def channel_mix(con: duckdb.DuckDBPyConnection, years) -> pd.DataFrame:
    """New users per month and acquisition channel in ``years`` (columns: month (first day,
    a Timestamp), year, channel, new_users, share = the channel's share of the month's new
    users). Months × channels with no sign-up are filled with 0."""
    require(con, "users", needed_for="the channel mix (chapter 2)")
    years = [int(y) for y in ([years] if isinstance(years, (int, str)) else years)]
    ph = ", ".join("?" for _ in years)
    df = query(con, f"""
        SELECT date_trunc('month', signup_ts)::DATE AS month, acquisition_channel AS channel,
               count(*) AS new_users
        FROM users WHERE year(signup_ts) IN ({ph}) GROUP BY 1, 2""", years)
    if df.empty:
        return pd.DataFrame(columns=["month", "year", "channel", "new_users", "share"])
    wide = df.pivot_table(index="month", columns="channel", values="new_users",
                          aggfunc="sum", fill_value=0)
    df = wide.stack().rename("new_users").reset_index()
    df["month"] = pd.to_datetime(df["month"])
    df["new_users"] = df["new_users"].astype("int64")
    df["share"] = df["new_users"] / df.groupby("month")["new_users"].transform("sum")
    df["year"] = df["month"].dt.year
    return df[["month", "year", "channel", "new_users", "share"]].sort_values(
        ["month", "channel"]).reset_index(drop=True)


def incentive_cost(con: duckdb.DuckDBPyConnection, year: int, window_days: float = 30) -> pd.DataFrame:
    """Incentive cost per acquired user, one row per sharing mechanism, for users acquired in
    ``year`` (see the module docstring). Columns: mechanism, acquired_users, referred_users,
    group_joiners, first_orders, first_order_discount, group_discount, campaign_cost,
    total_cost, cost_per_user (NaN without acquired users), first_order_rate (first orders
    within the window / acquired users). Sorted by cost_per_user, highest first."""
    require(con, "shares", "share_visits", "users", "orders",
            needed_for="the incentive cost per acquired user (chapter 2)")
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    win = interval_days(window_days)
    joiners = ("SELECT gm.user_id, 'group_buy' AS mechanism FROM group_members gm "
               "WHERE gm.is_new_user AND gm.user_id NOT IN (SELECT user_id FROM ref) "
               "GROUP BY 1") if has_table(con, "group_members") else \
        "SELECT NULL::BIGINT AS user_id, NULL::VARCHAR AS mechanism WHERE FALSE"
    df = query(con, f"""
        WITH ref AS (
            SELECT sv.signup_user_id AS user_id, arg_min(s.mechanism, sv.visit_ts) AS mechanism
            FROM share_visits sv JOIN shares s USING (share_id)
            WHERE sv.signup_user_id IS NOT NULL GROUP BY 1
        ), j AS ({joiners}
        ), acq AS (
            SELECT a.user_id, a.mechanism, a.src, u.signup_ts
            FROM (SELECT user_id, mechanism, 'ref' AS src FROM ref
                  UNION ALL SELECT user_id, mechanism, 'join' AS src FROM j) a
            JOIN users u USING (user_id)
            WHERE year(u.signup_ts) = $1
        ), firsts AS (
            SELECT user_id, min(order_ts) AS first_ts, arg_min(order_id, order_ts) AS order_id,
                   arg_min(discount, order_ts) AS discount
            FROM orders WHERE {_VALID} GROUP BY 1
        ), fo AS (
            SELECT acq.mechanism, f.order_id, f.discount
            FROM acq JOIN firsts f USING (user_id)
            WHERE f.first_ts <= acq.signup_ts + {win}
        ), m AS (
            SELECT DISTINCT mechanism FROM shares
        ), a AS (
            SELECT mechanism, count(*) AS acquired_users,
                   count(*) FILTER (WHERE src = 'ref') AS referred_users,
                   count(*) FILTER (WHERE src = 'join') AS group_joiners
            FROM acq GROUP BY 1
        ), d AS (
            SELECT mechanism, count(*) AS first_orders, sum(discount) AS first_order_discount
            FROM fo GROUP BY 1
        ), g AS (
            SELECT 'group_buy' AS mechanism, sum(discount) AS group_discount
            FROM orders
            WHERE group_id IS NOT NULL AND {_VALID} AND year(order_ts) = $1
              AND order_id NOT IN (SELECT order_id FROM fo)
        )
        SELECT m.mechanism, coalesce(a.acquired_users, 0) AS acquired_users,
               coalesce(a.referred_users, 0) AS referred_users,
               coalesce(a.group_joiners, 0) AS group_joiners,
               coalesce(d.first_orders, 0) AS first_orders,
               coalesce(d.first_order_discount, 0) AS first_order_discount,
               coalesce(g.group_discount, 0) AS group_discount
        FROM m LEFT JOIN a USING (mechanism) LEFT JOIN d USING (mechanism)
               LEFT JOIN g USING (mechanism)""", [int(year)])
    cost = {}
    if has_table(con, "campaigns"):
        camp = query(con, "SELECT type, sum(cost) AS cost FROM campaigns "
                          "WHERE year(start_ts) = $1 GROUP BY 1", [int(year)])
        by_type = dict(zip(camp["type"], camp["cost"]))
        cost = {m: float(sum(by_type.get(t, 0.0) for t in types))
                for m, types in MECHANISM_CAMPAIGNS.items()}
    df["campaign_cost"] = df["mechanism"].map(cost).fillna(0.0)
    for c in ("acquired_users", "referred_users", "group_joiners", "first_orders"):
        df[c] = df[c].astype("int64")
    for c in ("first_order_discount", "group_discount"):
        df[c] = df[c].astype(float)
    df["total_cost"] = df["first_order_discount"] + df["group_discount"] + df["campaign_cost"]
    users = df["acquired_users"].where(df["acquired_users"] > 0)
    df["cost_per_user"] = df["total_cost"] / users
    df["first_order_rate"] = df["first_orders"] / users
    df.attrs["window_days"] = window_days
    return df.sort_values("cost_per_user", ascending=False, na_position="last").reset_index(drop=True)


def incentive_total(df: pd.DataFrame) -> dict:
    """All mechanisms of an :func:`incentive_cost` result pooled: acquired_users, first_orders,
    total_cost, cost_per_user (total cost / acquired users) and first_order_rate."""
    users = int(df["acquired_users"].sum())
    total = float(df["total_cost"].sum())
    orders = int(df["first_orders"].sum())
    return {"acquired_users": users, "first_orders": orders, "total_cost": total,
            "cost_per_user": total / users if users else float("nan"),
            "first_order_rate": orders / users if users else float("nan")}
