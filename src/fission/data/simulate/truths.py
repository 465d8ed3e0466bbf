"""Latent truths the report's estimators target, from the simulator's own state: true churn
times (on the uncensored history), the full cost of acquiring users per channel, the next 12
months' purchases, monthly active and new buyers. The chunks of :func:`orders.chunk` return
their parts (``info["truth"]``); :func:`combine` adds them up and :func:`build` writes the
truth.json sections (definitions in data/README.md)."""
from __future__ import annotations

import numpy as np

from ..contract import CAMPAIGN_TYPES, CHANNELS
from . import params as P
from .calendar import CONTINUATION_DAYS
from .orders import FREQ_BINS

SURVIVAL_AT = (30, 90, 180, 365)


def combine(parts: list) -> dict:
    """Chunk parts -> one: arrays concatenated (churn), sums added (everything else)."""
    out = {"churn": {k: np.concatenate([p["churn"][k] for p in parts]) for k in parts[0]["churn"]}}
    for key in ("experiments", "future"):
        out[key] = sum(p[key] for p in parts)
    for key in ("monthly", "acquisition"):
        out[key] = {k: sum(p[key][k] for p in parts) for k in parts[0][key]}
    return out


def _survival(days: np.ndarray) -> dict:
    """Median (smallest t with S(t) <= 0.5, as lifelines reports it) and S(t) = P(T > t) of
    complete (uncensored) durations; inf = no churn before the continuation's end."""
    d = np.sort(days)
    n = len(d)
    med = float(d[int(np.ceil(n / 2)) - 1]) if n else float("nan")
    row = {"users": int(n), "median_days": round(med, 3) if np.isfinite(med) else None,
           "no_churn_by_continuation_end": int(np.isinf(d).sum())}
    for t in SURVIVAL_AT:
        row[f"survival_{t}d"] = round(float((d > t).mean()), 5) if n else None
    return row


CHURN_POPULATIONS = {
    "buyers_by_data_end": "window signups with a non-cancelled order before the data end (the "
                          "population survival.py analyses)",
    "first_order_within_30d": "window signups whose first non-cancelled order came within 30 days "
                              "of signing up (complete for every cohort that signed up >= 30 days "
                              "before the data end, so Kaplan-Meier with censoring at data end - "
                              "churn_days recovers it)",
}


def churn(c: dict) -> dict:
    """True churn times per acquisition channel for the two populations (CHURN_POPULATIONS)."""
    masks = {"buyers_by_data_end": c["by_end"], "first_order_within_30d": c["first_days"] <= 30}
    out = {"churn_days": P.CHURN_DAYS, "continuation_days": CONTINUATION_DAYS, "survival_at_days": SURVIVAL_AT}
    for name, m in masks.items():
        out[name] = {"definition": CHURN_POPULATIONS[name], "all": _survival(c["days"][m]),
                     "by_channel": {ch: _survival(c["days"][m & (c["channel"] == i)])
                                    for i, ch in enumerate(CHANNELS)}}
    out["first_order_after_data_end"] = {ch: int(((c["channel"] == i) & ~c["by_end"]).sum())
                                         for i, ch in enumerate(CHANNELS)}
    return out


def acquisition(cal, U, camp, inc: dict) -> dict:
    """Per year and acquisition channel: users acquired (window signups), campaign spend
    (campaigns of the channel's types, by start year), incentive spend (first-order discount of
    referral users by signup year + group-buy discount by order year) and the CACs."""
    years = (cal.year - 1, cal.year)
    win = ~U["legacy"]
    yi = (U["ts"] >= cal.year_start).astype(int)
    start = np.array(camp.cstart)
    cyear = (start >= cal.year_start).astype(int)
    ctype = np.array(camp.ctype)
    out = {}
    for y, year in enumerate(years):
        row = {}
        for i, ch in enumerate(CHANNELS):
            users = int((win & (yi == y) & (U["channel"] == i)).sum())
            types = [CAMPAIGN_TYPES.index(t) for t in P.CAC_CAMPAIGN_TYPES[ch]]
            spend = float(camp.cost[(cyear == y) & np.isin(ctype, types)].sum())
            fo = float(inc["first_order_discount"][y, i])
            gb = float(inc["group_buy_discount"][y, i])
            incentive = fo + gb
            row[ch] = {"users": users, "campaign_spend": round(spend, 2),
                       "first_order_discount": round(fo, 2),
                       "new_user_coupon": round(float(inc["new_user_coupon"][y, i]), 2),
                       "group_buy_discount": round(gb, 2), "incentive_spend": round(incentive, 2),
                       "cac_campaign_only": round(spend / users, 4) if users else None,
                       "cac_full": round((spend + incentive) / users, 4) if users else None}
        out[str(year)] = row
    return {"campaign_types": P.CAC_CAMPAIGN_TYPES, "by_year": out}


def future(f: np.ndarray, cal) -> dict:
    def row(x):
        c = int(x[0])
        return {"customers": c, "purchases": int(x[1]), "purchase_days": int(x[2]),
                "spend": round(float(x[3]), 2),
                "purchases_per_customer": round(float(x[1] / c), 5) if c else None,
                "purchase_days_per_customer": round(float(x[2] / c), 5) if c else None,
                "spend_per_customer": round(float(x[3] / c), 4) if c else None}
    return {"from": str(cal.end + __import__("datetime").timedelta(days=1)), "days": P.FUTURE_DAYS,
            "total": row(f.sum(axis=0)), "by_frequency": {b: row(f[i]) for i, b in enumerate(FREQ_BINS)}}


def monthly(cal, m: dict) -> dict:
    months = np.arange(np.datetime64(cal.start, "M"), np.datetime64(cal.end, "M") + 1).astype(str)
    return {str(k): {"active": int(a), "new": int(n)} for k, a, n in zip(months, m["active"], m["new"])}
