"""A/B experiments in the edition year with planted truths (positive, null, sample-ratio
mismatch).

The treatment acts on the users' own behaviour: a treated user's order rate inside
[start_ts, end_ts] is multiplied by 1 + ``order_rate_lift`` — the extra orders fall inside the
user's active spells, so a lapsed user stays lapsed — and control users behave exactly as
without the experiment. The platform's totals therefore move only by the true effect.
Assigned users join no one else's group buy in the window (± 1 day), so the metric is their
own ordering.

The metric (share of assigned users with ≥ 1 paid order in the window) has, per user, the
expectation 1 − exp(−q·m·(1 + lift·treated)): m = the user's expected orders in the window
(order rate × order seasonality over the active spells, the Poisson mean the order process
uses), q = P(an order ends up paid) = (1 − cancel p) × (1 − E[return p] × P(approved)), with
E[return p] over the category mix of the user's item pool. truth.json averages it over the
assigned users (control rate, treatment rate, difference, relative lift)."""
from __future__ import annotations

import numpy as np

from ..contract import CATEGORIES
from . import params as P
from .calendar import DAY

SPECS = [
    dict(name="新人券面额提升", kind="positive", start="03-03", days=28, lift=0.50, share=0.5,
         hypothesis="把新人券面额从10元提到15元，会提高老用户在活动期内的下单转化"),
    dict(name="分享海报改版", kind="null", start="05-05", days=28, lift=0.0, share=0.5,
         hypothesis="新版分享海报会提高用户在活动期内的下单转化"),
    dict(name="拼团入口前置", kind="srm", start="09-08", days=28, lift=0.0, share=0.56,
         hypothesis="把拼团入口放到首页首屏会提高下单转化（分流实现有缺陷：实验组占比偏高）"),
]
ASSIGN_FRACTION = 0.3      # of eligible users, disjoint across experiments
MIN_AGE_DAYS = 30


def build(rng, cal, signup_ts, is_fraud):
    """Per user: experiment index (-1 = none), variant (1 = treatment), assigned_ts; and specs."""
    n = len(signup_ts)
    exp = np.full(n, -1, dtype=np.int64)
    u = rng.random(n)
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
    return exp, variant, assigned, out


def windows(specs):
    return (np.array([s["start_ts"] for s in specs] + [0]), np.array([s["end_ts"] for s in specs] + [-1]))


def _approve_p() -> float:
    """P(a return request is approved): the no-reason share applies to requests within 7 days
    of delivery (request delay = 600 s + Exponential(RETURN_DELAY_DAYS))."""
    within7 = 1 - np.exp(-(7 * DAY - 600) / (P.RETURN_DELAY_DAYS * DAY))
    p_nr = P.NO_REASON_SHARE_WITHIN_7D * within7
    other = sum(P.OTHER_REASONS[k] * P.APPROVE_P[k] for k in P.OTHER_REASONS)
    return float(p_nr * P.APPROVE_P["no_reason_7d"] + (1 - p_nr) * other)


def paid_p(catalog, pools, rows) -> np.ndarray:
    """P(an order of the user ends up paid), for ``rows`` of the chunk's item pools."""
    items, cdf = pools[0][rows], pools[1][rows]
    w = np.diff(cdf, axis=1, prepend=0.0)
    rp = np.array([P.RETURN_P[c] for c in CATEGORIES])[catalog.category[items]]
    return (1 - P.CANCEL_P) * (1 - (w * rp).sum(axis=1) * _approve_p())


def chunk(rng, cal, U, sl, spells, exp, catalog, pools):
    """Extra orders of treated users (user row in the chunk, ts) and per experiment × variant
    sums [n, Σ P(y=1 | control), Σ P(y=1 | treatment)] of the chunk's assigned users."""
    su, sa, sb = spells
    e_idx, variant, rate = U["exp"][sl], U["variant"][sl], U["rate"][sl]
    lift = exp["lift"]
    ne = len(lift) - 1
    sums = np.zeros((ne, 2, 3))
    # each spell's overlap with its user's experiment window (end_ts inclusive)
    e = e_idx[su]
    a = np.maximum(sa, exp["start"][e])
    b = np.minimum(sb, exp["end"][e] + 1)
    ok = (e >= 0) & (b > a)
    su, a, b, e = su[ok], a[ok], b[ok], e[ok]
    mu = rate[su] * (cal.order_cum(b) - cal.order_cum(a)) / (30 * 24)
    # extra orders: Poisson(lift × mu) on top of Poisson(mu) gives Poisson((1 + lift) × mu)
    treated = variant[su] == 1
    k = rng.poisson(np.where(treated, lift[e], 0.0) * mu)
    xu = np.repeat(su, k)
    xts = cal.sample_order_times(rng, np.repeat(a, k), np.repeat(b, k))
    # truth: expectation of the metric per assigned user
    asg = np.flatnonzero(e_idx >= 0)
    if len(asg):
        m = np.bincount(su, weights=mu, minlength=len(e_idx))[asg]
        qm = paid_p(catalog, pools, asg) * m
        ea = e_idx[asg]
        pc, pt = 1 - np.exp(-qm), 1 - np.exp(-qm * (1 + lift[ea]))
        for j in range(ne):
            for v in (0, 1):
                s = (ea == j) & (variant[asg] == v)
                sums[j, v] = (s.sum(), pc[s].sum(), pt[s].sum())
    return xu, xts, sums


def truth(specs, sums) -> list:
    """``sums``: [experiment, variant, (n, Σ P(y=1 | control), Σ P(y=1 | treatment))]."""
    import datetime as dt
    f = lambda t: (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(t))).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    out = []
    for j, s in enumerate(specs):
        n, sc, st = sums[j].sum(axis=0)
        c_rate, t_rate = (sc / n, st / n) if n else (0.0, 0.0)
        out.append({
            "experiment_id": s["experiment_id"], "name": s["name"], "kind": s["kind"],
            "metric": "conversion",
            "metric_definition": "share of assigned users with >=1 paid order in [start_ts, end_ts]",
            "start_ts": f(s["start_ts"]), "end_ts": f(s["end_ts"]),
            "order_rate_lift": s["lift"],
            "control_rate": round(float(c_rate), 6), "treatment_rate": round(float(t_rate), 6),
            "true_diff": round(float(t_rate - c_rate), 6),
            "true_lift": round(float(t_rate / c_rate - 1), 6) if c_rate else 0.0,
            "assigned": {"control": int(sums[j, 0, 0]), "treatment": int(sums[j, 1, 0])},
            "planned_treatment_share": 0.5, "treatment_share": s["share"],
            "assign_fraction_of_eligible": ASSIGN_FRACTION,
            "eligibility": f"signed up >= {MIN_AGE_DAYS} days before start_ts, not a fraud account",
            "effect": ("treatment multiplies the user's order rate inside the window by 1 + "
                       "order_rate_lift (extra orders only inside the user's active spells); "
                       "control users are untouched"),
            "truth_definition": ("averages over all assigned users of E[y] = 1 - exp(-q*m) (control) "
                                 "and 1 - exp(-q*m*(1+order_rate_lift)) (treatment): m = expected "
                                 "orders in the window, q = P(order ends up paid); true_diff = "
                                 "treatment_rate - control_rate, true_lift = treatment_rate / "
                                 "control_rate - 1")})
    return out
