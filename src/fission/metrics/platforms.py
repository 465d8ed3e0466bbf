"""Chapter 4 (社交媒体平台在裂变营销中的应用): platforms, KOL incrementality, live commerce and
the budget's response curves.

Definitions:

* **per platform** – the sharing funnel of :mod:`fission.metrics.funnel` by ``shares.platform``;
  **attributed GMV** – GMV of the non-cancelled orders credited to a platform: a first order
  brought by a share (``share_visits.first_order_id``) goes to the share's platform, any other
  order carrying a campaign (``orders.campaign_id``) to the campaign's platform; each order
  once. **Full cost** – the acquisition cost ledger of :func:`fission.metrics.incentives.cost_ledger`
  (the one cost definition) split by platform: campaign spend by the campaign's platform, a
  referral user's first-order discount by the platform of the share that signed them up; what
  has no platform (the group-buy discount, which runs the mechanism in every platform) is a
  row ``platform = None``, so the rows add up to the ledger's total.
* **KOL incrementality** – a KOL campaign's effect is the burst of sign-ups above the expected
  baseline, not the sign-ups in its window. The series is the daily sign-ups a KOL post can
  drive: those tagged ``kol`` and the untagged (``organic``) ones; channels with their own
  attribution (ads, live, group buy, referral) are left out. The baseline (a level per month,
  the weekday, the retail calendar's events: 春节, 618, 双11, 双12) and the tagged bursts are
  fitted together by least squares (:func:`kol_incrementality`): the coefficient of a tier's
  tagged sign-ups is the incremental sign-ups each of them stands for. (A free burst per
  campaign was tried first: campaigns launched on the same or neighbouring days cannot be told
  apart by their timing alone, and the tier totals swung by ±50 %.) The same design on the
  30-day GMV of each day's sign-ups gives the incremental GMV.
* **live commerce** – per session: viewers, orders carrying its ``live_id`` (not cancelled),
  their GMV, conversion per viewer = orders / viewers, GMV per viewer-hour = GMV / (viewers ×
  hours). Pooled over a group of sessions as ratios of sums with a session-clustered error.
* **response curves** – per channel, monthly campaign spend against the channel's new buyers
  (users of the channel signed up in the month with a first order within 30 days), fitted
  ``buyers = a · spend^b`` with 0 < b ≤ 1 (concave) by ``scipy.optimize.curve_fit``; a month
  bootstrap gives the uncertainty.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats

from . import funnel as _funnel
from . import incentives
from ._sql import data_end, data_start, has_table, interval_days, query, require, ts_literal

_VALID = "status <> 'cancelled'"
KOL_SERIES = ("organic", "kol")
GMV_DAYS = 30
#: 春节 (正月初一) dates: the retail calendar's movable event
SPRING_FESTIVAL = {2020: "2020-01-25", 2021: "2021-02-12", 2022: "2022-02-01", 2023: "2023-01-22",
                   2024: "2024-02-10", 2025: "2025-01-29", 2026: "2026-02-17", 2027: "2027-02-06",
                   2028: "2028-01-26"}
#: fixed retail events (month-day ranges, inclusive); a day in one gets that event's dummy
RETAIL_EVENTS = {"618_warmup": ("06-01", "06-15"), "618": ("06-16", "06-18"), "618_day": ("06-18", "06-18"),
                 "d11_warmup": ("10-25", "11-09"), "d11": ("11-10", "11-12"), "d11_day": ("11-11", "11-11"),
                 "d12": ("12-12", "12-12")}
SF_EVENTS = {"sf_pre": (-7, -1), "sf": (0, 6), "sf_post": (7, 14)}
Z = stats.norm.ppf(0.975)


def _need(con, *tables):
    require(con, *tables, needed_for="chapter 4 (社交媒体平台在裂变营销中的应用)")


# ------------------------------------------------------------------ platforms
def platform_funnel(con, year: int, window_days: float = 7) -> pd.DataFrame:
    """The sharing funnel per ``shares.platform`` for shares sent in ``year``
    (:func:`fission.metrics.funnel.funnel`, errors clustered by sharer)."""
    _need(con, "shares", "share_visits")
    return _funnel.funnel(con, by=("platform",), window_days=window_days,
                          start=f"{int(year)}-01-01", end=f"{int(year) + 1}-01-01")


def platform_gmv(con, year: int) -> pd.DataFrame:
    """Attributed GMV and orders per platform in ``year`` (module docstring); census."""
    _need(con, "orders")
    share = ("SELECT sv.first_order_id AS order_id, arg_min(s.platform, (sv.visit_ts, sv.visit_id)) AS platform "
             "FROM share_visits sv JOIN shares s USING (share_id) "
             "WHERE sv.first_order_id IS NOT NULL GROUP BY 1") \
        if has_table(con, "shares") and has_table(con, "share_visits") else \
        "SELECT NULL::BIGINT AS order_id, NULL::VARCHAR AS platform WHERE FALSE"
    camp = "LEFT JOIN campaigns c ON c.campaign_id = o.campaign_id" if has_table(con, "campaigns") \
        else "LEFT JOIN (SELECT NULL::BIGINT AS campaign_id, NULL::VARCHAR AS platform) c ON FALSE"
    df = query(con, f"""
        WITH sp AS ({share})
        SELECT coalesce(sp.platform, c.platform) AS platform, count(*) AS orders, sum(o.gmv::DECIMAL(38, 4)) AS gmv
        FROM orders o LEFT JOIN sp USING (order_id) {camp}
        WHERE o.{_VALID} AND year(o.order_ts) = $1 AND coalesce(sp.platform, c.platform) IS NOT NULL
        GROUP BY 1""", [int(year)])
    df["orders"] = df["orders"].astype("int64")
    return df.sort_values("gmv", ascending=False).reset_index(drop=True)


def platform_cost(con, year: int, window_days: float = 30) -> pd.DataFrame:
    """The full acquisition cost of ``year`` split by platform (module docstring): columns
    platform (None for costs with no platform), campaign_spend, first_order_discount,
    group_discount, total_cost. The rows sum to :func:`incentives.cost_ledger`'s total."""
    ledger = incentives.cost_ledger(con, year, window_days)
    parts = []
    if has_table(con, "campaigns"):
        types = list(incentives.CAMPAIGN_ATTRIBUTION)
        camp = query(con, f"""SELECT platform, sum(cost::DECIMAL(38, 4)) AS amount FROM campaigns
                              WHERE year(start_ts) = $1 AND type IN ({', '.join('?' for _ in types)})
                              GROUP BY 1""", [int(year), *types])
        parts.append(camp.assign(component="campaign_spend"))
    fod = ledger.loc[ledger.component == "first_order_discount", "amount"].sum()
    if fod and has_table(con, "shares") and has_table(con, "share_visits"):
        # the same first-order discounts as the ledger, placed on the signing-up share's platform
        win = interval_days(window_days)
        by_pl = query(con, f"""
            WITH first AS (SELECT user_id, min(order_ts) AS first_ts, arg_min(discount, (order_ts, order_id)) AS discount
                           FROM orders WHERE {_VALID} GROUP BY 1),
                 sp AS (SELECT sv.signup_user_id AS user_id, arg_min(s.platform, (sv.visit_ts, sv.visit_id)) AS platform
                        FROM share_visits sv JOIN shares s USING (share_id)
                        WHERE sv.signup_user_id IS NOT NULL GROUP BY 1)
            SELECT sp.platform, sum(f.discount::DECIMAL(38, 4)) AS amount
            FROM users u JOIN first f USING (user_id) LEFT JOIN sp USING (user_id)
            WHERE u.acquisition_channel IN ('referral') AND year(u.signup_ts) = $1
              AND f.first_ts <= u.signup_ts + {win}
            GROUP BY 1""", [int(year)])
        parts.append(by_pl.assign(component="first_order_discount"))
    elif fod:
        parts.append(pd.DataFrame({"platform": [None], "amount": [fod], "component": "first_order_discount"}))
    gd = ledger.loc[ledger.component == "group_discount", "amount"].sum()
    parts.append(pd.DataFrame({"platform": [None], "amount": [gd], "component": "group_discount"}))
    df = pd.concat(parts, ignore_index=True)
    df["platform"] = df["platform"].astype(object).where(df["platform"].notna(), "none")
    wide = df.pivot_table(index="platform", columns="component", values="amount", aggfunc="sum",
                          fill_value=0.0).reindex(columns=list(incentives.COMPONENTS), fill_value=0.0)
    wide["total_cost"] = wide.sum(axis=1)
    wide = wide.reset_index()
    wide["platform"] = wide["platform"].where(wide["platform"] != "none", None)
    wide.columns.name = None
    return wide.sort_values("total_cost", ascending=False).reset_index(drop=True)


# ------------------------------------------------------------------ KOL incrementality
def daily_signups(con, channels=KOL_SERIES, gmv_days: float = GMV_DAYS) -> pd.DataFrame:
    """Per observed day: ``signups`` of ``channels`` (and ``tagged`` = those tagged kol), and
    ``gmv`` = GMV of their non-cancelled orders within ``gmv_days`` of signing up; ``complete``
    says whether the day's GMV window ends before the data end."""
    _need(con, "users", "orders")
    end = data_end(con)
    start = data_start(con) or pd.Timestamp(query(con, "SELECT min(signup_ts) AS t FROM users").t[0]).floor("D")
    ch = ", ".join(f"'{c}'" for c in channels)
    win = interval_days(gmv_days)
    df = query(con, f"""
        WITH u AS (SELECT user_id, signup_ts, acquisition_channel FROM users
                   WHERE acquisition_channel IN ({ch}) AND signup_ts >= {ts_literal(start)}),
             g AS (SELECT o.user_id, sum(o.gmv::DECIMAL(38, 4)) AS gmv FROM orders o JOIN u USING (user_id)
                   WHERE o.{_VALID} AND o.order_ts <= u.signup_ts + {win} GROUP BY 1)
        SELECT signup_ts::DATE AS day, count(*) AS signups,
               count(*) FILTER (WHERE acquisition_channel = 'kol') AS tagged,
               coalesce(sum(g.gmv::DECIMAL(38, 4)), 0) AS gmv
        FROM u LEFT JOIN g USING (user_id) GROUP BY 1""")
    days = pd.date_range(start, end.floor("D"), freq="D")
    df["day"] = pd.to_datetime(df["day"])
    df = df.set_index("day").reindex(days, fill_value=0).rename_axis("day").reset_index()
    df["complete"] = df["day"] + pd.Timedelta(days=gmv_days + 1) <= end
    # the last day is partly observed when the data end falls inside it
    df = df[df["day"] + pd.Timedelta(days=1) <= end + pd.Timedelta(seconds=1)].reset_index(drop=True)
    return df


def kol_campaigns(con) -> pd.DataFrame:
    """The KOL campaigns with their KOL: campaign_id, platform, kol_id, tier, followers, start_ts,
    end_ts, cost."""
    _need(con, "campaigns", "kols")
    return query(con, """
        SELECT c.campaign_id, c.platform, c.kol_id, k.tier, k.followers, c.start_ts, c.end_ts, c.cost
        FROM campaigns c JOIN kols k USING (kol_id) WHERE c.type = 'kol' ORDER BY c.start_ts""")


def calendar_design(days: pd.Series, level=None) -> pd.DataFrame:
    """The baseline's regressors per day: a level per calendar month (year × month), weekday,
    and the retail events. Weekday and event effects are relative: each is one coefficient
    times ``level`` (the series' typical size that year, e.g. its median; 1 if not given), so
    an event is as many times the usual day in both years. One effect per event over the
    years: a per-year effect of a one- to three-day event could not be told apart from a
    campaign launched on it."""
    d = pd.to_datetime(pd.Series(days)).reset_index(drop=True)
    lv = pd.Series(1.0 if level is None else np.asarray(level, float), index=d.index)
    X = pd.get_dummies(d.dt.strftime("m%Y-%m"), dtype=float)
    X = X.join(pd.get_dummies(d.dt.dayofweek, prefix="wd", dtype=float).iloc[:, 1:].mul(lv, axis=0))
    md = d.dt.strftime("%m-%d")
    for name, (a, b) in RETAIL_EVENTS.items():
        X[name] = ((md >= a) & (md <= b)).astype(float) * lv
    for name, (a, b) in SF_EVENTS.items():
        off = pd.Series(np.nan, index=d.index)
        for y in sorted(d.dt.year.unique()):
            if y in SPRING_FESTIVAL:
                o = (d - pd.Timestamp(SPRING_FESTIVAL[y])).dt.days
                off = off.where(~((o >= -20) & (o <= 20)), o)
        hit = (off >= a) & (off <= b)
        if hit.any():
            X[name] = hit.astype(float) * lv
    return X.loc[:, X.sum() > 0]


def tagged_by_campaign(con, daily: pd.DataFrame, camps: pd.DataFrame) -> pd.DataFrame:
    """The kol-tagged sign-ups of each day split between the KOL campaigns running that day
    (day × campaign_id, column ``tagged``): a sign-up whose first order carries a KOL campaign's
    code goes to that campaign; the others of the day are shared in proportion to those codes
    (equally between the running campaigns on a day without any)."""
    days = daily["day"]
    coded = query(con, f"""
        WITH f AS (SELECT user_id, arg_min(campaign_id, (order_ts, order_id)) AS campaign_id FROM orders
                   WHERE {_VALID} GROUP BY 1)
        SELECT u.signup_ts::DATE AS day, f.campaign_id, count(*) AS n
        FROM users u JOIN f USING (user_id) JOIN campaigns c USING (campaign_id)
        WHERE u.acquisition_channel = 'kol' AND c.type = 'kol' GROUP BY 1, 2""")
    coded["day"] = pd.to_datetime(coded["day"])
    rows = []
    by_day = {d: g.set_index("campaign_id")["n"] for d, g in coded.groupby("day")}
    for d, tagged in zip(days, daily["tagged"]):
        if not tagged:
            continue
        running = camps[(camps.start_ts.dt.floor("D") <= d) & (camps.end_ts >= d)].campaign_id.tolist()
        codes = by_day.get(d, pd.Series(dtype=float))
        codes = codes[codes.index.isin(running)] if len(running) else codes
        if codes.sum() > 0:
            w = codes / codes.sum()
        elif running:
            w = pd.Series(1.0 / len(running), index=running)
        else:
            continue
        rows += [{"day": d, "campaign_id": int(c), "tagged": tagged * v} for c, v in w.items()]
    return pd.DataFrame(rows, columns=["day", "campaign_id", "tagged"])


def _fit(y, X):
    return sm.OLS(np.asarray(y, float), X).fit(cov_type="HC1")


def kol_incrementality(con, daily: pd.DataFrame | None = None, camps: pd.DataFrame | None = None,
                       group: str = "tier") -> dict:
    """Incremental sign-ups and 30-day GMV of the KOL campaigns (module docstring).

    The daily sign-ups a KOL post can drive (kol-tagged + untagged) are regressed on the
    calendar baseline and, per ``group`` of campaigns (KOL tier), the day's kol-tagged sign-ups
    of that group's campaigns (:func:`tagged_by_campaign`). The coefficient ``θ`` is the
    incremental sign-ups per tagged sign-up: 1 when the tagged users are exactly the burst above
    the baseline, below 1 when some would have come anyway (the code caught organic users),
    above 1 when the campaign also lifts untagged sign-ups (halo). A campaign's incremental
    users = θ of its group × its tagged sign-ups; the interval is θ's (HC1) interval, the split of
    overlapping campaigns' tagged sign-ups taken as known. The same regression on the 30-day GMV
    of each day's sign-ups (days whose window is complete) gives the incremental GMV per tagged
    sign-up. Returns ``campaigns`` (one row each: tagged, inc_users/_se/_lo/_hi, inc_gmv/_se/_lo/_hi),
    ``theta`` (per group: theta_users, theta_gmv with se/lo/hi), ``daily`` (the series with the
    fitted baseline) and the fit's ``r2``."""
    daily = daily_signups(con) if daily is None else daily
    camps = kol_campaigns(con) if camps is None else camps
    days = daily["day"]
    tg = tagged_by_campaign(con, daily, camps).merge(camps[["campaign_id", group]], on="campaign_id")
    groups = sorted(tg[group].unique())
    T = tg.pivot_table(index="day", columns=group, values="tagged", aggfunc="sum").reindex(
        index=days, columns=groups).fillna(0.0)
    T.columns = [f"tagged_{g}" for g in groups]
    lvl = daily.groupby(days.dt.year)["signups"].transform("median")
    X = pd.concat([calendar_design(days, level=lvl), T.reset_index(drop=True)], axis=1)
    m = _fit(daily["signups"], X)
    ok = daily["complete"].to_numpy()
    mg = _fit(daily["gmv"][ok].to_numpy(), X[ok].loc[:, X[ok].abs().sum() > 0])
    theta = []
    for g in groups:
        n = f"tagged_{g}"
        r = {group: g, "tagged": float(T[n].sum())}
        for key, mod in (("users", m), ("gmv", mg)):
            v = float(mod.params.get(n, np.nan)); se = float(mod.bse.get(n, np.nan))
            r.update({f"theta_{key}": v, f"theta_{key}_se": se, f"theta_{key}_lo": v - Z * se,
                      f"theta_{key}_hi": v + Z * se})
        theta.append(r)
    theta = pd.DataFrame(theta)
    per = tg.groupby("campaign_id")["tagged"].sum()
    out = camps.copy()
    out["tagged"] = out.campaign_id.map(per).fillna(0.0)
    # what an attribution window credits: every kol-tagged sign-up from launch day to end
    t = daily.set_index("day")["tagged"]
    out["window"] = [float(t[(t.index >= r.start_ts.floor("D")) & (t.index <= r.end_ts)].sum())
                     for r in out.itertuples()]
    th = theta.set_index(group)
    last = daily.loc[ok, "day"].max() if ok.any() else pd.Timestamp.min
    for key, col in (("users", "inc_users"), ("gmv", "inc_gmv")):
        for suf in ("", "_se", "_lo", "_hi"):
            out[col + suf] = out["tagged"] * out[group].map(th[f"theta_{key}{suf}"])
    out.loc[out.end_ts.dt.floor("D") > last, ["inc_gmv", "inc_gmv_se", "inc_gmv_lo", "inc_gmv_hi"]] = np.nan
    base = X.copy()
    base[T.columns] = 0.0
    fitted = daily[["day", "signups", "tagged"]].copy()
    fitted["baseline"] = m.predict(base)
    return {"campaigns": out, "theta": theta, "daily": fitted, "r2": float(m.rsquared), "group": group}


def roi_cpa(cost: float, inc: float, lo: float, hi: float, gmv: float, glo: float, ghi: float) -> dict:
    """CPA = cost / incremental users and ROI = incremental GMV / cost (return on ad spend) with
    intervals from the incremental interval (cost is a census). A CPA bound is None (unbounded)
    where the incremental interval reaches 0."""
    def div(a, b):
        return a / b if b and b > 0 and not math.isnan(b) else None
    return {"cpa": div(cost, inc), "cpa_lo": div(cost, hi), "cpa_hi": div(cost, lo),
            "roi": div(gmv, cost), "roi_lo": div(glo, cost), "roi_hi": div(ghi, cost)}


def kol_groups(inc: dict, key: str) -> pd.DataFrame:
    """Campaigns pooled per ``key`` (tier or platform): campaigns, cost, tagged, inc_users with
    se/lo/hi, significant (interval excludes 0), inc_gmv with lo/hi over the campaigns whose GMV
    window is complete (``cost_gmv`` their cost), CPA and ROI with intervals. Within a tier the
    campaigns share one θ, so their errors add up fully (sum of the standard errors); across
    tiers the θ are estimated together and taken as independent."""
    c = inc["campaigns"]
    rows = []
    for g, grp in c.groupby(key):
        parts = grp.groupby(inc["group"])[["inc_users", "inc_users_se", "inc_gmv", "inc_gmv_se"]].sum(min_count=1)
        u, se = float(parts.inc_users.sum()), float(math.sqrt((parts.inc_users_se ** 2).sum()))
        gg = grp[grp.inc_gmv.notna()]
        gp = gg.groupby(inc["group"])[["inc_gmv", "inc_gmv_se"]].sum()
        gm, gse = (float(gp.inc_gmv.sum()), float(math.sqrt((gp.inc_gmv_se ** 2).sum()))) if len(gg) else (np.nan, np.nan)
        cost, cost_g = float(grp.cost.sum()), float(gg.cost.sum())
        r = {key: g, "campaigns": len(grp), "cost": cost, "cost_gmv": cost_g,
             "tagged": float(grp.tagged.sum()), "followers": float(grp.followers.median()),
             "inc_users": u, "inc_users_se": se, "inc_users_lo": u - Z * se, "inc_users_hi": u + Z * se,
             "significant": bool(u - Z * se > 0 or u + Z * se < 0),
             "inc_gmv": gm, "inc_gmv_lo": gm - Z * gse, "inc_gmv_hi": gm + Z * gse}
        cp = roi_cpa(cost, u, u - Z * se, u + Z * se, np.nan, np.nan, np.nan)
        r.update(cpa=cp["cpa"], cpa_lo=cp["cpa_lo"], cpa_hi=cp["cpa_hi"],
                 roi=gm / cost_g if cost_g else None, roi_lo=(gm - Z * gse) / cost_g if cost_g else None,
                 roi_hi=(gm + Z * gse) / cost_g if cost_g else None)
        rows.append(r)
    return pd.DataFrame(rows).sort_values("inc_users", ascending=False).reset_index(drop=True)


def follower_elasticity(campaigns: pd.DataFrame) -> dict:
    """Incremental users against the KOL's followers, ``inc = a · followers^b`` fitted by
    nonlinear least squares (``scipy.optimize.curve_fit``) with Poisson-like weights (a
    campaign's variance ∝ its size; the scale estimated from the residuals, as campaigns also
    differ in length and timing): b with its 95% interval; ``diminishing`` when the interval
    lies below 1 (a KOL with twice the followers brings less than twice the users)."""
    c = campaigns.dropna(subset=["inc_users"])
    x = c.followers.to_numpy(float) / 1e6
    y = c.inc_users.to_numpy(float)
    def law(f, a, b):
        return a * f ** b
    (a, b), _ = optimize.curve_fit(law, x, y, p0=(max(y.mean(), 1.0), 0.5), maxfev=10000)
    # weights from the fitted sizes (weights from the observed ones would bias b)
    (a, b), pcov = optimize.curve_fit(law, x, y, p0=(a, b), maxfev=10000,
                                      sigma=np.sqrt(np.maximum(law(x, a, b), 1.0)))
    se = float(math.sqrt(pcov[1, 1]))
    return {"a": float(a), "b": float(b), "b_lo": b - Z * se, "b_hi": b + Z * se, "b_se": se,
            "diminishing": bool(b + Z * se < 1), "campaigns": int(len(c))}


# ------------------------------------------------------------------ live commerce
def live_sessions(con) -> pd.DataFrame:
    """One row per live session: live_id, platform, tier, followers, start_ts, hour (start hour),
    hours (duration), viewers, orders (non-cancelled, carrying its live_id), gmv, conversion
    (orders / viewers), gmv_per_viewer_hour, and signups = live-tagged sign-ups during the
    session. A sign-up during overlapping sessions goes to the session its order names, or is
    shared in proportion to the overlapping sessions' buyers (equally when none bought)."""
    _need(con, "live_sessions", "kols", "orders")
    df = query(con, f"""
        WITH o AS (SELECT live_id, count(*) AS orders, sum(gmv::DECIMAL(38, 4)) AS gmv FROM orders
                   WHERE live_id IS NOT NULL AND {_VALID} GROUP BY 1)
        SELECT l.live_id, l.platform, k.tier, k.followers, l.start_ts, hour(l.start_ts) AS hour,
               (date_diff('microsecond', l.start_ts, l.end_ts) / 1e6) / 3600.0 AS hours, l.viewers,
               coalesce(o.orders, 0) AS orders, coalesce(o.gmv, 0.0) AS gmv
        FROM live_sessions l JOIN kols k USING (kol_id) LEFT JOIN o USING (live_id)
        ORDER BY l.start_ts""")
    pairs = query(con, """
        WITH b AS (SELECT user_id, arg_min(live_id, (order_ts, order_id)) AS own FROM orders WHERE live_id IS NOT NULL GROUP BY 1)
        SELECT u.user_id, l.live_id, b.own FROM users u
        JOIN live_sessions l ON u.signup_ts >= l.start_ts AND u.signup_ts <= l.end_ts
        LEFT JOIN b USING (user_id) WHERE u.acquisition_channel = 'live'""")
    buyers = df.set_index("live_id")["orders"].astype(float)
    w = np.where(pairs.own.notna(), (pairs.own == pairs.live_id).astype(float),
                 pairs.live_id.map(buyers).fillna(0.0).to_numpy())
    pairs["w"] = w
    tot = pairs.groupby("user_id")["w"].transform("sum")
    n = pairs.groupby("user_id")["w"].transform("size")
    pairs["share"] = np.where(tot > 0, pairs["w"] / tot.where(tot > 0, 1.0), 1.0 / n)
    df["signups"] = df.live_id.map(pairs.groupby("live_id")["share"].sum()).fillna(0.0)
    v = df["viewers"].where(df["viewers"] > 0)
    df["conversion"] = df["orders"] / v
    df["viewer_hours"] = df["viewers"] * df["hours"]
    df["gmv_per_viewer_hour"] = df["gmv"] / df["viewer_hours"].where(df["viewer_hours"] > 0)
    df["orders"] = df["orders"].astype("int64")
    return df


def pooled_ratio(df: pd.DataFrame, y: str, x: str) -> dict:
    """sum(y) / sum(x) over the sessions of ``df`` with its session-clustered standard error
    (:func:`fission.metrics.funnel.ratio_se`) and 95% interval."""
    n = len(df)
    Y, X = float(df[y].sum()), float(df[x].sum())
    se = float(_funnel.ratio_se(n, Y, X, float((df[y] ** 2).sum()), float((df[x] ** 2).sum()),
                                float((df[x] * df[y]).sum())))
    r = Y / X if X > 0 else float("nan")
    return {"value": r, "se": se, "lo": r - Z * se, "hi": r + Z * se, "sessions": n}


def live_by(sessions: pd.DataFrame, key: str) -> pd.DataFrame:
    """Sessions pooled per ``key``: sessions, viewers, orders, gmv, conversion and
    gmv_per_viewer_hour with their intervals (``_lo``/``_hi``, ``_se``)."""
    rows = []
    for g, grp in sessions.groupby(key):
        c, v = pooled_ratio(grp, "orders", "viewers"), pooled_ratio(grp, "gmv", "viewer_hours")
        rows.append({key: g, "sessions": len(grp), "viewers": int(grp.viewers.sum()),
                     "orders": int(grp.orders.sum()), "gmv": float(grp.gmv.sum()),
                     "conversion": c["value"], "conversion_se": c["se"], "conversion_lo": c["lo"],
                     "conversion_hi": c["hi"], "gmv_per_viewer_hour": v["value"],
                     "gmv_per_viewer_hour_se": v["se"], "gmv_per_viewer_hour_lo": v["lo"],
                     "gmv_per_viewer_hour_hi": v["hi"]})
    return pd.DataFrame(rows)


def se_compare(value: str):
    """A ``compare`` for :func:`fission.metrics.overview.leaders` on rows with ``value`` and
    ``value_se`` (independent groups of sessions): a Wald interval of the difference."""
    def cmp(a, b):
        d = float(a[value]) - float(b[value])
        se = math.hypot(float(a[f"{value}_se"]), float(b[f"{value}_se"]))
        if not (se > 0):
            return {"diff": d, "lo": np.nan, "hi": np.nan, "p_value": np.nan, "significant": False}
        p = float(2 * stats.norm.sf(abs(d) / se))
        return {"diff": d, "lo": d - Z * se, "hi": d + Z * se, "p_value": p, "significant": p < 0.05}
    return cmp


def live_deciles(sessions: pd.DataFrame, value: str = "gmv_per_viewer_hour") -> dict:
    """The best and worst tenth of sessions by ``value``: each decile's pooled value with its
    interval, its mix (share of head-tier sessions, median followers, median viewers), the gap
    best − worst, and ``heterogeneous``: whether the sessions' conversion differs beyond chance
    (chi-square test of one conversion for all sessions, orders against viewers) — without it
    the deciles would be ranked on noise."""
    s = sessions.dropna(subset=[value]).sort_values(value).reset_index(drop=True)
    k = max(1, len(s) // 10)
    parts = {"worst": s.iloc[:k], "best": s.iloc[-k:]}
    out = {}
    for name, d in parts.items():
        r = pooled_ratio(d, "gmv", "viewer_hours") if value == "gmv_per_viewer_hour" else \
            pooled_ratio(d, "orders", "viewers")
        out[name] = {"sessions": len(d), "value": r["value"], "lo": r["lo"], "hi": r["hi"], "se": r["se"],
                     "head_share": float((d.tier == "head").mean()),
                     "median_followers": float(d.followers.median()),
                     "median_viewers": float(d.viewers.median()),
                     "conversion": float(d.orders.sum() / d.viewers.sum()),
                     "top_platform": d.platform.mode().iloc[0]}
    gap = out["best"]["value"] - out["worst"]["value"]
    gse = math.hypot(out["best"]["se"], out["worst"]["se"])
    obs = np.column_stack([s.orders, np.maximum(s.viewers - s.orders, 0)])
    obs = obs[obs.sum(axis=1) > 0]
    chi = stats.chi2_contingency(obs)
    out.update(gap=gap, gap_lo=gap - Z * gse, gap_hi=gap + Z * gse,
               heterogeneity_p=float(chi.pvalue), heterogeneous=bool(chi.pvalue < 0.05), sessions=len(s))
    return out


# ------------------------------------------------------------------ response curves and budget
CHANNEL_TYPES = {"ads": ("ads",), "kol": ("kol",), "live": ("live",), "group_buy": ("group_buy",),
                 "referral": ("coupon", "content")}


def monthly_response(con, years, window_days: float = 30) -> pd.DataFrame:
    """Per month and paid channel: spend = full acquisition cost (``campaigns.cost`` of the
    channel's campaign types starting in the month, as the cost ledger attributes them, times
    the channel's full cost / campaign spend of that year from
    :func:`fission.metrics.incentives.acquisition_cost`), new_users (signed up in the month
    through the channel) and new_buyers (of those, a first non-cancelled order within
    ``window_days``); months whose window is not complete are left out."""
    _need(con, "campaigns", "users", "orders")
    years = [int(y) for y in years]
    end = data_end(con)
    case = " ".join(f"WHEN type IN ({', '.join(repr(t) for t in ts)}) THEN '{ch}'"
                    for ch, ts in CHANNEL_TYPES.items())
    ph = ", ".join(str(y) for y in years)
    win = interval_days(window_days)
    sp = query(con, f"""SELECT date_trunc('month', start_ts)::DATE AS month, CASE {case} END AS channel,
                               sum(cost::DECIMAL(38, 4)) AS spend FROM campaigns WHERE year(start_ts) IN ({ph})
                        GROUP BY 1, 2 HAVING channel IS NOT NULL""")
    nu = query(con, f"""
        WITH f AS (SELECT user_id, min(order_ts) AS first_ts FROM orders WHERE {_VALID} GROUP BY 1)
        SELECT date_trunc('month', u.signup_ts)::DATE AS month, u.acquisition_channel AS channel,
               count(*) AS new_users,
               count(*) FILTER (WHERE f.first_ts <= u.signup_ts + {win}) AS new_buyers
        FROM users u LEFT JOIN f USING (user_id)
        WHERE year(u.signup_ts) IN ({ph}) GROUP BY 1, 2""")
    df = sp.merge(nu, on=["month", "channel"], how="inner")
    df["month"] = pd.to_datetime(df["month"])
    # full cost: the ledger's (campaign spend + incentives) / campaign spend of the channel's
    # year scales each month's campaign spend (incentives assumed to follow spend within a year)
    for y in years:
        ac = incentives.acquisition_cost(con, y, by="channel").set_index("channel")
        factor = (ac.total_cost / ac.campaign_spend.where(ac.campaign_spend > 0)).fillna(1.0)
        sel = df.month.dt.year == y
        df.loc[sel, "full_cost_factor"] = df.loc[sel, "channel"].map(factor).fillna(1.0)
    df["spend"] = df["spend"] * df["full_cost_factor"]
    complete = df["month"] + pd.offsets.MonthEnd(1) + pd.Timedelta(days=window_days + 1) <= end
    return df[complete & (df.spend > 0)].sort_values(["channel", "month"]).reset_index(drop=True)


def _power(x, a, b):
    return a * np.power(x, b)


def fit_response(spend, buyers, n_boot: int = 200, seed: int = 0) -> dict:
    """Concave response ``buyers = a · spend^b`` (0 < b ≤ 1) by ``curve_fit`` on monthly points
    (spend in 万元), and ``n_boot`` month-bootstrap refits (``boot``: array of (a, b))."""
    x = np.asarray(spend, float) / 1e4
    y = np.asarray(buyers, float)

    def fit(xx, yy):
        p, _ = optimize.curve_fit(_power, xx, yy, p0=(max(yy.mean() / max(xx.mean(), 1e-9), 1e-3), 0.8),
                                  bounds=([0, 0.01], [np.inf, 1.0]), maxfev=10000)
        return p
    a, b = fit(x, y)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        i = rng.integers(0, len(x), len(x))
        if len(np.unique(x[i])) < 2:
            continue
        boot.append(fit(x[i], y[i]))
    boot = np.array(boot)
    return {"a": float(a), "b": float(b), "b_lo": float(np.quantile(boot[:, 1], 0.025)),
            "b_hi": float(np.quantile(boot[:, 1], 0.975)), "boot": boot,
            "spend_min": float(x.min() * 1e4), "spend_max": float(x.max() * 1e4), "months": len(x)}


def response_curves(monthly: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> dict:
    """:func:`fit_response` per channel of :func:`monthly_response`."""
    return {ch: fit_response(g.spend, g.new_buyers, n_boot, seed + i)
            for i, (ch, g) in enumerate(monthly.groupby("channel")) if len(g) >= 4}


def reallocate(curves: dict, current: dict, bound: float = 0.3) -> dict:
    """Next year's budget moved between channels to maximise expected new buyers under the same
    total, each channel kept within ±``bound`` of its current monthly spend (the range its curve
    was fitted on, so the curves are not extrapolated). ``current``: channel -> monthly spend.
    Returns the plan (per channel: current, proposed, buyers now and under the plan), the
    expected monthly gain and its 95% interval over the bootstrap draws (the same plan judged
    by each draw's curves), and ``significant``."""
    chans = [c for c in current if c in curves]
    cur = np.array([current[c] for c in chans], float) / 1e4
    total = cur.sum()

    def buyers(x, params):
        return sum(_power(xi, *p) for xi, p in zip(x, params))
    point = [(curves[c]["a"], curves[c]["b"]) for c in chans]
    res = optimize.minimize(lambda x: -buyers(x, point), cur, method="SLSQP",
                            bounds=[(v * (1 - bound), v * (1 + bound)) for v in cur],
                            constraints=[{"type": "eq", "fun": lambda x: x.sum() - total}])
    x = res.x
    n = min(len(curves[c]["boot"]) for c in chans)
    gains = np.array([buyers(x, [curves[c]["boot"][i] for c in chans]) -
                      buyers(cur, [curves[c]["boot"][i] for c in chans]) for i in range(n)])
    gain = float(buyers(x, point) - buyers(cur, point))
    lo, hi = float(np.quantile(gains, 0.025)), float(np.quantile(gains, 0.975))
    plan = pd.DataFrame({"channel": chans, "current": cur * 1e4, "proposed": x * 1e4,
                         "buyers_now": [_power(v, *p) for v, p in zip(cur, point)],
                         "buyers_plan": [_power(v, *p) for v, p in zip(x, point)]})
    plan["change"] = plan["proposed"] / plan["current"] - 1
    plan["per_10k"] = [curves[c]["a"] * curves[c]["b"] * v ** (curves[c]["b"] - 1) for c, v in zip(chans, cur)]
    return {"plan": plan, "total": float(total * 1e4), "gain": gain, "gain_lo": lo, "gain_hi": hi,
            "buyers_now": float(buyers(cur, point)), "significant": bool(lo > 0), "bound": bound}
