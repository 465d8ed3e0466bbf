"""Chapter 1 (行业背景与裂变营销策略): the market, the platform's year in figures, who its users
are and how they were acquired.

Definitions used throughout the report:
- GMV: sum of ``orders.gmv`` over orders that were not cancelled (refunded orders count, as GMV
  is what was transacted); orders: the count of those orders.
- New users: users whose ``signup_ts`` falls in the year. Buyers: distinct users with a
  non-cancelled order in the year. AOV (客单价): GMV / orders.
"""
from __future__ import annotations

import pandas as pd

from ..data.contract import AGE_BANDS, CITY_TIER_NAMES
from ._sql import has_table, require

# Which campaign spend buys which acquisition channel. Organic users cost nothing; content
# campaigns feed the sharing mechanisms and are counted as incentive cost in chapter 2.
CAMPAIGN_CHANNEL = {"kol": "kol", "live": "live", "ads": "ads", "group_buy": "group_buy",
                    "coupon": "referral"}

_VALID = "status <> 'cancelled'"


def _require(con, *tables: str) -> None:
    require(con, *tables, needed_for="chapter 1 (行业背景与裂变营销策略)")


def market_trend(con) -> pd.DataFrame:
    """The external market series (year, size in CNY, growth, users, source), oldest first;
    growth is recomputed from sizes where the source left it empty."""
    _require(con, "market")
    df = con.execute("SELECT year, market_size_cny, growth, users, source FROM market ORDER BY year").df()
    computed = df["market_size_cny"].pct_change()
    df["growth"] = df["growth"].fillna(computed)
    return df


def yearly_kpis(con, year: int, compare_year: int) -> pd.DataFrame:
    """GMV, orders, AOV, new users and buyers for the edition year and the comparison year,
    with the year-on-year change (a ratio, e.g. 0.12 = +12%)."""
    _require(con, "orders", "users")
    q = f"""
    WITH o AS (
        SELECT year(order_ts) AS y, sum(gmv) AS gmv, count(*) AS orders,
               count(DISTINCT user_id) AS buyers
        FROM orders WHERE {_VALID} AND year(order_ts) IN ($1, $2) GROUP BY 1),
    u AS (SELECT year(signup_ts) AS y, count(*) AS new_users FROM users
          WHERE year(signup_ts) IN ($1, $2) GROUP BY 1)
    SELECT coalesce(o.y, u.y) AS y, gmv, orders, buyers, new_users FROM o FULL JOIN u ON o.y = u.y
    """
    raw = con.execute(q, [year, compare_year]).df().set_index("y")
    raw = raw.reindex([year, compare_year])
    raw["aov"] = raw["gmv"] / raw["orders"]
    labels = {"gmv": ("GMV", "元"), "orders": ("订单数", "单"), "aov": ("客单价", "元"),
              "new_users": ("新增用户", "人"), "buyers": ("购买用户", "人")}
    rows = []
    for key, (name, unit) in labels.items():
        cur, prev = raw.loc[year, key], raw.loc[compare_year, key]
        rows.append({"metric": key, "name": name, "unit": unit, "value": float(cur),
                     "previous": float(prev),
                     "yoy": float(cur / prev - 1) if prev and pd.notna(prev) else float("nan")})
    return pd.DataFrame(rows)


def monthly_gmv(con, years: list[int]) -> pd.DataFrame:
    """GMV and orders per calendar month of the given years (columns: year, month, gmv, orders)."""
    _require(con, "orders")
    placeholders = ", ".join("?" for _ in years)
    return con.execute(f"""
        SELECT year(order_ts) AS year, month(order_ts) AS month, sum(gmv) AS gmv, count(*) AS orders
        FROM orders WHERE {_VALID} AND year(order_ts) IN ({placeholders})
        GROUP BY 1, 2 ORDER BY 1, 2""", list(years)).df()


def users_by_tier(con, year: int, compare_year: int) -> pd.DataFrame:
    """New users per city tier in both years, the tier's share of the year, and YoY growth."""
    _require(con, "users")
    df = con.execute("""
        SELECT city_tier,
               count(*) FILTER (WHERE year(signup_ts) = $1) AS new_users,
               count(*) FILTER (WHERE year(signup_ts) = $2) AS new_users_prev
        FROM users GROUP BY 1 ORDER BY 1""", [year, compare_year]).df()
    df["tier"] = df["city_tier"].map(CITY_TIER_NAMES)
    df["share"] = df["new_users"] / df["new_users"].sum()
    df["yoy"] = df["new_users"] / df["new_users_prev"] - 1
    return df[["city_tier", "tier", "new_users", "new_users_prev", "share", "yoy"]]


def buyers_by_age(con, year: int) -> pd.DataFrame:
    """Buyers and GMV per age band in the year, with each band's share of buyers and of GMV."""
    _require(con, "users", "orders")
    df = con.execute(f"""
        SELECT u.age_band, count(DISTINCT o.user_id) AS buyers, sum(o.gmv) AS gmv
        FROM orders o JOIN users u USING (user_id)
        WHERE o.{_VALID} AND year(o.order_ts) = $1
        GROUP BY 1""", [year]).df()
    df["age_band"] = pd.Categorical(df["age_band"], AGE_BANDS, ordered=True)
    df = df.sort_values("age_band").reset_index(drop=True)
    df["buyer_share"] = df["buyers"] / df["buyers"].sum()
    df["gmv_share"] = df["gmv"] / df["gmv"].sum()
    return df


def acquisition_by_channel(con, year: int) -> pd.DataFrame:
    """New users per acquisition channel in the year, the channel's campaign spend (see
    ``CAMPAIGN_CHANNEL``; spend counted by campaign start date), cost per acquired user (CAC),
    and the share of its new users who placed a first order within 30 days of signing up."""
    _require(con, "users", "orders")
    users = con.execute(f"""
        WITH firsts AS (
            SELECT user_id, min(order_ts) AS first_ts FROM orders WHERE {_VALID} GROUP BY 1)
        SELECT u.acquisition_channel AS channel, count(*) AS new_users,
               count(f.user_id) FILTER (WHERE f.first_ts <= u.signup_ts + INTERVAL 30 DAY) AS converted
        FROM users u LEFT JOIN firsts f USING (user_id)
        WHERE year(u.signup_ts) = $1 GROUP BY 1""", [year]).df()
    users["conversion_30d"] = users["converted"] / users["new_users"]
    if has_table(con, "campaigns"):
        spend = con.execute("""SELECT type, sum(cost) AS cost FROM campaigns
                               WHERE year(start_ts) = $1 GROUP BY 1""", [year]).df()
        spend["channel"] = spend["type"].map(CAMPAIGN_CHANNEL)
        spend = spend.dropna(subset=["channel"]).groupby("channel", as_index=False)["cost"].sum()
        users = users.merge(spend, on="channel", how="left")
    else:
        users["cost"] = float("nan")
    users["cost"] = users["cost"].fillna(0.0)
    users["cac"] = users["cost"] / users["new_users"]
    users["share"] = users["new_users"] / users["new_users"].sum()
    return users.sort_values("new_users", ascending=False).reset_index(drop=True)


def sharing_by_mechanism(con, year: int) -> pd.DataFrame:
    """Per sharing mechanism in the year: shares, visits they brought, sign-ups and first
    orders among those visits, visits per share (分享回流比) and visit→sign-up conversion."""
    _require(con, "shares", "share_visits")
    df = con.execute("""
        WITH v AS (
            SELECT share_id, count(*) AS visits, count(signup_user_id) AS signups,
                   count(first_order_id) AS first_orders
            FROM share_visits GROUP BY 1)
        SELECT s.mechanism, count(*) AS shares, coalesce(sum(v.visits), 0) AS visits,
               coalesce(sum(v.signups), 0) AS signups, coalesce(sum(v.first_orders), 0) AS first_orders
        FROM shares s LEFT JOIN v USING (share_id)
        WHERE year(s.share_ts) = $1 GROUP BY 1 ORDER BY signups DESC""", [year]).df()
    df["visits_per_share"] = df["visits"] / df["shares"]
    df["signup_rate"] = df["signups"] / df["visits"]
    df["first_order_rate"] = df["first_orders"] / df["signups"]
    return df
