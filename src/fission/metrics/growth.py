"""Growth accounting (chapter 3): new, retained, resurrected and churned users per period.

* **active** in a period: the user has ≥ 1 order with ``status != 'cancelled'`` (paid or
  refunded) whose ``order_ts`` falls in the period (``date_trunc(period, order_ts)``; weeks
  start on Monday).
* **new**: active, and this is the user's first-ever active period;
* **retained**: active this period and the previous one;
* **resurrected**: active this period, not the previous one, but in some earlier period;
* **churned**: active the previous period, not this one (reported as a positive count).
* ``quick_ratio`` = (new + resurrected) / churned (NaN when nothing churned);
  ``retention_rate`` = retained / active in the previous period.

The identity ``active_t = active_{t-1} + new_t + resurrected_t − churned_t`` holds exactly for
every period in the spine (every period from the first to the last active period, empty
periods included). The first period is all "new" because history before the data starts is
unknown; the last period may be incomplete.

Revenue accounting (``revenue=True``) uses the GMV of the same orders:
``revenue_t = revenue_{t-1} + new_rev + resurrected_rev + expansion − contraction − churned_rev``
where expansion / contraction are the increases / decreases of retained users' revenue and
churned_rev is the previous-period revenue of churned users.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ._sql import query, require

_STEP = {"week": "INTERVAL 7 DAY", "month": "INTERVAL 1 MONTH", "quarter": "INTERVAL 3 MONTH",
         "year": "INTERVAL 1 YEAR", "day": "INTERVAL 1 DAY"}


def growth_accounting(con: duckdb.DuckDBPyConnection, period: str = "month",
                      revenue: bool = False, start=None, end=None) -> pd.DataFrame:
    """One row per period (in ``[start, end)`` if given; the classification always uses the
    whole history): active, new, retained, resurrected, churned, quick_ratio, retention_rate
    and, with ``revenue``, the revenue accounting columns. See the module docstring."""
    require(con, "orders", needed_for="growth accounting (chapter 3)")
    if period not in _STEP:
        raise ValueError(f"period must be one of {tuple(_STEP)}")
    step = _STEP[period]
    sql = f"""
    WITH a AS (
        SELECT user_id, date_trunc('{period}', order_ts)::DATE AS period, sum(gmv) AS rev
        FROM orders WHERE status <> 'cancelled' GROUP BY ALL
    ), b AS (
        SELECT *, lag(period) OVER w AS prev_p, lead(period) OVER w AS next_p,
               lag(rev) OVER w AS prev_rev
        FROM a WINDOW w AS (PARTITION BY user_id ORDER BY period)
    ), bounds AS (SELECT min(period) AS lo, max(period) AS hi FROM a),
    spine AS (
        SELECT unnest(generate_series(lo::TIMESTAMP, hi::TIMESTAMP, {step}))::DATE AS period
        FROM bounds
    ), cur AS (
        SELECT period, count(*) AS active,
               count(*) FILTER (WHERE prev_p IS NULL) AS new,
               count(*) FILTER (WHERE prev_p = (period - {step})::DATE) AS retained,
               count(*) FILTER (WHERE prev_p < (period - {step})::DATE) AS resurrected,
               sum(rev) AS revenue,
               coalesce(sum(rev) FILTER (WHERE prev_p IS NULL), 0) AS new_revenue,
               coalesce(sum(rev) FILTER (WHERE prev_p < (period - {step})::DATE), 0)
                   AS resurrected_revenue,
               coalesce(sum(greatest(rev - prev_rev, 0))
                        FILTER (WHERE prev_p = (period - {step})::DATE), 0) AS expansion_revenue,
               coalesce(sum(greatest(prev_rev - rev, 0))
                        FILTER (WHERE prev_p = (period - {step})::DATE), 0) AS contraction_revenue
        FROM b GROUP BY period
    ), ch AS (
        SELECT (period + {step})::DATE AS period, count(*) AS churned, sum(rev) AS churned_revenue
        FROM b WHERE next_p IS NULL OR next_p > (period + {step})::DATE
        GROUP BY 1
    )
    SELECT s.period, coalesce(active, 0) AS active, coalesce(new, 0) AS new,
           coalesce(retained, 0) AS retained, coalesce(resurrected, 0) AS resurrected,
           coalesce(churned, 0) AS churned,
           coalesce(revenue, 0) AS revenue, coalesce(new_revenue, 0) AS new_revenue,
           coalesce(resurrected_revenue, 0) AS resurrected_revenue,
           coalesce(expansion_revenue, 0) AS expansion_revenue,
           coalesce(contraction_revenue, 0) AS contraction_revenue,
           coalesce(churned_revenue, 0) AS churned_revenue
    FROM spine s LEFT JOIN cur USING (period) LEFT JOIN ch USING (period)
    ORDER BY s.period
    """
    df = query(con, sql)
    df["period"] = pd.to_datetime(df["period"])
    for c in ("active", "new", "retained", "resurrected", "churned"):
        df[c] = df[c].astype("int64")
    df["quick_ratio"] = (df["new"] + df["resurrected"]) / df["churned"].where(df["churned"] > 0)
    df["retention_rate"] = df["retained"] / df["active"].shift(1).where(lambda s: s > 0)
    if revenue:
        df["revenue_quick_ratio"] = (
            (df["new_revenue"] + df["resurrected_revenue"] + df["expansion_revenue"])
            / (df["churned_revenue"] + df["contraction_revenue"]).replace(0, np.nan))
    else:
        df = df.drop(columns=[c for c in df.columns if c.endswith("revenue")])
    if start is not None:
        df = df[df["period"] >= pd.Timestamp(start)]
    if end is not None:
        df = df[df["period"] < pd.Timestamp(end)]
    df = df.reset_index(drop=True)
    df.attrs["period"] = period
    return df


def check_balance(df: pd.DataFrame, revenue: bool = False, tol: float = 1e-6) -> bool:
    """True when every row satisfies active_t = active_{t-1} + new + resurrected − churned
    (and, with ``revenue``, the revenue identity within ``tol``). Row 0 uses active_{-1} = 0
    unless it has churned users (a filtered table), in which case it is skipped."""
    prev = df["active"].shift(1)
    ok = (df["active"] == prev + df["new"] + df["resurrected"] - df["churned"]).iloc[1:].all()
    first = df.iloc[0] if len(df) else None
    if first is not None and first["churned"] == 0 and first["retained"] == 0 and first["resurrected"] == 0:
        ok = ok and first["active"] == first["new"]
    ok = ok and (df["active"] == df["new"] + df["retained"] + df["resurrected"]).all()
    if revenue:
        rprev = df["revenue"].shift(1)
        rhs = (rprev + df["new_revenue"] + df["resurrected_revenue"] + df["expansion_revenue"]
               - df["contraction_revenue"] - df["churned_revenue"])
        ok = ok and bool(np.allclose(df["revenue"].iloc[1:], rhs.iloc[1:], atol=tol, rtol=0))
    return bool(ok)
