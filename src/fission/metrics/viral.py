"""Viral coefficient (K-factor), viral cycle time and visits per share (chapter 3).

Definitions, for a signup cohort (users whose ``signup_ts`` falls in a period) restricted to
users whose first ``window_days`` after signup are fully observed
(``signup_ts >= data start`` and ``signup_ts + window_days <= data end``; users who signed up
before the data start — an installed base whose sharing window is not in the data — are left
out, see :func:`fission.metrics._sql.data_start`):

* ``cohort_size`` – users in the cohort (all of them, whatever they shared);
* ``shares`` – shares (of the mechanism) the cohort sent in ``[signup_ts, signup_ts + window)``;
* ``invites_per_user`` = shares / cohort_size;
* ``visits`` – all share_visits of those shares; ``visits_per_share`` (分享回流比) = visits / shares;
* ``signups`` – visits of those shares with a non-null ``signup_user_id`` (referred signups);
* ``invite_conversion`` = signups / shares; ``k_factor`` = invites_per_user × invite_conversion
  = signups / cohort_size;
* ``k_se`` – standard error of K as the mean of the users' referred signups (from
  ``signups_sq``, the users' sum of squared signups), for intervals on K and its changes;
* ``cycle_days_median`` / ``cycle_days_mean`` – viral cycle time: days from the sharer's signup
  to the referee's signup, over those referred signups.

Mechanism ``'all'`` rows pool every mechanism (so its K is the sum of the mechanisms' K).
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ..data.contract import MECHANISMS
from ._sql import check_period, interval_days, observed_signup_sql, query, require, ts_literal
from ._sql import data_end as _data_end


def cohort_k(con, cohort_sql: str, window_days: float = 30, where_sql: str = "TRUE",
             data_end=None) -> pd.DataFrame:
    """The module's K-factor table for cohorts given by ``cohort_sql``, an SQL expression over
    ``users`` columns (a signup period, a segment flag …), among users matching ``where_sql``;
    one row per cohort × mechanism (plus ``'all'``). The one place K's SQL lives."""
    require(con, "users", "shares", "share_visits",
            needed_for="the viral coefficient and cycle time (chapter 3)")
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    dend = _data_end(con) if data_end is None else pd.Timestamp(data_end)
    win = interval_days(window_days)
    cohort = cohort_sql
    mechs = ", ".join(f"('{m}')" for m in MECHANISMS)
    sql = f"""
    WITH c AS (
        SELECT user_id, signup_ts, {cohort} AS cohort FROM users
        WHERE signup_ts + {win} <= {ts_literal(dend)} AND {observed_signup_sql(con)} AND ({where_sql})
    ), cs AS (
        SELECT cohort, count(*) AS cohort_size FROM c GROUP BY cohort
    ), sh AS (
        SELECT c.cohort, s.share_id, s.mechanism, c.signup_ts, c.user_id
        FROM shares s JOIN c ON s.user_id = c.user_id
        WHERE s.share_ts >= c.signup_ts AND s.share_ts < c.signup_ts + {win}
    ), sc AS (
        SELECT cohort, coalesce(mechanism, 'all') AS mechanism, count(*) AS shares
        FROM sh GROUP BY GROUPING SETS ((cohort, mechanism), (cohort))
    ), vc AS (
        SELECT sh.cohort, coalesce(sh.mechanism, 'all') AS mechanism,
               count(*) AS visits, count(v.signup_user_id) AS signups,
               median((date_diff('microsecond', sh.signup_ts, u.signup_ts) / 1e6) / 86400.0) AS cycle_days_median,
               avg((date_diff('microsecond', sh.signup_ts, u.signup_ts) / 1e6) / 86400.0) AS cycle_days_mean
        FROM sh JOIN share_visits v ON v.share_id = sh.share_id
        LEFT JOIN users u ON u.user_id = v.signup_user_id
        GROUP BY GROUPING SETS ((sh.cohort, sh.mechanism), (sh.cohort))
    ), pu AS (
        SELECT sh.cohort, coalesce(sh.mechanism, 'all') AS mechanism, sh.user_id,
               count(v.signup_user_id) AS n
        FROM sh JOIN share_visits v ON v.share_id = sh.share_id
        GROUP BY GROUPING SETS ((sh.cohort, sh.mechanism, sh.user_id), (sh.cohort, sh.user_id))
    ), ss AS (
        SELECT cohort, mechanism, sum(n * n) AS signups_sq FROM pu GROUP BY ALL
    ), grid AS (
        SELECT cs.cohort, m.mechanism, cs.cohort_size
        FROM cs CROSS JOIN (VALUES {mechs}, ('all')) AS m(mechanism)
    )
    SELECT g.cohort, g.mechanism, g.cohort_size,
           coalesce(sc.shares, 0) AS shares, coalesce(vc.visits, 0) AS visits,
           coalesce(vc.signups, 0) AS signups, coalesce(ss.signups_sq, 0) AS signups_sq,
           vc.cycle_days_median, vc.cycle_days_mean
    FROM grid g
    LEFT JOIN sc ON sc.cohort = g.cohort AND sc.mechanism = g.mechanism
    LEFT JOIN vc ON vc.cohort = g.cohort AND vc.mechanism = g.mechanism
    LEFT JOIN ss ON ss.cohort = g.cohort AND ss.mechanism = g.mechanism
    ORDER BY g.cohort, g.mechanism = 'all', g.mechanism
    """
    df = query(con, sql)
    for c in ("cohort_size", "shares", "visits", "signups", "signups_sq"):
        df[c] = df[c].astype("int64")
    n = df["cohort_size"].where(df["cohort_size"] > 0)
    sh = df["shares"].where(df["shares"] > 0)
    df["invites_per_user"] = df["shares"] / n
    df["visits_per_share"] = df["visits"] / sh
    df["invite_conversion"] = df["signups"] / sh
    df["k_factor"] = df["signups"] / n
    # K is a mean over the cohort's users of their referred signups: its standard error is
    # that of a sample mean (users differ a lot: most bring no one, a few bring many)
    var = (df["signups_sq"] - n * df["k_factor"] ** 2) / (n - 1).where(n > 1)
    df["k_se"] = np.sqrt(var.clip(lower=0) / n)
    df.attrs.update(window_days=window_days, data_end=str(dend))
    return df


def viral_k(con: duckdb.DuckDBPyConnection, window_days: float = 30, period: str = "month",
            data_end=None) -> pd.DataFrame:
    """K-factor, invites per user, invite conversion, visits per share and viral cycle time per
    signup cohort (``period`` of ``signup_ts``) × mechanism (plus ``'all'``); only cohorts'
    fully observed users (see module docstring)."""
    return cohort_k(con, f"date_trunc('{check_period(period)}', signup_ts)::DATE",
                    window_days, data_end=data_end)


def viral_k_overall(con: duckdb.DuckDBPyConnection, window_days: float = 30,
                    data_end=None) -> pd.DataFrame:
    """The same as :func:`viral_k` over all fully observed users pooled into one cohort:
    one row per mechanism plus ``'all'``."""
    return cohort_k(con, "'all'", window_days, data_end=data_end).drop(columns="cohort")


# ------------------------------------------------------------------ comparisons with intervals
def k_change(k: pd.DataFrame, cohort, prev_cohort, alpha: float = 0.05) -> pd.DataFrame:
    """K of ``cohort`` against ``prev_cohort`` (two rows' cohorts of a :func:`cohort_k` /
    :func:`viral_k` table, e.g. two signup years; their users differ, so the estimates are
    independent), per mechanism (and ``'all'``): k_factor, k_prev, change with its
    (1 − alpha) interval, p_value and significant (:func:`fission.metrics.experiments.change_ci`)."""
    from .experiments import change_ci
    col = k["cohort"]
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_string_dtype(col)):
        col, cohort, prev_cohort = (pd.to_datetime(col), pd.Timestamp(cohort),
                                    pd.Timestamp(prev_cohort))     # dates, however typed
    cur = k[(col == cohort).to_numpy()].set_index("mechanism")
    prev = k[(col == prev_cohort).to_numpy()].set_index("mechanism")
    if cur.empty or prev.empty:
        raise ValueError(f"k_change: cohort {cohort!r} or {prev_cohort!r} not in the K table")
    rows = []
    for m in cur.index.intersection(prev.index, sort=False):
        c, p = cur.loc[m], prev.loc[m]
        r = change_ci(c["k_factor"], c["k_se"], p["k_factor"], p["k_se"], alpha)
        rows.append({"mechanism": m, "k_factor": r.pop("value"), "k_prev": r.pop("prev"), **r})
    out = pd.DataFrame(rows)
    out.attrs.update(alpha=alpha)
    return out


def k_spread(k: pd.DataFrame, mechanism: str = "all", alpha: float = 0.05) -> dict:
    """Whether the cohorts of a K table (e.g. monthly) differ beyond noise, for one mechanism:
    Cochran's Q test (:func:`fission.metrics.experiments.homogeneity`: q, df, p_value, differ),
    and the highest / lowest cohort with their K (``high``, ``k_high``, ``low``, ``k_low``).
    Name the highest or lowest month only when ``differ``."""
    from .experiments import homogeneity
    d = k[(k["mechanism"] == mechanism) & (k["cohort_size"] > 1)]
    if d.empty:
        raise ValueError(f"k_spread: no cohort with mechanism {mechanism!r}")
    h = homogeneity(d["k_factor"], d["k_se"], alpha)
    hi, lo = d.loc[d["k_factor"].idxmax()], d.loc[d["k_factor"].idxmin()]
    return {**h, "cohorts": len(d), "high": hi["cohort"], "k_high": float(hi["k_factor"]),
            "low": lo["cohort"], "k_low": float(lo["k_factor"])}
