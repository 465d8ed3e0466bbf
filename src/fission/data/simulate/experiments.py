"""A/B experiments in the edition year with planted truths (positive, null, sample-ratio
mismatch). The metric is exact: an assigned user's orders inside [start_ts, end_ts] are replaced
by one planted paid order with probability p0·w (control) or p0·(1+lift)·w (treatment), where
w = 0.1 + 2.7·q² (q = the user's order-rate percentile) averages 1 and varies enough that
pre-period orders, as a CUPED covariate, explain a visible part of the outcome's variance."""
from __future__ import annotations

import numpy as np

from .calendar import DAY

SPECS = [
    dict(name="新人券面额提升", kind="positive", start="03-03", days=28, p0=0.22, lift=0.12, share=0.5,
         hypothesis="把新人券面额从10元提到15元，会提高老用户在活动期内的下单转化"),
    dict(name="分享海报改版", kind="null", start="05-05", days=28, p0=0.20, lift=0.0, share=0.5,
         hypothesis="新版分享海报会提高用户在活动期内的下单转化"),
    dict(name="拼团入口前置", kind="srm", start="09-08", days=28, p0=0.21, lift=0.0, share=0.56,
         hypothesis="把拼团入口放到首页首屏会提高下单转化（分流实现有缺陷：实验组占比偏高）"),
]
ASSIGN_FRACTION = 0.2       # of eligible users, disjoint across experiments
MIN_AGE_DAYS = 30


def build(rng, cal, signup_ts, rate, is_fraud):
    """Per user: experiment index (-1), variant (1 = treatment), assigned_ts, p; and specs."""
    n = len(signup_ts)
    exp = np.full(n, -1, dtype=np.int64)
    u = rng.random(n)
    pct = np.empty(n); pct[np.argsort(rate, kind="stable")] = (np.arange(n) + 0.5) / max(n, 1)
    w = 0.1 + 2.7 * pct ** 2   # E[w] = 1 for uniform percentiles; max p = 0.22·1.12·2.8 < 1
    out = []
    for j, s in enumerate(SPECS):
        st = cal.ts_of_date(f"{cal.year}-{s['start']}")
        en = st + s["days"] * DAY - 1
        elig = (signup_ts <= st - MIN_AGE_DAYS * DAY) & ~is_fraud
        sel = elig & (u >= j * ASSIGN_FRACTION) & (u < (j + 1) * ASSIGN_FRACTION)
        exp[sel] = j
        out.append(dict(s, experiment_id=j + 1, start_ts=st, end_ts=en))
    variant = (rng.random(n) < np.array([s["share"] for s in SPECS] + [0.5])[exp]).astype(np.int8)
    st_arr = np.array([o["start_ts"] for o in out] + [0])[exp]
    assigned = st_arr + rng.integers(0, DAY, n)
    p0 = np.array([s["p0"] for s in SPECS] + [0])[exp]
    lift = np.array([s["lift"] for s in SPECS] + [0])[exp]
    p = p0 * np.where(variant == 1, 1 + lift, 1.0) * w
    return exp, variant, assigned, p, out


def windows(specs):
    return (np.array([s["start_ts"] for s in specs] + [0]), np.array([s["end_ts"] for s in specs] + [-1]))


def truth(specs) -> list:
    import datetime as dt
    f = lambda t: (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(t))).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    return [{"experiment_id": s["experiment_id"], "name": s["name"], "kind": s["kind"],
             "metric": "conversion",
             "metric_definition": "share of assigned users with >=1 paid order in [start_ts, end_ts]",
             "start_ts": f(s["start_ts"]), "end_ts": f(s["end_ts"]),
             "control_rate": s["p0"], "true_lift": s["lift"], "true_diff": s["p0"] * s["lift"],
             "planned_treatment_share": 0.5, "treatment_share": s["share"],
             "assign_fraction_of_eligible": ASSIGN_FRACTION,
             "eligibility": f"signed up >= {MIN_AGE_DAYS} days before start_ts, not a fraud account",
             "heterogeneity": "p_i = rate × w_i, w_i = 0.1 + 2.7 × percentile² of the user's order rate (mean 1)"}
            for s in specs]
