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
* ``share_type`` (a grouping) – ``content`` for the content-driven mechanisms
  (``CONTENT_MECHANISMS``: 内容种草 and KOL 推广), ``other`` for the incentive-driven ones.

Uncertainty. A funnel rate is a ratio of sums, R = ΣY / ΣX, over the shares of a group. The
shares of one sharer are not independent (the same friends, the same habits), so the unit of
sampling is the **sharer within the group** (a cluster). Each rate's standard error
``<rate>_se`` is the linearisation (delta-method) variance of a ratio estimator over clusters,
    Var(R) ≈ n/(n−1) · Σ_c (y_c − R·x_c)² / X²,
from the per-cluster sums kept in the result (``clusters``, ``ss_*`` squares, ``sp_*`` cross
products), so pooled rows (several groups summed) still get a valid error as long as no
sharer is in two of the pooled rows' clusters with correlated outcomes.
:func:`diff_rates` compares two rows (two groups, or one group in two years) with a normal
(Wald) 95% interval on the difference: the groups hold thousands of clusters, and the suppressed
small groups (privacy) are never compared.
"""
from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from ._sql import data_end as _data_end
from ._sql import in_list, interval_days, query, require, ts_literal

FUNNEL_GROUPS = ("mechanism", "platform", "month", "campaign_id", "share_type")
CONTENT_MECHANISMS = ("content", "kol_post")
COUNTS = ("shares", "visits", "shares_with_visit", "signups", "first_orders")
#: rate -> (numerator count, denominator count)
RATES = {
    "share_reach": ("shares_with_visit", "shares"),
    "visits_per_share": ("visits", "shares"),
    "visit_to_signup": ("signups", "visits"),
    "signup_to_order": ("first_orders", "signups"),
    "signups_per_share": ("signups", "shares"),
    "overall_conversion": ("first_orders", "shares"),
}
_SHORT = {"shares": "sh", "visits": "v", "shares_with_visit": "h", "signups": "s", "first_orders": "f"}
_PAIRS = sorted({(y, x) for y, x in RATES.values()})


def _sp(y: str, x: str) -> str:
    return f"sp_{_SHORT[y]}_{_SHORT[x]}"


STAT_COLUMNS = ("clusters",) + tuple(f"ss_{_SHORT[c]}" for c in COUNTS) + tuple(_sp(y, x) for y, x in _PAIRS)


def funnel(con: duckdb.DuckDBPyConnection, by=("mechanism",), window_days: float = 7,
           start=None, end=None, complete_only: bool = True, data_end=None,
           content=CONTENT_MECHANISMS) -> pd.DataFrame:
    """Funnel counts, step/overall conversion with standard errors, and time to convert per
    group ``by`` (any of ``mechanism``, ``platform``, ``month`` of the share, ``campaign_id``,
    ``share_type``; ``()`` for one total row). ``content`` lists the mechanisms that make
    ``share_type = 'content'``. See the module docstring for the exact definitions."""
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
    content_sql = ", ".join("'" + str(m).replace("'", "''") + "'" for m in content) or "NULL"
    cols = ", ".join(by)
    sel = (cols + ", ") if by else ""
    grp = f"GROUP BY {cols}" if by else ""
    join_on = " AND ".join(f"a.{c} IS NOT DISTINCT FROM b.{c}" for c in by) or "TRUE"
    squares = ", ".join(f"sum({_SHORT[c]}::DOUBLE * {_SHORT[c]}) AS ss_{_SHORT[c]}" for c in COUNTS)
    cross = ", ".join(f"sum({_SHORT[y]}::DOUBLE * {_SHORT[x]}) AS {_sp(y, x)}" for y, x in _PAIRS)
    # Visits are counted per share first and only signed-up visits are joined to users and
    # orders: at 10M users no DISTINCT aggregate or wide join has to fit in memory.
    sql = f"""
    WITH s AS (
        SELECT share_id, user_id, share_ts, mechanism, platform, campaign_id,
               date_trunc('month', share_ts)::DATE AS month,
               CASE WHEN mechanism IN ({content_sql}) THEN 'content' ELSE 'other' END AS share_type
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
        SELECT s.*, conv.signup_ts, conv.order_ts,
               conv.order_ts <= s.share_ts + {win} AS ordered
        FROM conv JOIN s ON s.share_id = conv.share_id
        WHERE conv.signup_ts <= s.share_ts + {win}
    ), conv_share AS (
        SELECT share_id, count(*) AS signups, count(*) FILTER (WHERE ordered) AS first_orders
        FROM cs GROUP BY share_id
    ), cl AS (                       -- one row per cluster: the sharer within the group
        SELECT {sel} s.user_id, count(*) AS sh, coalesce(sum(p.visits), 0) AS v,
               count(p.share_id) AS h, coalesce(sum(c.signups), 0) AS s,
               coalesce(sum(c.first_orders), 0) AS f
        FROM s LEFT JOIN per_share p ON p.share_id = s.share_id
               LEFT JOIN conv_share c ON c.share_id = s.share_id
        GROUP BY {sel} s.user_id
    ), a AS (
        SELECT {sel} sum(sh) AS shares, sum(v) AS visits, sum(h) AS shares_with_visit,
               sum(s) AS signups, sum(f) AS first_orders, count(*) AS clusters,
               {squares}, {cross}
        FROM cl {grp}
    ), b AS (
        SELECT {sel}
               median((date_diff('microsecond', share_ts, signup_ts) / 1e6) / 3600.0) AS hours_to_signup_median,
               avg((date_diff('microsecond', share_ts, signup_ts) / 1e6) / 3600.0) AS hours_to_signup_mean,
               median((date_diff('microsecond', share_ts, order_ts) / 1e6) / 3600.0)
                   FILTER (WHERE ordered) AS hours_to_order_median,
               avg((date_diff('microsecond', share_ts, order_ts) / 1e6) / 3600.0)
                   FILTER (WHERE ordered) AS hours_to_order_mean
        FROM cs {grp}
    )
    SELECT {', '.join('a.' + c for c in by) + ', ' if by else ''}
           {', '.join('coalesce(a.' + c + ', 0) AS ' + c for c in COUNTS + STAT_COLUMNS)},
           b.hours_to_signup_median, b.hours_to_signup_mean,
           b.hours_to_order_median, b.hours_to_order_mean
    FROM a LEFT JOIN b ON {join_on}
    ORDER BY {', '.join('a.' + c for c in by) if by else '1'}
    """
    df = query(con, sql)
    for c in COUNTS + ("clusters",):
        df[c] = df[c].astype("int64")
    for c in STAT_COLUMNS[1:]:
        df[c] = df[c].astype(float)
    df = add_rates(df)
    df.attrs["window_days"] = window_days
    return df


def ratio_se(n, y, x, syy, sxx, sxy):
    """Linearisation standard error of R = y/x over n clusters (arrays); NaN where n < 2 or
    x = 0. Written out because statsmodels has no ratio-of-sums estimator from sums."""
    n, y, x = (np.asarray(a, float) for a in (n, y, x))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = y / x
        ssd = np.asarray(syy, float) - 2 * r * np.asarray(sxy, float) + r * r * np.asarray(sxx, float)
        var = n / (n - 1) * np.maximum(ssd, 0.0) / (x * x)
    return np.where((n >= 2) & (x > 0), np.sqrt(var), np.nan)


def add_rates(df: pd.DataFrame) -> pd.DataFrame:
    """The funnel's rates from its counts (shares, visits, shares_with_visit, signups,
    first_orders), NaN where a denominator is 0; also used on pooled funnels (sums of rows).
    When the cluster sums are present (``STAT_COLUMNS``) each rate gets ``<rate>_se``."""
    for rate, (y, x) in RATES.items():
        df[rate] = df[y] / df[x].where(df[x] > 0)
    if set(STAT_COLUMNS) <= set(df.columns):
        for rate, (y, x) in RATES.items():
            df[f"{rate}_se"] = ratio_se(df["clusters"], df[y], df[x], df[f"ss_{_SHORT[y]}"],
                                         df[f"ss_{_SHORT[x]}"], df[_sp(y, x)])
    return df


def diff_rates(a: pd.Series, b: pd.Series, rate: str, alpha: float = 0.05) -> dict:
    """a − b of one ``rate`` between two rows that carry ``rate`` and its cluster standard
    error ``<rate>_se`` (two funnel groups of different sharers, one group in two years, …):
    estimate_a, estimate_b, diff, lo, hi ((1−alpha) Wald interval), p_value (two-sided
    z-test), significant (p < alpha)."""
    if f"{rate}_se" not in a.index or f"{rate}_se" not in b.index:
        raise ValueError(f"diff_rates needs columns {rate!r} and {rate + '_se'!r}")
    ra, rb = float(a[rate]), float(b[rate])
    se = math.hypot(float(a[f"{rate}_se"]), float(b[f"{rate}_se"]))
    diff = ra - rb
    z = stats.norm.ppf(1 - alpha / 2)
    if not (se > 0) or math.isnan(diff):
        p = 1.0 if diff == 0 else float("nan")
        return {"estimate_a": ra, "estimate_b": rb, "diff": diff, "lo": float("nan"),
                "hi": float("nan"), "p_value": p, "significant": False}
    p = float(2 * stats.norm.sf(abs(diff) / se))
    return {"estimate_a": ra, "estimate_b": rb, "diff": diff, "lo": diff - z * se,
            "hi": diff + z * se, "p_value": p, "significant": bool(p < alpha)}


def rate_compare(rate: str, alpha: float = 0.05):
    """A ``compare`` for :func:`fission.metrics.overview.leaders` on one funnel rate."""
    return lambda a, b: diff_rates(a, b, rate, alpha)


def funnel_changes(cur: pd.DataFrame, prev: pd.DataFrame, by: str,
                   rates=("visit_to_signup", "signup_to_order", "overall_conversion"),
                   alpha: float = 0.05) -> pd.DataFrame:
    """Year-on-year change of funnel rates per group: one row per (group, rate) present in
    both funnels, with value, previous, diff (cur − prev), lo, hi, p_value, significant."""
    p = prev.set_index(by)
    rows = []
    for _, r in cur.iterrows():
        if r[by] not in p.index:
            continue
        for rate in rates:
            d = diff_rates(r, p.loc[r[by]], rate, alpha)
            rows.append({by: r[by], "rate": rate, "value": d["estimate_a"],
                         "previous": d["estimate_b"], **{k: d[k] for k in
                                                           ("diff", "lo", "hi", "p_value", "significant")}})
    return pd.DataFrame(rows, columns=[by, "rate", "value", "previous", "diff", "lo", "hi",
                                       "p_value", "significant"])


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
