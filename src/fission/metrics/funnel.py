"""Share → visit → signup → first-order funnel (chapter 2).

Definitions (one row per group of shares):

* **shares** – shares sent in ``[start, end)`` (by ``share_ts``); with ``complete_only`` only
  shares whose whole window ``share_ts + window_days`` lies before the data end.
* **visits** – share_visits of those shares with ``visit_ts <= share_ts + window_days``.
* **signups** – those visits with a ``signup_user_id`` whose ``users.signup_ts`` is within the
  window (``<= share_ts + window_days``).
* **first_orders** – those signups whose ``first_order_id`` order has ``order_ts`` within the
  window.
* ``visits_per_share`` = visits / shares (分享回流比; may exceed 1);
  ``visit_to_signup`` = signups / visits; ``signup_to_order`` = first_orders / signups;
  ``signups_per_share`` = signups / shares; ``overall_conversion`` = first_orders / shares.
* ``share_reach`` = share of shares with at least one visit in the window.
* times to convert are hours from ``share_ts`` to the signup / first order (median and mean
  over the converted visits).
"""
from __future__ import annotations

import duckdb
import pandas as pd

from ._sql import data_end as _data_end
from ._sql import in_list, interval_days, query, require, ts_literal

FUNNEL_GROUPS = ("mechanism", "platform", "month", "campaign_id")


def funnel(con: duckdb.DuckDBPyConnection, by=("mechanism",), window_days: float = 7,
           start=None, end=None, complete_only: bool = True, data_end=None) -> pd.DataFrame:
    """Funnel counts, step/overall conversion and time to convert per group ``by``
    (any of ``mechanism``, ``platform``, ``month`` of the share, ``campaign_id``; ``()`` for
    one total row). See the module docstring for the exact definitions."""
    require(con, "shares", "share_visits", "users", "orders",
            needed_for="the share→visit→signup→first-order funnel (chapter 2)")
    by = in_list(by, "by", FUNNEL_GROUPS)
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    win = interval_days(window_days)
    where = ["TRUE"]
    if start is not None:
        where.append(f"share_ts >= {ts_literal(start)}")
    if end is not None:
        where.append(f"share_ts < {ts_literal(end)}")
    if complete_only:
        dend = _data_end(con) if data_end is None else data_end
        where.append(f"share_ts + {win} <= {ts_literal(dend)}")
    cols = ", ".join(by)
    sel = (cols + ", ") if by else ""
    grp = f"GROUP BY {cols}" if by else ""
    join_on = " AND ".join(f"a.{c} IS NOT DISTINCT FROM b.{c}" for c in by) or "TRUE"
    # Visits are counted per share first and only signed-up visits are joined to users and
    # orders: at 10M users no DISTINCT aggregate or wide join has to fit in memory.
    sql = f"""
    WITH s AS (
        SELECT share_id, share_ts, mechanism, platform, campaign_id,
               date_trunc('month', share_ts)::DATE AS month
        FROM shares WHERE {' AND '.join(where)}
    ), vs AS (
        SELECT s.share_id, sv.signup_user_id, sv.first_order_id, sv.visit_ts
        FROM s JOIN share_visits sv ON sv.share_id = s.share_id
        WHERE sv.visit_ts <= s.share_ts + {win}
    ), per_share AS (
        SELECT share_id, count(*) AS visits FROM vs GROUP BY share_id
    ), conv AS (
        SELECT vs.share_id,
               coalesce(u.signup_ts, vs.visit_ts) AS signup_ts, o.order_ts
        FROM vs
        LEFT JOIN users u ON u.user_id = vs.signup_user_id
        LEFT JOIN orders o ON o.order_id = vs.first_order_id
        WHERE vs.signup_user_id IS NOT NULL
    ), cs AS (
        SELECT s.*, conv.signup_ts, conv.order_ts
        FROM conv JOIN s ON s.share_id = conv.share_id
        WHERE conv.signup_ts <= s.share_ts + {win}
    ), a AS (
        SELECT {sel} count(*) AS shares, coalesce(sum(p.visits), 0) AS visits,
               count(p.share_id) AS shares_with_visit
        FROM s LEFT JOIN per_share p ON p.share_id = s.share_id {grp}
    ), b AS (
        SELECT {sel}
               count(*) AS signups,
               count(*) FILTER (WHERE order_ts <= share_ts + {win}) AS first_orders,
               median((epoch(signup_ts) - epoch(share_ts)) / 3600.0) AS hours_to_signup_median,
               avg((epoch(signup_ts) - epoch(share_ts)) / 3600.0) AS hours_to_signup_mean,
               median((epoch(order_ts) - epoch(share_ts)) / 3600.0)
                   FILTER (WHERE order_ts <= share_ts + {win}) AS hours_to_order_median,
               avg((epoch(order_ts) - epoch(share_ts)) / 3600.0)
                   FILTER (WHERE order_ts <= share_ts + {win}) AS hours_to_order_mean
        FROM cs {grp}
    )
    SELECT {', '.join('a.' + c for c in by) + ', ' if by else ''}a.shares,
           a.visits, a.shares_with_visit,
           coalesce(b.signups, 0) AS signups, coalesce(b.first_orders, 0) AS first_orders,
           b.hours_to_signup_median, b.hours_to_signup_mean,
           b.hours_to_order_median, b.hours_to_order_mean
    FROM a LEFT JOIN b ON {join_on}
    ORDER BY {', '.join('a.' + c for c in by) if by else '1'}
    """
    df = query(con, sql)
    for c in ("shares", "visits", "shares_with_visit", "signups", "first_orders"):
        df[c] = df[c].astype("int64")
    df = add_rates(df)
    df.attrs["window_days"] = window_days
    return df


def add_rates(df: pd.DataFrame) -> pd.DataFrame:
    """The funnel's rates from its counts (shares, visits, shares_with_visit, signups,
    first_orders), NaN where a denominator is 0; also used on pooled funnels."""
    sh = df["shares"].where(df["shares"] > 0)
    df["share_reach"] = df["shares_with_visit"] / sh
    df["visits_per_share"] = df["visits"] / sh
    df["visit_to_signup"] = df["signups"] / df["visits"].where(df["visits"] > 0)
    df["signup_to_order"] = df["first_orders"] / df["signups"].where(df["signups"] > 0)
    df["signups_per_share"] = df["signups"] / sh
    df["overall_conversion"] = df["first_orders"] / sh
    return df


def funnel_steps(row: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """Long form of one funnel row (or a one-row total): step, count, step conversion from the
    previous step and conversion from shares — ready to plot as a funnel."""
    if isinstance(row, pd.DataFrame):
        if len(row) != 1:
            raise ValueError("funnel_steps needs one funnel row")
        row = row.iloc[0]
    steps = ["shares", "visits", "signups", "first_orders"]
    counts = [int(row[s]) for s in steps]
    prev = [None] + counts[:-1]
    return pd.DataFrame({
        "step": steps, "count": counts,
        "step_conversion": [None if p is None else (c / p if p else float("nan"))
                            for c, p in zip(counts, prev)],
        "from_shares": [c / counts[0] if counts[0] else float("nan") for c in counts],
    })
