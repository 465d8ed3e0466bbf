"""Customer service and after-sales (chapter 7): tickets, first-response times against the
24-hour promise, an Erlang C staffing model, returns and the 7-day no-reason rule, reviews.

Censoring: a ticket created less than ``RESPONSE_HORIZON_H`` hours before the data end may not
be answered yet, an order delivered less than ``RETURN_WINDOW_DAYS`` before it may still be
returned; such tickets and orders are left out of the rates instead of counted as complete.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ._sql import data_end, query, require
from .experiments import SPRING_FESTIVAL
from .overview import diff_proportions, proportion_ci

RESPONSE_HORIZON_H = 48        # tickets younger than this at the data end: response censored
RESOLVE_HORIZON_DAYS = 14      # … resolution censored
RETURN_WINDOW_DAYS = 30        # orders delivered later than data end − this: returns censored
REPEAT_DAYS = 90               # repeat purchase window after a review
PEAKS = {"618": ("06-16", "06-17", "06-18"), "double11": ("11-10", "11-11", "11-12")}
SF_DAYS = 7                    # 春节: the festival week (正月初一 … 初七)


def _require(con, *tables):
    require(con, *tables, needed_for="chapter 7 (客服与售后服务优化)")


def _year(year: int) -> tuple[str, str]:
    return f"{year}-01-01", f"{year + 1}-01-01"


# ------------------------------------------------------------------ tickets
def _tickets(con, year: int) -> pd.DataFrame:
    """The year's tickets with response and resolution in minutes / hours, and whether each is
    observable (created early enough before the data end)."""
    _require(con, "tickets")
    a, b = _year(year)
    end = data_end(con)
    df = query(con, f"""
        SELECT created_ts, category, channel, csat, agent_id,
               (date_diff('microsecond', created_ts, first_response_ts) / 1e6) / 60.0 AS response_min,
               (date_diff('microsecond', created_ts, resolved_ts) / 1e6) / 3600.0 AS resolve_h,
               created_ts <= TIMESTAMP '{end}' - INTERVAL {RESPONSE_HORIZON_H} HOUR AS resp_obs,
               created_ts <= TIMESTAMP '{end}' - INTERVAL {RESOLVE_HORIZON_DAYS} DAY AS res_obs
        FROM tickets WHERE created_ts >= '{a}' AND created_ts < '{b}'""")
    bad = df.response_min < 0
    if bad.any():
        raise ValueError(f"tickets: first_response_ts before created_ts in {int(bad.sum())} rows "
                         "(rule: first_response_ts >= created_ts)")
    return df


def day_type(ts: pd.Series) -> pd.Series:
    """'618', 'double11', 'spring_festival' or 'normal' for each timestamp's day."""
    d = pd.to_datetime(ts)
    md = d.dt.strftime("%m-%d")
    out = pd.Series("normal", index=d.index)
    for name, days in PEAKS.items():
        out[md.isin(days)] = name
    for y in sorted(d.dt.year.unique()):
        if y in SPRING_FESTIVAL:
            off = (d.dt.normalize() - pd.Timestamp(SPRING_FESTIVAL[y])).dt.days
            out[(off >= 0) & (off < SF_DAYS)] = "spring_festival"
    return out


def _summary(df: pd.DataFrame) -> dict:
    r = df[df.resp_obs]
    answered = r.response_min.notna()
    w = r.response_min
    res = df[df.res_obs].resolve_h
    return {"tickets": int(len(df)), "observed": int(len(r)),
            "within_1h": int((w <= 60).sum()), "within_24h": int((w <= 1440).sum()),
            "within_30m": int((w <= 30).sum()), "unanswered": int((~answered).sum()),
            "response_median_min": float(w.median()) if answered.any() else math.nan,
            "response_p90_min": float(w.quantile(0.9)) if answered.any() else math.nan,
            "resolve_median_h": float(res.median()) if res.notna().any() else math.nan,
            "csat": float(df.csat.mean()) if df.csat.notna().any() else math.nan,
            "csat_n": int(df.csat.notna().sum()),
            "csat_sd": float(df.csat.std()) if df.csat.notna().sum() > 1 else math.nan}


def _rates(s: dict) -> dict:
    n = s["observed"]
    for k in ("within_1h", "within_24h", "within_30m"):
        s[f"{k}_rate"] = s[k] / n if n else math.nan
    return s


def ticket_summary(con, year: int, by: str | None = None) -> pd.DataFrame:
    """Volume, first-response median / 90th percentile (minutes), shares answered within
    30 minutes, 1 hour and 24 hours (of tickets created ≥ 48 h before the data end), median
    resolution (hours) and mean CSAT — for the year, or per ``by`` (category, channel, day_type)."""
    df = _tickets(con, year)
    if by == "day_type":
        df["day_type"] = day_type(df.created_ts)
    if by is None:
        return pd.DataFrame([_rates(_summary(df))])
    return pd.DataFrame([{by: k, **_rates(_summary(g))} for k, g in df.groupby(by)])


def compare_shares(cur: dict, prev: dict, x: str, n: str = "observed") -> dict:
    """Difference of a share (``x`` of ``n``) between two summaries, with its interval."""
    return diff_proportions(cur[x], cur[n], prev[x], prev[n])


def compare_means(m1, sd1, n1, m2, sd2, n2, alpha: float = 0.05) -> dict:
    """Welch interval of m1 − m2 (e.g. CSAT this year against last year)."""
    se = math.sqrt(sd1 ** 2 / n1 + sd2 ** 2 / n2) if n1 > 1 and n2 > 1 else math.nan
    if not se > 0:
        return {"diff": m1 - m2, "lo": math.nan, "hi": math.nan, "significant": False}
    z = stats.norm.ppf(1 - alpha / 2)
    d = m1 - m2
    return {"diff": d, "lo": d - z * se, "hi": d + z * se, "significant": bool(abs(d) > z * se)}


def hour_of_week(con, year: int) -> pd.DataFrame:
    """Per hour of the week (dow 0 = Monday, hour): tickets per week, median first response
    (minutes) and the share answered within 1 hour."""
    df = _tickets(con, year)
    df = df[df.resp_obs]
    weeks = df.created_ts.dt.normalize().nunique() / 7
    g = df.assign(dow=df.created_ts.dt.dayofweek, hour=df.created_ts.dt.hour).groupby(["dow", "hour"])
    out = g.agg(tickets=("response_min", "size"), response_median_min=("response_min", "median"),
                within_1h=("response_min", lambda s: float((s <= 60).mean()))).reset_index()
    out["per_week"] = out.tickets / weeks
    return out


def daily(con, year: int) -> pd.DataFrame:
    """Per day: tickets, share answered within 1 hour, and the day type (peak or normal)."""
    df = _tickets(con, year)
    df = df[df.resp_obs]
    df["day"] = df.created_ts.dt.normalize()
    out = df.groupby("day").agg(tickets=("response_min", "size"),
                                within_1h=("response_min", lambda s: float((s <= 60).mean()))).reset_index()
    out["day_type"] = day_type(out.day).values
    return out


# ------------------------------------------------------------------ Erlang C
# The few Erlang C formulas are written here (scipy for the Poisson terms): pyworkforce, the
# maintained package, is not in the project's environment, and we need the response-time
# distribution (wait + handling) that it does not give.

def erlang_c(load: float, agents: int) -> float:
    """Probability that an arrival waits, for an offered ``load`` (Erlangs) and ``agents``
    servers (M/M/c); 1 when the queue is unstable (agents ≤ load)."""
    if agents <= 0 or agents <= load:
        return 1.0
    if load <= 0:
        return 0.0
    # Erlang B by its stable recursion, then C from B
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1 - b))


def wait_within(rate_h: float, aht_min: float, agents: int, t_min: float) -> float:
    """Erlang C service level: P(wait ≤ t) for arrivals ``rate_h`` per hour, ``agents``
    servers with mean handling time ``aht_min`` (M/M/c); 0 when the queue is unstable."""
    if t_min < 0:
        return 0.0
    lam, mu = rate_h / 60, 1 / aht_min                      # per minute
    if lam <= 0:
        return 1.0
    if agents * mu <= lam:
        return 0.0
    return float(1 - erlang_c(lam / mu, agents) * math.exp(-(agents * mu - lam) * t_min))


def response_within(rate_h: float, aht_min: float, agents: int, t_min: float, lags) -> float:
    """P(first response ≤ t) when the first response is the Erlang C wait for a free agent
    plus a pickup lag drawn from ``lags`` (the observed responses to an empty queue):
    the mean over the lags l of P(wait ≤ t − l)."""
    lags = np.asarray(lags, dtype=float)
    lam, mu = rate_h / 60, 1 / aht_min
    if lam > 0 and agents * mu <= lam:
        return 0.0
    c = erlang_c(lam / mu, agents) if lam > 0 else 0.0
    slack = t_min - lags
    in_time = 1 - c * np.exp(-(agents * mu - lam) * np.maximum(slack, 0))
    return float(np.mean(np.where(slack >= 0, in_time, 0.0)))


def agents_needed(rate_h: float, aht_min: float, t_min: float, target: float, lags,
                  max_agents: int = 500) -> int:
    """Fewest agents for which P(first response ≤ t_min) ≥ target."""
    if not 0 < target < 1:
        raise ValueError(f"staffing target must be a share in (0, 1), got {target}")
    floor = float(np.mean(np.asarray(lags) <= t_min))
    if floor < target:
        raise ValueError(f"target {target:.0%} of first responses within {t_min:g} min is "
                         f"unreachable: even with free agents only {floor:.0%} are picked up "
                         "that fast; choose a longer target time")
    for c in range(1, max_agents + 1):
        if response_within(rate_h, aht_min, c, t_min, lags) >= target:
            return c
    raise ValueError(f"more than {max_agents} agents needed for {rate_h:.0f} tickets/hour")


def _hourly(con, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per clock hour of the year: arrivals, first responses given and by how many distinct
    agents, and the backlog (tickets waiting) at the hour's start and end."""
    df = _tickets(con, year)
    df = df[df.resp_obs & df.response_min.notna()].copy()
    df["hour"] = df.created_ts.dt.floor("h")
    df["resp_ts"] = df.created_ts + pd.to_timedelta(df.response_min, unit="min")
    df["resp_hour"] = df.resp_ts.dt.floor("h")
    hours = pd.date_range(df.hour.min(), df.hour.max(), freq="h")
    arr = df.groupby("hour").size().reindex(hours, fill_value=0)
    ans = df.groupby("resp_hour").size().reindex(hours, fill_value=0)
    agents = df.groupby("resp_hour").agent_id.nunique().reindex(hours, fill_value=0)
    c_ts, r_ts = np.sort(df.created_ts.values), np.sort(df.resp_ts.values)
    backlog = np.searchsorted(c_ts, hours.values, "left") - np.searchsorted(r_ts, hours.values, "left")
    out = pd.DataFrame({"hour": hours, "arrivals": arr.values, "answered": ans.values,
                        "agents": agents.values, "backlog_start": backlog,
                        "backlog_end": np.append(backlog[1:], 0)})
    return out, df.drop(columns=["agent_id"])


# Backlog thresholds relative to the hour's arrivals, so that they mean the same at any volume:
# tickets in handling count as waiting until their first response (arrivals × the pickup lag),
# which at 10 M users is ~60 at any moment even when no one queues.
SATURATED = 3     # at least this many, and an hour's arrivals, waiting at both ends: busy all hour
EMPTY = 0.25      # at most a quarter hour's arrivals waiting: no queue beyond those in handling


def fit_staffing(con, year: int, t_min: float = 60.0) -> dict:
    """Fit the Erlang C model on the year's tickets and validate it against the observed
    first responses (the first response is the wait plus the handling).

    * staffed hours of the day: those in which a waiting queue gets answers (at least a quarter
      of the busiest hour's answers per backlogged hour);
    * the staffing in place: distinct agents answering per staffed hour in which the queue
      never emptied (at least ``SATURATED`` and an hour's arrivals waiting at both ends), median per month, and the team's
      capacity (answers per such hour, mean per month);
    * handling time (AHT): agents × 60 / answers in those saturated hours (minutes per ticket
      per agent);
    * pickup lag: the responses of tickets that met an empty queue (at most ``EMPTY`` of the
      hour's arrivals waiting at either end of their hour) — the first response is the wait for a free agent plus this lag;
    * validation: per hour of the week, in the staffed hours whose queue starts empty, the
      modelled share answered within ``t_min`` against the observed one (ticket-weighted mean
      absolute error and bias). Hours that inherit the night's backlog are outside a
      steady-state model and are reported apart (``backlog_hours``)."""
    hr, df = _hourly(con, year)
    hr["month"] = hr.hour.dt.to_period("M").astype(str)
    hod = hr.hour.dt.hour
    busy = hr[hr.backlog_start > 0].groupby(hod[hr.backlog_start > 0]).answered.mean()
    staffed_hours = sorted(int(h) for h, v in busy.items() if v >= 0.25 * busy.max())
    full = np.maximum(SATURATED, hr.arrivals)
    sat = hr[(hr.backlog_start >= full) & (hr.backlog_end >= full)
             & hod.isin(staffed_hours) & (hr.answered > 0)]
    aht = float((sat.agents * 60).sum() / sat.answered.sum())
    staff = sat.groupby("month").agg(agents=("agents", "median"),
                                     capacity_h=("answered", "mean")).reset_index()
    hr["empty_start"] = hr.backlog_start <= np.floor(EMPTY * hr.arrivals)
    empty = hr[hr.empty_start & (hr.backlog_end <= np.floor(EMPTY * hr.arrivals))
               & hod.isin(staffed_hours)].hour
    lags = df[df.hour.isin(set(empty))].response_min.to_numpy()
    hr["agents_now"] = hr.month.map(staff.set_index("month").agents)
    hr["dow"], hr["hod"] = hr.hour.dt.dayofweek, hod
    df = df.merge(hr[["hour", "empty_start"]], on="hour")
    df["dow"], df["hod"] = df.created_ts.dt.dayofweek, df.created_ts.dt.hour
    v = df[df.empty_start & df.hod.isin(staffed_hours)]
    if v.empty or len(lags) == 0:
        raise ValueError(f"tickets {year}: no staffed hour starts with an empty queue (at most "
                         f"{EMPTY:.0%} of its arrivals waiting), so the queueing model can be "
                         "neither given a pickup lag nor validated; the data look like a team that "
                         "never catches up — check first_response_ts against created_ts")
    rows = []
    for (d, h), g in v.groupby(["dow", "hod"]):
        slot = hr[(hr.dow == d) & (hr.hod == h)]
        lam = float(slot.arrivals.mean())
        c = int(round(float(slot.agents_now.mean())))
        rows.append({"dow": d, "hour": h, "arrivals_h": lam, "agents": c, "tickets": len(g),
                     "observed": float((g.response_min <= t_min).mean()),
                     "modelled": response_within(lam, aht, c, t_min, lags)})
    val = pd.DataFrame(rows)
    err = val.modelled - val.observed
    w = val.tickets / val.tickets.sum()
    carried = df[~df.empty_start]
    return {"aht_min": aht, "lags": lags, "lag_median_min": float(np.median(lags)),
            "lag_within_t": float(np.mean(lags <= t_min)), "saturated_hours": int(len(sat)),
            "staff": staff, "agents_now": float(staff.agents.median()),
            "staffed_hours": staffed_hours, "validation": val, "t_min": t_min,
            "mae": float((err.abs() * w).sum()), "bias": float((err * w).sum()),
            "validated_share": float(len(v) / len(df)),
            "backlog_hours": {"tickets": int(len(carried)),
                              "observed": float((carried.response_min <= t_min).mean())}}


def peak_plan(con, year: int, compare_year: int, fit: dict, target: float = 0.8,
              t_min: float = 60.0) -> pd.DataFrame:
    """Agents per hour of day for next year's busiest 618 and 双11 day: the year's busiest day
    of each event, spread over the hours by the events' pooled hour-of-day profile, scaled by
    the year-on-year ticket growth; agents from Erlang C to answer ``target`` of first
    responses within ``t_min`` minutes, around the clock. Current: this year's staffing on
    that day (agents × staffed hours)."""
    cur, prev = _tickets(con, year), _tickets(con, compare_year)
    growth = len(cur) / len(prev) if len(prev) else 1.0
    cur["type"] = day_type(cur.created_ts).values
    cur["day"] = cur.created_ts.dt.normalize()
    staff = fit["staff"].set_index("month").agents
    rows = []
    for ev in PEAKS:
        e = cur[cur.type == ev]
        if e.empty:
            continue
        per_day = e.groupby("day").size()
        busiest = per_day.idxmax()
        profile = e.groupby(e.created_ts.dt.hour).size().reindex(range(24), fill_value=0)
        profile = profile / profile.sum()
        now = float(staff.get(str(busiest.to_period("M")), fit["agents_now"]))
        for h in range(24):
            lam = float(per_day.max() * growth * profile[h])
            n = agents_needed(lam, fit["aht_min"], t_min, target, fit["lags"])
            rows.append({"event": ev, "day": busiest, "hour": h, "arrivals_h": lam, "agents": n,
                         "current": now if h in fit["staffed_hours"] else 0.0,
                         "modelled": response_within(lam, fit["aht_min"], n, t_min, fit["lags"])})
    out = pd.DataFrame(rows)
    out.attrs["growth"] = growth
    return out


# ------------------------------------------------------------------ returns
def _eligible(con, year: int) -> str:
    """SQL of the year's delivered orders whose return window is complete, with the order's
    main category (its lowest item_id: the item a return is booked on) and channel."""
    _require(con, "orders", "order_items", "items", "returns")
    a, b = _year(year)
    end = data_end(con)
    return f"""
        WITH main AS (SELECT order_id, min(item_id) AS item_id FROM order_items GROUP BY order_id)
        SELECT o.order_id, o.channel, i.category, o.delivered_ts
        FROM orders o JOIN main m USING (order_id) JOIN items i ON i.item_id = m.item_id
        WHERE o.delivered_ts IS NOT NULL AND o.order_ts >= '{a}' AND o.order_ts < '{b}'
          AND o.delivered_ts <= TIMESTAMP '{end}' - INTERVAL {RETURN_WINDOW_DAYS} DAY"""


def _return_counts(con, year: int) -> pd.DataFrame:
    """Eligible orders and return requests per (category, channel), counted in the database."""
    return query(con, f"""
        SELECT e.category, e.channel, count(*) AS orders, count(r.return_id) AS returns
        FROM ({_eligible(con, year)}) e LEFT JOIN returns r USING (order_id)
        GROUP BY ALL""")


def _returned(con, year: int) -> pd.DataFrame:
    """The return requests of eligible orders: reason, rule flag, approval, refund and days
    from delivery to request."""
    return query(con, f"""
        SELECT r.reason, r.no_reason_7d, r.approved, r.refund_amount,
               (date_diff('microsecond', e.delivered_ts, r.requested_ts) / 1e6) / 86400.0 AS req_days
        FROM ({_eligible(con, year)}) e JOIN returns r USING (order_id)""")


def return_rates(con, year: int, by: str = "category") -> pd.DataFrame:
    """Return requests per delivered order (complete 30-day window) per ``by``
    (category or channel), with Wilson intervals."""
    g = _return_counts(con, year).groupby(by, as_index=False)[["orders", "returns"]].sum()
    g["rate"] = g.returns / g.orders
    ci = [proportion_ci(x, n) for x, n in zip(g.returns, g.orders)]
    g["lo"], g["hi"] = [c[0] for c in ci], [c[1] for c in ci]
    return g.sort_values("rate", ascending=False).reset_index(drop=True)


def channel_vs_rest(con, year: int, channels=("live", "kol")) -> pd.DataFrame:
    """Do purchases from ``channels`` return more? Each channel's return rate against all other
    orders, raw and within category (the category mix differs between channels: the adjusted
    difference weights each category's gap by the channel's orders — a Mantel–Haenszel-style
    risk difference with a Wald interval)."""
    cnt = _return_counts(con, year)
    z = stats.norm.ppf(0.975)
    rows = []
    for ch in channels:
        x = cnt.channel == ch
        raw = diff_proportions(cnt[x].returns.sum(), cnt[x].orders.sum(),
                               cnt[~x].returns.sum(), cnt[~x].orders.sum())
        d, var, wsum = 0.0, 0.0, 0.0
        for _, g in cnt.groupby("category"):
            na, nb = g[g.channel == ch].orders.sum(), g[g.channel != ch].orders.sum()
            if na < 2 or nb < 2:
                continue
            pa, pb = g[g.channel == ch].returns.sum() / na, g[g.channel != ch].returns.sum() / nb
            d += na * (pa - pb)
            var += na ** 2 * (pa * (1 - pa) / na + pb * (1 - pb) / nb)
            wsum += na
        if not wsum:
            continue
        d, se = d / wsum, math.sqrt(var) / wsum
        rows.append({"channel": ch, "orders": int(cnt[x].orders.sum()), "rate": raw["p1"],
                     "rest": raw["p2"], "diff": raw["diff"], "lo": raw["lo"], "hi": raw["hi"],
                     "significant": raw["significant"], "adj_diff": d, "adj_lo": d - z * se,
                     "adj_hi": d + z * se, "adj_significant": bool(abs(d) > z * se)})
    return pd.DataFrame(rows)


def return_reasons(con, year: int) -> pd.DataFrame:
    """Per reason: requests, share of requests, approval rate (Wilson interval), days from
    delivery to request (median) and refunded amount."""
    r = _returned(con, year)
    g = r.groupby("reason").agg(requests=("approved", "size"), approved=("approved", "sum"),
                                req_days=("req_days", "median"),
                                refund=("refund_amount", "sum")).reset_index()
    g["share"] = g.requests / g.requests.sum()
    g["approval"] = g.approved / g.requests
    ci = [proportion_ci(x, n) for x, n in zip(g.approved, g.requests)]
    g["approval_lo"], g["approval_hi"] = [c[0] for c in ci], [c[1] for c in ci]
    return g.sort_values("requests", ascending=False)


def seven_day_rule(con, year: int) -> dict:
    """The 7-day no-reason rule: requests within 7 days of delivery, the share of them that
    invoke it, the approval rate of no-reason requests within 7 days (the rule's compliance,
    with a Wilson interval), and no-reason requests accepted outside the 7 days (violations)."""
    r = _returned(con, year)
    within = r.req_days <= 7
    nr = r.no_reason_7d.astype(bool)
    ok = r[within & nr]
    lo, hi = proportion_ci(int(ok.approved.sum()), len(ok))
    late = r[~within & nr]
    return {"requests": int(len(r)), "within_7d": int(within.sum()),
            "within_7d_share": float(within.mean()) if len(r) else math.nan,
            "no_reason": int(nr.sum()), "no_reason_share": float(nr.mean()) if len(r) else math.nan,
            "no_reason_share_within_7d": float(nr[within].mean()) if within.any() else math.nan,
            "compliance": float(ok.approved.mean()) if len(ok) else math.nan,
            "compliance_lo": lo, "compliance_hi": hi, "rejected": int((~ok.approved.astype(bool)).sum()),
            "outside_7d": int(len(late)), "outside_7d_approved": int(late.approved.sum()),
            "approval": float(r.approved.mean()) if len(r) else math.nan,
            "refund": float(r.refund_amount.sum()),
            "req_days_median": float(r.req_days.median()) if len(r) else math.nan}


# ------------------------------------------------------------------ reviews
def reviews(con, year: int) -> dict:
    """Rating distribution; mean rating of returned against kept orders (Welch interval); and
    the share of reviewers who buy again within 90 days after a low (1–2) against a high
    (4–5) rating (reviews ≥ 90 days before the data end; Newcombe interval). Observational."""
    _require(con, "reviews", "orders", "returns")
    a, b = _year(year)
    end = data_end(con)
    df = query(con, f"""
        SELECT r.rating, r.user_id, r.review_ts, ret.return_id IS NOT NULL AS returned,
               r.review_ts <= TIMESTAMP '{end}' - INTERVAL {REPEAT_DAYS} DAY AS obs,
               EXISTS (SELECT 1 FROM orders o WHERE o.user_id = r.user_id
                       AND o.status <> 'cancelled' AND o.order_ts > r.review_ts
                       AND o.order_ts <= r.review_ts + INTERVAL {REPEAT_DAYS} DAY) AS repeat
        FROM reviews r LEFT JOIN returns ret ON ret.order_id = r.order_id
        WHERE r.review_ts >= '{a}' AND r.review_ts < '{b}'""")
    dist = df.groupby("rating").size().reindex(range(1, 6), fill_value=0)
    ret, kept = df[df.returned].rating, df[~df.returned].rating
    gap = compare_means(ret.mean(), ret.std(), len(ret), kept.mean(), kept.std(), len(kept))
    o = df[df.obs]
    low, high = o[o.rating <= 2], o[o.rating >= 4]
    rep = diff_proportions(low.repeat.sum(), len(low), high.repeat.sum(), len(high))
    return {"n": int(len(df)), "mean": float(df.rating.mean()),
            "dist": pd.DataFrame({"rating": dist.index, "reviews": dist.values,
                                  "share": dist.values / max(dist.sum(), 1)}),
            "low_share": float((df.rating <= 2).mean()),
            "returned_mean": float(ret.mean()), "kept_mean": float(kept.mean()),
            "returned_gap": gap, "repeat_low": rep["p1"], "repeat_high": rep["p2"],
            "repeat_low_n": int(len(low)), "repeat_high_n": int(len(high)),
            "repeat_gap": {k: rep[k] for k in ("diff", "lo", "hi", "p_value", "significant")}}
