"""Chapter 1 (行业背景与裂变营销策略): the market, the platform's year in figures, who its users
are and how they were acquired; and the comparison helpers both chapter 1 and 2 use.

Definitions used throughout the report:
- GMV: sum of ``orders.gmv`` over orders that were not cancelled (refunded orders count, as GMV
  is what was transacted); orders: the count of those orders.
- New users: users whose ``signup_ts`` falls in the year. Buyers: distinct users with a
  non-cancelled order in the year. AOV (客单价): GMV / orders.
- Acquisition cost (CAC) of a channel: its full acquisition cost (campaign spend plus every
  incentive, :mod:`fission.metrics.incentives`) / its new users of the year.
- 30-day conversion: the share of a channel's new users who placed a first order within 30 days
  of signing up, over the users whose 30 days are observed (signed up ≥ 30 days before the data
  end); later sign-ups have an incomplete window and are left out rather than counted as
  non-buyers.

Census vs. sample. Totals over the whole platform (GMV, orders, users, buyers, costs) are a
census of what happened: they carry no sampling interval and their year-on-year change is
exact. Rates and shares (conversion, a tier's share of new users, a mechanism's funnel rates)
describe behaviour that could have come out otherwise: a comparison of two of them carries a
95% interval, a p-value and a ``significant`` flag, and a group is named highest or lowest only
when it stands significantly apart from the runner-up (:func:`leaders`).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import (confint_proportions_2indep, proportion_confint,
                                          test_proportions_2indep)

from ..data.contract import AGE_BANDS, CITY_TIER_NAMES
from . import funnel as _funnel
from . import incentives
from ._sql import data_end, interval_days, require, ts_literal

_VALID = "status <> 'cancelled'"
CONVERSION_DAYS = 30
_NAN = float("nan")


def _require(con, *tables: str) -> None:
    require(con, *tables, needed_for="chapter 1 (行业背景与裂变营销策略)")


# ------------------------------------------------------------------ comparisons
def diff_proportions(x1, n1, x2, n2, alpha: float = 0.05) -> dict:
    """p1 − p2 of two independent proportions x1/n1 and x2/n2 (two years, or two groups of
    different people): p1, p2, diff, lo, hi (Newcombe's hybrid-score (1−alpha) interval),
    p_value (two-sided score test), significant (p < alpha and the interval excludes 0).
    Both from statsmodels; NaN and not significant when a sample is empty."""
    x1, n1, x2, n2 = (float(v) for v in (x1, n1, x2, n2))
    if not (n1 > 0 and n2 > 0):
        return {"p1": x1 / n1 if n1 > 0 else _NAN, "p2": x2 / n2 if n2 > 0 else _NAN,
                "diff": _NAN, "lo": _NAN, "hi": _NAN, "p_value": _NAN, "significant": False}
    p1, p2 = x1 / n1, x2 / n2
    lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff",
                                        alpha=alpha)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(test_proportions_2indep(x1, n1, x2, n2, method="score", compare="diff").pvalue)
    if math.isnan(p) and p1 == p2:      # 0/n vs 0/n or n/n vs n/n: no evidence of a difference
        p = 1.0
    return {"p1": p1, "p2": p2, "diff": p1 - p2, "lo": float(lo), "hi": float(hi), "p_value": p,
            "significant": bool(p < alpha and (lo > 0 or hi < 0))}


def proportion_ci(x, n, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson (1−alpha) interval of one proportion x/n (statsmodels); NaNs when n = 0."""
    if not n:
        return _NAN, _NAN
    lo, hi = proportion_confint(x, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def proportion_changes(df: pd.DataFrame, x: str, n: str, x_prev: str, n_prev: str,
                       alpha: float = 0.05) -> pd.DataFrame:
    """Add the change of the proportion x/n against x_prev/n_prev to every row of ``df``:
    columns diff, diff_lo, diff_hi, p_value, significant (:func:`diff_proportions`)."""
    res = [diff_proportions(r[x], r[n], r[x_prev], r[n_prev], alpha) for _, r in df.iterrows()]
    out = df.copy()
    for col, key in (("diff", "diff"), ("diff_lo", "lo"), ("diff_hi", "hi"),
                     ("p_value", "p_value"), ("significant", "significant")):
        out[col] = [r[key] for r in res]
    out["significant"] = out["significant"].astype(bool)
    return out


def diff_share_changes(a: pd.Series, b: pd.Series, x: str, n: str, x_prev: str, n_prev: str,
                       alpha: float = 0.05) -> dict:
    """(Change of group a's share) − (change of group b's share), where a and b are shares of
    the same totals (e.g. two channels' shares of the new users, in two years): a Wald
    interval whose variance keeps the multinomial covariance of two shares of one total,
    Var(p_a − p_b) = (p_a(1−p_a) + p_b(1−p_b) + 2 p_a p_b) / N, summed over the two years.
    Returns diff, lo, hi, p_value, significant."""
    var, diff = 0.0, 0.0
    for xc, nc, sign in ((x, n, 1), (x_prev, n_prev, -1)):
        N = float(a[nc])
        pa, pb = float(a[xc]) / N, float(b[xc]) / N
        diff += sign * (pa - pb)
        var += (pa * (1 - pa) + pb * (1 - pb) + 2 * pa * pb) / N
    return _wald(diff, math.sqrt(var), alpha)


def diff_changes(a: pd.Series, b: pd.Series, alpha: float = 0.05) -> dict:
    """(a's change) − (b's change) of two independent groups, from rows with ``diff``,
    ``diff_lo`` and ``diff_hi`` (each change's interval turned back into its standard
    error): a Wald interval, p_value, significant."""
    z = stats.norm.ppf(1 - alpha / 2)
    se = math.hypot((a["diff_hi"] - a["diff_lo"]) / (2 * z), (b["diff_hi"] - b["diff_lo"]) / (2 * z))
    return _wald(float(a["diff"]) - float(b["diff"]), se, alpha)


def _wald(diff: float, se: float, alpha: float) -> dict:
    if not (se > 0) or math.isnan(diff):
        return {"diff": diff, "lo": _NAN, "hi": _NAN, "p_value": 1.0 if diff == 0 else _NAN,
                "significant": False}
    z = stats.norm.ppf(1 - alpha / 2)
    p = float(2 * stats.norm.sf(abs(diff) / se))
    return {"diff": diff, "lo": diff - z * se, "hi": diff + z * se, "p_value": p,
            "significant": bool(p < alpha)}


def leaders(df: pd.DataFrame, key: str, value: str, compare) -> dict:
    """Which group of ``df`` is highest and lowest by ``value``, and whether each stands apart
    from its runner-up: ``compare(row_a, row_b)`` returns a comparison dict (``diff``, ``lo``,
    ``hi``, ``p_value``, ``significant``) of a against b. Returns order (keys, highest first),
    top, top_value, top_vs_next, top_significant, bottom, bottom_value, bottom_vs_next
    (the runner-up against the bottom), bottom_significant. A claim such as “X 最高” is only
    made when its flag is True; with fewer than two groups it is False."""
    d = df.dropna(subset=[value]).sort_values(value, ascending=False).reset_index(drop=True)
    out = {"order": d[key].tolist(), "top": None, "top_value": _NAN, "top_vs_next": None,
           "top_significant": False, "bottom": None, "bottom_value": _NAN,
           "bottom_vs_next": None, "bottom_significant": False}
    if d.empty:
        return out
    out.update(top=d[key].iloc[0], top_value=float(d[value].iloc[0]),
               bottom=d[key].iloc[-1], bottom_value=float(d[value].iloc[-1]))
    if len(d) >= 2:
        top, bottom = compare(d.iloc[0], d.iloc[1]), compare(d.iloc[-2], d.iloc[-1])
        out.update(top_vs_next=top, top_significant=bool(top["significant"]),
                   bottom_vs_next=bottom, bottom_significant=bool(bottom["significant"]))
    return out


def proportion_compare(x: str, n: str, alpha: float = 0.05):
    """A ``compare`` for :func:`leaders` on independent groups' proportions x/n."""
    return lambda a, b: diff_proportions(a[x], a[n], b[x], b[n], alpha)


# ------------------------------------------------------------------ the chapter's figures
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
    with the year-on-year change (a ratio, e.g. 0.12 = +12%). These are platform totals, a
    census: ``attrs["census"]`` is True and no interval is given."""
    _require(con, "orders", "users")
    q = f"""
    WITH o AS (
        SELECT year(order_ts) AS y, sum(gmv::DECIMAL(38, 4)) AS gmv, count(*) AS orders,
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
    df = pd.DataFrame(rows)
    df.attrs["census"] = True
    return df


def monthly_gmv(con, years: list[int]) -> pd.DataFrame:
    """GMV and orders per calendar month of the given years (columns: year, month, gmv, orders)."""
    _require(con, "orders")
    placeholders = ", ".join("?" for _ in years)
    return con.execute(f"""
        SELECT year(order_ts) AS year, month(order_ts) AS month, sum(gmv::DECIMAL(38, 4)) AS gmv, count(*) AS orders
        FROM orders WHERE {_VALID} AND year(order_ts) IN ({placeholders})
        GROUP BY 1, 2 ORDER BY 1, 2""", list(years)).df()


def users_by_tier(con, year: int, compare_year: int, alpha: float = 0.05) -> pd.DataFrame:
    """New users per city tier in both years, the tier's share of each year's new users, the
    growth of its count (census) and the change of its share with its interval (diff, diff_lo,
    diff_hi, p_value, significant; :func:`diff_proportions`)."""
    _require(con, "users")
    df = con.execute("""
        SELECT city_tier,
               count(*) FILTER (WHERE year(signup_ts) = $1) AS new_users,
               count(*) FILTER (WHERE year(signup_ts) = $2) AS new_users_prev
        FROM users GROUP BY 1 ORDER BY 1""", [year, compare_year]).df()
    df["tier"] = df["city_tier"].map(CITY_TIER_NAMES)
    df["total"], df["total_prev"] = df["new_users"].sum(), df["new_users_prev"].sum()
    df["share"] = df["new_users"] / df["total"]
    df["share_prev"] = df["new_users_prev"] / df["total_prev"]
    df["yoy"] = df["new_users"] / df["new_users_prev"] - 1
    df = proportion_changes(df, "new_users", "total", "new_users_prev", "total_prev", alpha)
    return df[["city_tier", "tier", "new_users", "new_users_prev", "total", "total_prev", "share",
               "share_prev", "yoy", "diff", "diff_lo", "diff_hi", "p_value", "significant"]]


def _buyers_by_age(con, year: int) -> pd.DataFrame:
    return con.execute(f"""
        SELECT u.age_band, count(DISTINCT o.user_id) AS buyers, sum(o.gmv::DECIMAL(38, 4)) AS gmv
        FROM orders o JOIN users u USING (user_id)
        WHERE o.{_VALID} AND year(o.order_ts) = $1
        GROUP BY 1""", [year]).df()


def buyers_by_age(con, year: int, compare_year: int | None = None,
                  alpha: float = 0.05) -> pd.DataFrame:
    """Buyers and GMV per age band in the year, with each band's share of buyers and of GMV.
    With ``compare_year``: buyers_prev, buyer_share_prev and the change of the buyer share with
    its interval (diff, diff_lo, diff_hi, p_value, significant). The two years' buyers overlap,
    which the independent-samples interval ignores: it is then conservative."""
    _require(con, "users", "orders")
    df = _buyers_by_age(con, year)
    if compare_year is not None:
        prev = _buyers_by_age(con, compare_year).rename(columns={"buyers": "buyers_prev",
                                                                 "gmv": "gmv_prev"})
        df = df.merge(prev, on="age_band", how="outer").fillna(0)
    df["age_band"] = pd.Categorical(df["age_band"], AGE_BANDS, ordered=True)
    df = df.sort_values("age_band").reset_index(drop=True)
    df["total"] = df["buyers"].sum()
    df["buyer_share"] = df["buyers"] / df["total"]
    df["gmv_share"] = df["gmv"] / df["gmv"].sum()
    if compare_year is not None:
        df["total_prev"] = df["buyers_prev"].sum()
        df["buyer_share_prev"] = df["buyers_prev"] / df["total_prev"]
        df = proportion_changes(df, "buyers", "total", "buyers_prev", "total_prev", alpha)
    return df


def acquisition_by_channel(con, year: int, alpha: float = 0.05) -> pd.DataFrame:
    """Per acquisition channel in the year: new users and their share; the full acquisition
    cost (campaign_spend, incentives, total_cost; :func:`fission.metrics.incentives.acquisition_cost`)
    and CAC = total_cost / new users; the 30-day conversion over the users whose 30 days are
    observed (complete_users, converted, conversion_30d with its Wilson interval
    conversion_lo/hi)."""
    _require(con, "users", "orders")
    end = data_end(con)
    users = con.execute(f"""
        WITH firsts AS (
            SELECT user_id, min(order_ts) AS first_ts FROM orders WHERE {_VALID} GROUP BY 1)
        SELECT u.acquisition_channel AS channel, count(*) AS new_users,
               count(*) FILTER (WHERE u.signup_ts + {interval_days(CONVERSION_DAYS)}
                                      <= {ts_literal(end)}) AS complete_users,
               count(f.user_id) FILTER (WHERE f.first_ts <= u.signup_ts + {interval_days(CONVERSION_DAYS)}
                                          AND u.signup_ts + {interval_days(CONVERSION_DAYS)}
                                              <= {ts_literal(end)}) AS converted
        FROM users u LEFT JOIN firsts f USING (user_id)
        WHERE year(u.signup_ts) = $1 GROUP BY 1""", [year]).df()
    n = users["complete_users"].where(users["complete_users"] > 0)
    users["conversion_30d"] = users["converted"] / n
    ci = [proportion_ci(x, m, alpha) for x, m in zip(users["converted"], users["complete_users"])]
    users["conversion_lo"], users["conversion_hi"] = [c[0] for c in ci], [c[1] for c in ci]
    cost = incentives.acquisition_cost(con, year, by="channel", window_days=CONVERSION_DAYS)
    users = users.merge(cost[["channel", "campaign_spend", "incentives", "total_cost"]],
                        on="channel", how="left")
    for c in ("campaign_spend", "incentives", "total_cost"):
        users[c] = users[c].fillna(0.0)
    users["cac"] = users["total_cost"] / users["new_users"]
    users["share"] = users["new_users"] / users["new_users"].sum()
    users.attrs["conversion_days"] = CONVERSION_DAYS
    return users.sort_values("new_users", ascending=False).reset_index(drop=True)


def acquisition_changes(cur: pd.DataFrame, prev: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Year-on-year per channel of two :func:`acquisition_by_channel` results: the change of
    the 30-day conversion (conv_diff, conv_lo, conv_hi, conv_p, conv_significant) and of the
    channel's share of new users (share_diff, share_lo, share_hi, share_p, share_significant)."""
    p = prev.set_index("channel")
    rows = []
    for _, r in cur.iterrows():
        if r["channel"] not in p.index:
            continue
        q = p.loc[r["channel"]]
        c = diff_proportions(r["converted"], r["complete_users"], q["converted"], q["complete_users"], alpha)
        s = diff_proportions(r["new_users"], cur["new_users"].sum(), q["new_users"],
                             prev["new_users"].sum(), alpha)
        rows.append({"channel": r["channel"], "new_users": r["new_users"], "new_users_prev": q["new_users"],
                     "total": cur["new_users"].sum(), "total_prev": prev["new_users"].sum(),
                     "conversion_30d": c["p1"], "conversion_30d_prev": c["p2"],
                     "conv_diff": c["diff"], "conv_lo": c["lo"], "conv_hi": c["hi"],
                     "conv_p": c["p_value"], "conv_significant": c["significant"],
                     "share": s["p1"], "share_prev": s["p2"], "share_diff": s["diff"],
                     "share_lo": s["lo"], "share_hi": s["hi"], "share_p": s["p_value"],
                     "share_significant": s["significant"]})
    return pd.DataFrame(rows)


def sharing_by_mechanism(con, year: int) -> pd.DataFrame:
    """Per sharing mechanism in the year: shares, visits they brought (at any time), sign-ups
    and first orders among those visits, visits per share (分享回流比) and visit→sign-up
    conversion (signup_rate, with signup_rate_se) and first_order_rate (first orders /
    sign-ups, with first_order_rate_se); errors are clustered by sharer
    (:mod:`fission.metrics.funnel`). Sorted by sign-ups."""
    _require(con, "shares", "share_visits")
    df = _funnel.funnel(con, by=("mechanism",), window_days=365 * 100, start=f"{int(year)}-01-01",
                        end=f"{int(year) + 1}-01-01", complete_only=False)
    df = df.rename(columns={"visit_to_signup": "signup_rate", "visit_to_signup_se": "signup_rate_se",
                            "signup_to_order": "first_order_rate",
                            "signup_to_order_se": "first_order_rate_se"})
    return df.sort_values("signups", ascending=False).reset_index(drop=True)
