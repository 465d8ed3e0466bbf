"""Chapter 2 (裂变营销策略的关键要素) and chapter 1's CAC: the acquisition channel mix and the
**full acquisition cost** — one definition, in one place, for both chapters.

Definitions:

* **channel mix** – new users (``users.signup_ts`` in the month) per ``acquisition_channel``,
  and each channel's share of the month's new users.
* **acquired users of year Y** – users who signed up in Y. Each has an acquisition
  **channel** (``users.acquisition_channel``) and, when a sharing mechanism brought them, a
  **mechanism**: the mechanism of the share whose visit signed them up
  (``share_visits.signup_user_id``; the earliest such visit counts), or ``group_buy`` for a
  user who joined a group buy as a new user (``group_members.is_new_user``) without a
  referring share.
* **the cost ledger of year Y** – every acquisition cost, each item tagged with the channel and
  the mechanism it buys (:func:`cost_ledger`):

  - ``campaign_spend`` – ``campaigns.cost`` of the campaigns starting in Y, attributed by type
    (``CAMPAIGN_ATTRIBUTION``): ads, KOL and live campaigns buy their own channel; the monthly
    invitation coupons (邀请有礼, the referral rewards) and content campaigns buy ``referral``
    (mechanisms 邀请得券 and 内容种草); group-buy subsidies buy ``group_buy`` (拼团).
  - ``first_order_discount`` – ``orders.discount`` of the first non-cancelled order of a user
    acquired through a share (channel ``referral``), if placed within ``window_days`` of
    sign-up: the new-user coupon plus the price discount on that order; tagged ``referral`` and
    the user's mechanism. Users of the other channels get no new-user incentive: the discount
    on their first order is the ordinary price promotion every order gets, not an acquisition
    cost (the data cannot tell a coupon from a price discount within one order).
  - ``group_discount`` – ``orders.discount`` of the non-cancelled group-buy orders
    (``orders.group_id`` set) placed in Y that are not a counted first order above — the
    joiners' first orders and the leaders' and existing members' orders: the subsidy that runs
    the group-buy mechanism, tagged ``group_buy`` / ``group_buy``.

  The invitation rewards are the coupon campaigns' cost (the simulator's accounting too:
  ``truth.json`` ``acquisition_cost``, data/README.md). The optional ``rewards`` ledger
  (referral rewards by level, for chapter 9's multi-level check) is a separate ledger and is
  not added to these costs.
* **full acquisition cost** of a channel or mechanism = campaign spend + incentives
  (first-order discount + group discount) tagged with it; **cost per acquired user** = full cost
  / its acquired users of Y. Chapter 1 divides by the users of the acquisition channel (CAC),
  chapter 2 by the users a mechanism brought; both sum the same ledger, so the fission channels'
  (referral + group_buy) costs equal the mechanisms' costs.

Costs and user counts are totals over the whole platform (a census, not a sample): they carry
no sampling interval.
"""
from __future__ import annotations

import duckdb
import pandas as pd

from ._sql import has_table, interval_days, query, require

#: campaign type -> (acquisition channel, sharing mechanism or None) the spend buys
CAMPAIGN_ATTRIBUTION = {"ads": ("ads", None), "kol": ("kol", None), "live": ("live", None),
                        "group_buy": ("group_buy", "group_buy"),
                        "coupon": ("referral", "invite_coupon"),
                        "content": ("referral", "content")}
COMPONENTS = ("campaign_spend", "first_order_discount", "group_discount")
#: the fission (sharing-driven) acquisition channels
FISSION_CHANNELS = ("referral", "group_buy")
#: channels whose new users' first-order discount is an acquisition incentive
INCENTIVISED_CHANNELS = ("referral",)

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


def _acquired_sql(con) -> str:
    """SQL of the users with their channel and mechanism (all sign-up years)."""
    sharing = has_table(con, "shares") and has_table(con, "share_visits")
    ref = ("SELECT sv.signup_user_id AS user_id, arg_min(s.mechanism, (sv.visit_ts, sv.visit_id)) AS mechanism "
           "FROM share_visits sv JOIN shares s USING (share_id) "
           "WHERE sv.signup_user_id IS NOT NULL GROUP BY 1") if sharing else \
        "SELECT NULL::BIGINT AS user_id, NULL::VARCHAR AS mechanism WHERE FALSE"
    joiners = ("SELECT user_id FROM group_members WHERE is_new_user GROUP BY 1"
               if has_table(con, "group_members") else "SELECT NULL::BIGINT AS user_id WHERE FALSE")
    return f"""
        SELECT u.user_id, u.signup_ts, u.acquisition_channel AS channel,
               coalesce(r.mechanism, CASE WHEN j.user_id IS NOT NULL THEN 'group_buy' END) AS mechanism
        FROM users u LEFT JOIN ({ref}) r USING (user_id) LEFT JOIN ({joiners}) j USING (user_id)"""


def _first_orders_sql(win: str, channels=None) -> str:
    """SQL of the first orders: each user's first non-cancelled order when placed within the
    window after sign-up (all sign-up years); only users of ``channels`` if given."""
    only = "" if channels is None else \
        " AND u.acquisition_channel IN (" + ", ".join(f"'{c}'" for c in channels) + ")"
    return f"""
        SELECT f.user_id, f.order_id, f.discount
        FROM (SELECT user_id, min(order_ts) AS first_ts, arg_min(order_id, (order_ts, order_id)) AS order_id,
                     arg_min(discount, (order_ts, order_id)) AS discount
              FROM orders WHERE {_VALID} GROUP BY 1) f
        JOIN users u USING (user_id)
        WHERE f.first_ts <= u.signup_ts + {win}{only}"""


def _check_window(window_days: float) -> None:
    if window_days <= 0:
        raise ValueError("window_days must be positive")


def acquired_users(con: duckdb.DuckDBPyConnection, year: int, window_days: float = 30) -> pd.DataFrame:
    """Users who signed up in ``year`` per (channel, mechanism): acquired_users and
    first_orders (first order within ``window_days`` of sign-up). ``mechanism`` is None for
    users no sharing mechanism brought."""
    require(con, "users", "orders", needed_for="the acquisition cost (chapters 1 and 2)")
    _check_window(window_days)
    win = interval_days(window_days)
    df = query(con, f"""
        WITH acq AS ({_acquired_sql(con)}), fo AS ({_first_orders_sql(win)})
        SELECT acq.channel, acq.mechanism, count(*) AS acquired_users,
               count(fo.order_id) AS first_orders
        FROM acq LEFT JOIN fo USING (user_id)
        WHERE year(acq.signup_ts) = $1 GROUP BY 1, 2""", [int(year)])
    for c in ("acquired_users", "first_orders"):
        df[c] = df[c].astype("int64")
    return df


def cost_ledger(con: duckdb.DuckDBPyConnection, year: int, window_days: float = 30) -> pd.DataFrame:
    """Every acquisition cost of ``year`` summed per (component, channel, mechanism): columns
    component (one of ``COMPONENTS``), channel, mechanism (None when no sharing mechanism is
    bought), amount (元). See the module docstring for the attribution rules."""
    require(con, "users", "orders", needed_for="the acquisition cost (chapters 1 and 2)")
    _check_window(window_days)
    win = interval_days(window_days)
    fo = _first_orders_sql(win, INCENTIVISED_CHANNELS)
    parts = [query(con, f"""
        WITH acq AS ({_acquired_sql(con)}), fo AS ({fo})
        SELECT 'first_order_discount' AS component, acq.channel, acq.mechanism,
               sum(fo.discount::DECIMAL(38, 4)) AS amount
        FROM acq JOIN fo USING (user_id) WHERE year(acq.signup_ts) = $1 GROUP BY 2, 3""",
                       [int(year)])]
    parts.append(query(con, f"""
        WITH fo AS ({fo})
        SELECT 'group_discount' AS component, 'group_buy' AS channel, 'group_buy' AS mechanism,
               sum(discount::DECIMAL(38, 4)) AS amount
        FROM orders
        WHERE group_id IS NOT NULL AND {_VALID} AND year(order_ts) = $1
          AND order_id NOT IN (SELECT order_id FROM fo)
        HAVING count(*) > 0""", [int(year)]))
    if has_table(con, "campaigns"):
        camp = query(con, "SELECT type, sum(cost::DECIMAL(38, 4)) AS amount FROM campaigns "
                          "WHERE year(start_ts) = $1 GROUP BY 1", [int(year)])
        camp = camp[camp["type"].isin(list(CAMPAIGN_ATTRIBUTION))]
        parts.append(pd.DataFrame({
            "component": "campaign_spend",
            "channel": [CAMPAIGN_ATTRIBUTION[t][0] for t in camp["type"]],
            "mechanism": [CAMPAIGN_ATTRIBUTION[t][1] for t in camp["type"]],
            "amount": camp["amount"].astype(float).values}))
    df = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) \
        else pd.DataFrame(columns=["component", "channel", "mechanism", "amount"])
    df["amount"] = df["amount"].astype(float)
    return df.groupby(["component", "channel", "mechanism"], dropna=False, as_index=False)[
        "amount"].sum()


def acquisition_cost(con: duckdb.DuckDBPyConnection, year: int, by: str = "channel",
                     window_days: float = 30) -> pd.DataFrame:
    """Full acquisition cost of ``year`` per acquisition ``channel`` (chapter 1's CAC) or per
    sharing ``mechanism`` (chapter 2's incentive cost per acquired user), from
    :func:`cost_ledger`. Columns: <by>, acquired_users, first_orders, first_order_rate,
    campaign_spend, first_order_discount, group_discount, incentives (the two discounts),
    total_cost, cost_per_user (NaN without acquired users). Sorted by acquired users.
    By mechanism, users and costs that no sharing mechanism bought are left out."""
    if by not in ("channel", "mechanism"):
        raise ValueError(f"by must be 'channel' or 'mechanism', got {by!r}")
    users = acquired_users(con, year, window_days)
    ledger = cost_ledger(con, year, window_days)
    if by == "mechanism":
        users, ledger = users.dropna(subset=["mechanism"]), ledger.dropna(subset=["mechanism"])
    u = users.groupby(by)[["acquired_users", "first_orders"]].sum()
    c = ledger.pivot_table(index=by, columns="component", values="amount", aggfunc="sum")
    keys = u.index.union(c.index)
    if by == "mechanism" and has_table(con, "shares"):       # mechanisms that brought no one
        keys = keys.union(pd.Index(query(con, "SELECT DISTINCT mechanism FROM shares")["mechanism"]))
    df = u.reindex(keys).fillna(0).astype("int64").join(
        c.reindex(index=keys, columns=list(COMPONENTS)).fillna(0.0))
    df.index.name = by
    df = df.reset_index()
    df["incentives"] = df["first_order_discount"] + df["group_discount"]
    df["total_cost"] = df["campaign_spend"] + df["incentives"]
    n = df["acquired_users"].where(df["acquired_users"] > 0)
    df["cost_per_user"] = df["total_cost"] / n
    df["first_order_rate"] = df["first_orders"] / n
    df.attrs.update(window_days=window_days, year=int(year), by=by, census=True)
    cols = [by, "acquired_users", "first_orders", "first_order_rate", *COMPONENTS,
            "incentives", "total_cost", "cost_per_user"]
    return df[cols].sort_values("acquired_users", ascending=False).reset_index(drop=True)


def incentive_cost(con: duckdb.DuckDBPyConnection, year: int, window_days: float = 30) -> pd.DataFrame:
    """Chapter 2's view: :func:`acquisition_cost` per sharing mechanism, sorted by cost per
    acquired user (highest first)."""
    require(con, "shares", "share_visits", "users", "orders",
            needed_for="the incentive cost per acquired user (chapter 2)")
    df = acquisition_cost(con, year, by="mechanism", window_days=window_days)
    return df.sort_values("cost_per_user", ascending=False, na_position="last").reset_index(drop=True)


def incentive_total(df: pd.DataFrame) -> dict:
    """All rows of an :func:`acquisition_cost` result pooled: acquired_users, first_orders,
    campaign_spend, incentives, total_cost, cost_per_user (total cost / acquired users) and
    first_order_rate."""
    users = int(df["acquired_users"].sum())
    total = float(df["total_cost"].sum())
    orders = int(df["first_orders"].sum())
    return {"acquired_users": users, "first_orders": orders,
            "campaign_spend": float(df["campaign_spend"].sum()),
            "incentives": float(df["incentives"].sum()), "total_cost": total,
            "cost_per_user": total / users if users else float("nan"),
            "first_order_rate": orders / users if users else float("nan")}
