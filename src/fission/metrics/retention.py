"""Cohort retention (chapter 6).

* cohort: the ``period`` (month by default) of the user's ``signup_ts`` (acquisition period),
  optionally split by a user attribute ``segment`` (e.g. ``acquisition_channel``);
* active in a period: ≥ 1 order with ``status != 'cancelled'`` in it (as in growth accounting);
* period number N: whole periods between the cohort period and the activity period (0 = the
  signup period itself);
* **bounded** retention(N) = users of the cohort active in period N / cohort size;
* **unbounded** retention(N) = users active in period N *or any later period* / cohort size;
* only users who signed up on or after the data start (:func:`fission.metrics._sql.data_start`,
  the first observed order/share/visit) form cohorts: an installed base that signed up before
  the data starts has unobserved early periods, so its cohorts would be left-truncated;
* cells not yet observed (cohort period + N after the data's last period) are NaN; the last
  observed period may be incomplete.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ._sql import data_end as _data_end
from ._sql import observed_signup_sql, require, ts_literal

SEGMENTS = ("acquisition_channel", "city_tier", "age_band", "gender", "is_member", "province")


def _ndiff(period: str, a: str, b: str) -> str:
    if period == "week":
        return f"(date_diff('day', {a}, {b}) // 7)"
    if period == "day":
        return f"date_diff('day', {a}, {b})"
    return f"date_diff('{period}', {a}, {b})"


def cohort_retention(con: duckdb.DuckDBPyConnection, period: str = "month", segment: str | None = None,
                     kind: str = "bounded", max_periods: int | None = None,
                     data_end=None) -> pd.DataFrame:
    """Long table: cohort, [segment], period_number, cohort_size, active, retention (NaN where
    not yet observed). ``kind`` is ``'bounded'`` or ``'unbounded'`` (module docstring)."""
    require(con, "users", "orders", needed_for="cohort retention (chapter 6)")
    if period not in ("day", "week", "month", "quarter", "year"):
        raise ValueError("period must be day, week, month, quarter or year")
    if kind not in ("bounded", "unbounded"):
        raise ValueError("kind must be 'bounded' or 'unbounded'")
    if segment is not None and segment not in SEGMENTS:
        raise ValueError(f"segment must be one of {SEGMENTS}")
    dend = _data_end(con) if data_end is None else pd.Timestamp(data_end)
    seg = f", {segment}::VARCHAR AS segment" if segment else ""
    segc = ", segment" if segment else ""
    u_sql = (f"SELECT user_id, date_trunc('{period}', signup_ts)::DATE AS cohort{seg} FROM users "
             f"WHERE {observed_signup_sql(con)}")
    sizes = con.execute(f"SELECT cohort{segc}, count(*) AS cohort_size FROM ({u_sql}) GROUP BY ALL").df()
    act_sql = f"""
        WITH u AS ({u_sql}),
        a AS (SELECT DISTINCT user_id, date_trunc('{period}', order_ts)::DATE AS p
              FROM orders WHERE status <> 'cancelled'),
        ua AS (SELECT u.cohort{', u.segment' if segment else ''}, u.user_id,
                      {_ndiff(period, 'u.cohort', 'a.p')} AS n
               FROM u JOIN a ON a.user_id = u.user_id WHERE a.p >= u.cohort)
    """
    if kind == "bounded":
        act = con.execute(act_sql + f"SELECT cohort{segc}, n AS period_number, count(*) AS active "
                                    f"FROM ua GROUP BY ALL").df()
    else:
        last = con.execute(act_sql + f"""SELECT cohort{segc}, max_n, count(*) AS users FROM
                 (SELECT cohort{segc}, user_id, max(n) AS max_n FROM ua GROUP BY ALL)
                 GROUP BY ALL""").df()
        rows = []
        keys = ["cohort"] + (["segment"] if segment else [])
        for k, g in last.groupby(keys):
            hist = np.zeros(int(g["max_n"].max()) + 1, dtype=np.int64)
            np.add.at(hist, g["max_n"].astype(int).to_numpy(), g["users"].to_numpy())
            cum = hist[::-1].cumsum()[::-1]
            k = k if isinstance(k, tuple) else (k,)
            rows += [(*k, n, int(c)) for n, c in enumerate(cum)]
        act = pd.DataFrame(rows, columns=keys + ["period_number", "active"])
    last_p = pd.Timestamp(con.execute(
        f"SELECT date_trunc('{period}', {ts_literal(dend)})::DATE").fetchone()[0])
    sizes["cohort"] = pd.to_datetime(sizes["cohort"])
    act["cohort"] = pd.to_datetime(act["cohort"])
    # observed period numbers per cohort
    grid = []
    for _, r in sizes.iterrows():
        c = r["cohort"]
        if period == "week":
            nmax = (last_p - c).days // 7
        elif period == "day":
            nmax = (last_p - c).days
        elif period == "month":
            nmax = (last_p.year - c.year) * 12 + last_p.month - c.month
        elif period == "quarter":
            nmax = ((last_p.year - c.year) * 12 + last_p.month - c.month) // 3
        else:
            nmax = last_p.year - c.year
        if max_periods is not None:
            nmax = min(nmax, max_periods)
        for n in range(0, max(nmax, -1) + 1):
            grid.append((*r.drop("cohort_size").tolist(), n, int(r["cohort_size"])))
    keys = ["cohort"] + (["segment"] if segment else [])
    out = pd.DataFrame(grid, columns=keys + ["period_number", "cohort_size"])
    out = out.merge(act, on=keys + ["period_number"], how="left")
    out["active"] = out["active"].fillna(0).astype("int64")
    out["retention"] = out["active"] / out["cohort_size"]
    out = out.sort_values(keys + ["period_number"], ignore_index=True)
    if segment:
        out = out.rename(columns={"segment": segment})
    out.attrs.update(kind=kind, period=period, segment=segment, data_end=str(dend))
    return out


def retention_matrix(long: pd.DataFrame, value: str = "retention") -> pd.DataFrame:
    """Cohort × period-number matrix of ``value`` (NaN where unobserved), with the cohort
    size as the first column. ``long`` is one segment's rows of :func:`cohort_retention`."""
    seg = long.attrs.get("segment")
    idx = ["cohort"] + ([seg] if seg else [])
    m = long.pivot_table(index=idx, columns="period_number", values=value, aggfunc="first")
    sizes = long.groupby(idx)["cohort_size"].first()
    m.insert(0, "cohort_size", sizes)
    return m


def retention_curve(long: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Pooled retention by period number (and segment): Σ active / Σ cohort size over the
    cohorts that have observed that period number, with a (1−alpha) Wilson interval
    (``ci_lower``, ``ci_upper``; statsmodels ``proportion_confint``)."""
    from statsmodels.stats.proportion import proportion_confint

    seg = long.attrs.get("segment")
    keys = ([seg] if seg else []) + ["period_number"]
    g = long.groupby(keys)[["active", "cohort_size"]].sum().reset_index()
    g["cohorts"] = long.groupby(keys).size().to_numpy()
    g["retention"] = g["active"] / g["cohort_size"]
    g["ci_lower"], g["ci_upper"] = proportion_confint(g["active"], g["cohort_size"], alpha, method="wilson")
    return g


def _period_end(cohort: pd.Timestamp, n: int, period: str) -> pd.Timestamp:
    """End (exclusive) of period number ``n`` of a cohort starting at ``cohort``."""
    step = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1),
            "month": pd.DateOffset(months=1), "quarter": pd.DateOffset(months=3),
            "year": pd.DateOffset(years=1)}[period]
    return cohort + step * (n + 1)


def retention_comparison(long: pd.DataFrame, year: int, compare_year: int, period_numbers=(1, 3),
                         alpha: float = 0.05) -> pd.DataFrame:
    """Year-on-year change of pooled retention at period N, on the same cohort months.

    ``long`` is one :func:`cohort_retention` table (monthly cohorts, no segment, bounded for a
    fair comparison: unbounded retention grows with the observation time). For each N the
    cohorts are those whose period N is complete by the data end in ``year`` and whose
    same-month cohort of ``compare_year`` is in the data. Per N: users (Σ cohort sizes),
    retained (Σ active) and retention for both years, ``diff`` = this year − last year with a
    (1−alpha) Wald interval (statsmodels ``confint_proportions_2indep``), the z-test p-value
    (``test_proportions_2indep``) and ``significant`` (p < alpha). Users are independent
    between the two years' cohorts."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    if long.attrs.get("segment"):
        raise ValueError("retention_comparison needs a cohort_retention table without a segment")
    period = long.attrs.get("period", "month")
    if period != "month":
        raise ValueError(f"retention_comparison compares monthly cohorts, got period={period!r}")
    dend = pd.Timestamp(long.attrs["data_end"])
    rows = []
    for n in period_numbers:
        cur = long[(long["period_number"] == n) & (long["cohort"].dt.year == year)]
        # complete: the period ends by midnight after the data's last (observed) day
        cur = cur[[_period_end(c, n, period) <= dend.normalize() + pd.Timedelta(days=1)
                   for c in cur["cohort"]]]
        prev = long[(long["period_number"] == n) & (long["cohort"].dt.year == compare_year)]
        months = sorted(set(cur["cohort"].dt.month) & set(prev["cohort"].dt.month))
        if not months:
            continue
        a = cur[cur["cohort"].dt.month.isin(months)]
        b = prev[prev["cohort"].dt.month.isin(months)]
        x1, n1, x2, n2 = int(a["active"].sum()), int(a["cohort_size"].sum()), int(b["active"].sum()), int(b["cohort_size"].sum())
        test = test_proportions_2indep(x1, n1, x2, n2, compare="diff", method="wald")
        lo, hi = confint_proportions_2indep(x1, n1, x2, n2, compare="diff", method="wald", alpha=alpha)
        rows.append({"period_number": n, "cohort_months": months, "year": year, "users": n1,
                     "retained": x1, "retention": x1 / n1, "compare_year": compare_year,
                     "compare_users": n2, "compare_retained": x2, "compare_retention": x2 / n2,
                     "diff": x1 / n1 - x2 / n2, "diff_lo": float(lo), "diff_hi": float(hi),
                     "z": float(test.statistic), "p_value": float(test.pvalue),
                     "significant": bool(test.pvalue < alpha)})
    return pd.DataFrame(rows)


def year_retention(long: pd.DataFrame, year: int, period_numbers=(1, 3),
                   alpha: float = 0.05) -> pd.DataFrame:
    """Pooled retention at period N of ``year``'s monthly cohorts whose period N is complete by
    the data end (for data that hold no comparison year): per N the cohort months, users,
    retained, retention and its (1−alpha) Wilson interval."""
    from statsmodels.stats.proportion import proportion_confint

    dend = pd.Timestamp(long.attrs["data_end"])
    period = long.attrs.get("period", "month")
    rows = []
    for n in period_numbers:
        cur = long[(long["period_number"] == n) & (long["cohort"].dt.year == year)]
        cur = cur[[_period_end(c, n, period) <= dend.normalize() + pd.Timedelta(days=1)
                   for c in cur["cohort"]]]
        if cur.empty:
            continue
        x, m = int(cur["active"].sum()), int(cur["cohort_size"].sum())
        lo, hi = proportion_confint(x, m, alpha=alpha, method="wilson")
        rows.append({"period_number": n, "cohort_months": sorted(set(cur["cohort"].dt.month)),
                     "year": year, "users": m, "retained": x, "retention": x / m,
                     "ci_lo": float(lo), "ci_hi": float(hi)})
    return pd.DataFrame(rows)
