"""Growth accounting (chapter 3): new, retained, resurrected and churned users per period.

* **active** in a period: the user has ≥ 1 order with ``status != 'cancelled'`` (paid or
  refunded) whose ``order_ts`` falls in the period (``date_trunc(period, order_ts)``; weeks
  start on Monday).
* **new**: active, this is the user's first observed active period, and the user signed up on
  or after the data start (:func:`fission.metrics._sql.data_start`; every active user counts
  when there is no ``users`` table);
* **retained**: active this period and the previous one;
* **resurrected**: active this period, not the previous one, but in some earlier period — or,
  for a user who signed up before the data start (an installed base), first observed active
  now: such a user was a customer before the data and is *returning*, not new;
* **churned**: active the previous period, not this one (reported as a positive count).
* ``quick_ratio`` = (new + resurrected) / churned (NaN when nothing churned);
  ``retention_rate`` = retained / active in the previous period.

The identity ``active_t = active_{t-1} + new_t + resurrected_t − churned_t`` holds exactly for
every reported period (empty periods included). With a complete history the first period is
all "new" (everyone's first purchase). **When the history is truncated** (an installed base
signed up before the activity data starts, see :func:`fission.metrics._sql.data_start`) **the
first period of the data is not reported**: it has no observed previous period, so its
retained / resurrected / new users cannot be told apart (counting them all as "new" would make
a start-up spike). It is the baseline: its active count (and revenue) is in
``df.attrs["baseline_active"]`` (``["baseline_revenue"]``), the active_{t-1} of the first
reported row, and :func:`check_balance` uses it. So with monthly data from 2024-01 the table
starts at 2024-02, and a yearly table of 2024–2025 has only 2025. The last period may be
incomplete.

Revenue accounting (``revenue=True``) uses the GMV of the same orders:
``revenue_t = revenue_{t-1} + new_rev + resurrected_rev + expansion − contraction − churned_rev``
where expansion / contraction are the increases / decreases of retained users' revenue and
churned_rev is the previous-period revenue of churned users.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ._sql import data_start, has_table, query, require, ts_literal

_STEP = {"week": "INTERVAL 7 DAY", "month": "INTERVAL 1 MONTH", "quarter": "INTERVAL 3 MONTH",
         "year": "INTERVAL 1 YEAR", "day": "INTERVAL 1 DAY"}


def growth_accounting(con: duckdb.DuckDBPyConnection, period: str = "month",
                      revenue: bool = False, start=None, end=None) -> pd.DataFrame:
    """One row per period (in ``[start, end)`` if given; the classification always uses the
    whole history): active, new, retained, resurrected, churned, quick_ratio, retention_rate
    and, with ``revenue``, the revenue accounting columns. See the module docstring."""
    require(con, "orders", needed_for="growth accounting (chapter 3)")
    ds = data_start(con)
    ds_sql = "NULL::TIMESTAMP" if ds is None else ts_literal(ds)
    pre = (f"(SELECT user_id FROM users WHERE signup_ts::TIMESTAMP < {ds_sql})"
           if has_table(con, "users") and ds is not None else "(SELECT NULL::BIGINT AS user_id WHERE FALSE)")
    if period not in _STEP:
        raise ValueError(f"period must be one of {tuple(_STEP)}")
    step = _STEP[period]
    sql = f"""
    WITH a AS (
        SELECT user_id, date_trunc('{period}', order_ts)::DATE AS period, sum(gmv::DECIMAL(38, 4)) AS rev
        FROM orders WHERE status <> 'cancelled' GROUP BY ALL
    ), pre AS {pre}, b AS (
        SELECT *, user_id IN (SELECT user_id FROM pre) AS is_pre, lag(period) OVER w AS prev_p, lead(period) OVER w AS next_p,
               lag(rev) OVER w AS prev_rev
        FROM a WINDOW w AS (PARTITION BY user_id ORDER BY period)
    ), bounds AS (SELECT least(min(period), date_trunc('{period}', coalesce({ds_sql}, min(period)))::DATE) AS lo,
                         max(period) AS hi FROM a),
    spine AS (
        SELECT p::DATE AS period    -- unnest in a subquery, cast outside: Spark's EXPLODE cannot be cast
        FROM (SELECT unnest(generate_series(lo::TIMESTAMP, hi::TIMESTAMP, {step})) AS p FROM bounds)
    ), cur AS (
        SELECT period, count(*) AS active,
               count(*) FILTER (WHERE prev_p IS NULL AND NOT is_pre) AS new,
               count(*) FILTER (WHERE prev_p = (period - {step})::DATE) AS retained,
               count(*) FILTER (WHERE prev_p < (period - {step})::DATE
                                OR (prev_p IS NULL AND is_pre)) AS resurrected,
               sum(rev) AS revenue,
               coalesce(sum(rev) FILTER (WHERE prev_p IS NULL AND NOT is_pre), 0) AS new_revenue,
               coalesce(sum(rev) FILTER (WHERE prev_p < (period - {step})::DATE
                                         OR (prev_p IS NULL AND is_pre)), 0) AS resurrected_revenue,
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
    # with a truncated history the first period is only the baseline (module docstring)
    keep = (df.index > 0) if ds is not None else np.ones(len(df), dtype=bool)
    if start is not None:
        keep &= df["period"] >= pd.Timestamp(start)
    if end is not None:
        keep &= df["period"] < pd.Timestamp(end)
    idx = np.flatnonzero(keep)
    base = df.iloc[idx[0] - 1] if len(idx) and idx[0] > 0 else None
    df = df.iloc[idx].reset_index(drop=True)
    df.attrs["baseline_active"] = int(base["active"]) if base is not None else None
    if revenue:
        df.attrs["baseline_revenue"] = float(base["revenue"]) if base is not None else None
    df.attrs["period"] = period
    return df


def check_balance(df: pd.DataFrame, revenue: bool = False, tol: float = 1e-6) -> bool:
    """True when every row satisfies active_t = active_{t-1} + new + resurrected − churned
    (and, with ``revenue``, the revenue identity within ``tol``). Row 0 uses active_{-1} = 0
    unless it has churned users (a filtered table), in which case it is skipped; a table from
    :func:`growth_accounting` carries its baseline (the active users of the period before its
    first row) in ``attrs["baseline_active"]``, which row 0 is checked against."""
    prev = df["active"].shift(1)
    base = df.attrs.get("baseline_active")
    if base is not None and len(df):
        if not bool(df["active"].iloc[0] == base + df["new"].iloc[0] + df["resurrected"].iloc[0]
                    - df["churned"].iloc[0]):
            return False
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
        rbase = df.attrs.get("baseline_revenue")
        if rbase is not None and len(df):
            r0 = df.iloc[0]
            ok = ok and abs(r0["revenue"] - (rbase + r0["new_revenue"] + r0["resurrected_revenue"]
                                              + r0["expansion_revenue"] - r0["contraction_revenue"]
                                              - r0["churned_revenue"])) <= tol
    return bool(ok)


# ------------------------------------------------------------------ year-on-year with intervals
def growth_by_user(con: duckdb.DuckDBPyConnection, period: str = "month") -> pd.DataFrame:
    """The growth-accounting events of :func:`growth_accounting` counted per user and calendar
    year of the reported period: new, retained, resurrected, churned, and at_risk (the user was
    active in the previous period, i.e. counts in that period's retention denominator — the
    baseline period of a truncated history included). Summed over users they give exactly the
    yearly sums of the table; per user they let a rate's error be clustered by user."""
    require(con, "orders", needed_for="growth accounting (chapter 3)")
    if period not in _STEP:
        raise ValueError(f"period must be one of {tuple(_STEP)}")
    step = _STEP[period]
    ds = data_start(con)
    ds_sql = "NULL::TIMESTAMP" if ds is None else ts_literal(ds)
    pre = (f"(SELECT user_id FROM users WHERE signup_ts::TIMESTAMP < {ds_sql})"
           if has_table(con, "users") and ds is not None
           else "(SELECT NULL::BIGINT AS user_id WHERE FALSE)")
    # with a truncated history the first period is the baseline: no events of its own
    first_ok = "TRUE" if ds is None else "p > (SELECT lo FROM bounds)"
    df = query(con, f"""
    WITH a AS (
        SELECT DISTINCT user_id, date_trunc('{period}', order_ts)::DATE AS p
        FROM orders WHERE status <> 'cancelled'
    ), b AS (
        SELECT *, user_id IN (SELECT user_id FROM {pre}) AS is_pre,
               lag(p) OVER w AS prev_p, lead(p) OVER w AS next_p
        FROM a WINDOW w AS (PARTITION BY user_id ORDER BY p)
    ), bounds AS (
        SELECT least(min(p), date_trunc('{period}', coalesce({ds_sql}, min(p)))::DATE) AS lo,
               max(p) AS hi FROM a
    ), ev AS (
        SELECT user_id, year(p) AS year,
               (prev_p IS NULL AND NOT is_pre)::INT AS new,
               (prev_p = (p - {step})::DATE)::INT AS retained,
               (prev_p < (p - {step})::DATE OR (prev_p IS NULL AND is_pre))::INT AS resurrected,
               0 AS churned, 0 AS at_risk
        FROM b WHERE {first_ok}
        UNION ALL
        SELECT user_id, year((p + {step})::DATE), 0, 0, 0,
               (next_p IS NULL OR next_p > (p + {step})::DATE)::INT, 1
        FROM b WHERE (p + {step})::DATE <= (SELECT hi FROM bounds)
    )
    SELECT user_id, year, sum(new)::BIGINT AS new, sum(retained)::BIGINT AS retained,
           sum(resurrected)::BIGINT AS resurrected, sum(churned)::BIGINT AS churned,
           sum(at_risk)::BIGINT AS at_risk
    FROM ev GROUP BY ALL ORDER BY user_id, year""")
    df.attrs["period"] = period
    return df


def annual_change(con: duckdb.DuckDBPyConnection, year: int, compare_year: int,
                  period: str = "month", alpha: float = 0.05,
                  by_user: pd.DataFrame | None = None) -> pd.DataFrame:
    """Year-on-year change of the period-on-period retention rate (Σ retained / Σ at_risk) and
    the quick ratio ((Σ new + Σ resurrected) / Σ churned), with (1 − alpha) intervals clustered
    by user (:func:`fission.metrics.experiments.ratio_change`: the same users are counted in
    many periods and in both years). One row per metric: value, prev, change, se, ci_lo, ci_hi,
    p_value, significant. ``by_user`` reuses a :func:`growth_by_user` table."""
    from .experiments import ratio_change
    g = growth_by_user(con, period) if by_user is None else by_user
    cols = ["new", "retained", "resurrected", "churned", "at_risk"]
    w = g[g["year"].isin([int(year), int(compare_year)])].pivot_table(
        index="user_id", columns="year", values=cols, aggfunc="sum", fill_value=0)
    get = lambda c, y: (w[(c, int(y))].to_numpy(float) if (c, int(y)) in w.columns
                        else np.zeros(len(w)))
    rows = {
        "retention_rate": ratio_change(get("retained", year), get("at_risk", year),
                                       get("retained", compare_year),
                                       get("at_risk", compare_year), alpha),
        "quick_ratio": ratio_change(get("new", year) + get("resurrected", year),
                                    get("churned", year),
                                    get("new", compare_year) + get("resurrected", compare_year),
                                    get("churned", compare_year), alpha),
    }
    out = pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric").reset_index()
    out.attrs.update(year=int(year), compare_year=int(compare_year), period=period, alpha=alpha)
    return out
