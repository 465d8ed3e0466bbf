"""A/B tests and campaign uplift (chapters 3 and 6).

Pure statistics (arrays or aggregates in, numbers out): sample-ratio-mismatch test, lift with
delta-method confidence intervals, CUPED, power / minimum detectable effect. Data functions:
:func:`experiment_results` (experiments + assignments + orders) and :func:`campaign_uplift`.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from ._sql import interval_days, query, require


# ------------------------------------------------------------------ SRM
@dataclass
class SRMResult:
    chi2: float
    p_value: float
    srm: bool
    observed: tuple
    expected: tuple


def srm_test(observed, planned_shares=(0.5, 0.5), alpha: float = 0.001) -> SRMResult:
    """Chi-square goodness of fit of the observed variant counts against the planned split
    (shares normalised to 1); ``srm`` is True when p < ``alpha`` (0.001 by convention)."""
    obs = np.asarray(observed, dtype=float)
    sh = np.asarray(planned_shares, dtype=float)
    if obs.shape != sh.shape:
        raise ValueError("observed and planned_shares need the same length")
    exp = sh / sh.sum() * obs.sum()
    chi2, p = stats.chisquare(obs, exp)
    return SRMResult(float(chi2), float(p), bool(p < alpha), tuple(obs), tuple(exp))


# ------------------------------------------------------------------ lift with delta-method CIs
def lift_ci(mean_t: float, var_t: float, n_t: float, mean_c: float, var_c: float, n_c: float,
            alpha: float = 0.05) -> dict:
    """Difference and relative lift of two independent sample means with (1−alpha) CIs.

    * absolute: Δ = m_t − m_c, SE = sqrt(s²_t/n_t + s²_c/n_c) (Welch, normal approximation);
    * relative: L = m_t/m_c − 1, delta method
      Var(m_t/m_c) ≈ s²_t/(n_t m_c²) + m_t² s²_c/(n_c m_c⁴).
    ``var_*`` are the per-unit sample variances; p_value is the two-sided z-test of Δ = 0."""
    z = stats.norm.ppf(1 - alpha / 2)
    vt, vc = var_t / n_t, var_c / n_c
    diff = mean_t - mean_c
    se = float(np.sqrt(vt + vc))
    out = {"abs_diff": diff, "abs_se": se, "abs_lo": diff - z * se, "abs_hi": diff + z * se,
           "p_value": float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else np.nan}
    if mean_c != 0:
        rel = mean_t / mean_c - 1
        rse = float(np.sqrt(vt / mean_c ** 2 + mean_t ** 2 * vc / mean_c ** 4))
        out.update(rel_lift=rel, rel_se=rse, rel_lo=rel - z * rse, rel_hi=rel + z * rse)
    else:
        out.update(rel_lift=np.nan, rel_se=np.nan, rel_lo=np.nan, rel_hi=np.nan)
    return out


def lift_ci_arrays(y_t, y_c, alpha: float = 0.05) -> dict:
    """:func:`lift_ci` from the per-unit outcomes of treatment and control."""
    y_t, y_c = np.asarray(y_t, float), np.asarray(y_c, float)
    return lift_ci(y_t.mean(), y_t.var(ddof=1), len(y_t), y_c.mean(), y_c.var(ddof=1), len(y_c),
                   alpha)


# ------------------------------------------------------------------ CUPED
@dataclass
class CupedResult:
    theta: float
    y_adjusted: np.ndarray
    variance_reduction: float   # 1 − Var(Y_cuped)/Var(Y) = corr(Y, X)²


def cuped(y, x, theta: float | None = None) -> CupedResult:
    """CUPED (Deng et al. 2013): Y' = Y − θ (X − mean X), θ = cov(Y, X)/var(X) (from the data
    unless given). Reports the variance reduction 1 − Var(Y')/Var(Y)."""
    y, x = np.asarray(y, float), np.asarray(x, float)
    vx = x.var(ddof=1)
    if theta is None:
        theta = float(np.cov(y, x, ddof=1)[0, 1] / vx) if vx > 0 else 0.0
    ya = y - theta * (x - x.mean())
    vy = y.var(ddof=1)
    return CupedResult(theta, ya, float(1 - ya.var(ddof=1) / vy) if vy > 0 else 0.0)


def _moments(n, sy, syy, sx, sxx, sxy):
    my, mx = sy / n, sx / n
    vy = (syy - n * my * my) / (n - 1)
    vx = (sxx - n * mx * mx) / (n - 1)
    cxy = (sxy - n * mx * my) / (n - 1)
    return my, mx, vy, vx, cxy


def cuped_lift_from_sums(t: dict, c: dict, alpha: float = 0.05) -> dict:
    """Plain and CUPED-adjusted lift from sufficient statistics per arm (keys n, sy, syy, sx,
    sxx, sxy: count and sums of y, y², x, x², xy). θ is pooled over both arms; the adjusted arm
    mean is m_y − θ (m_x − pooled m_x) with variance Var(y − θx)/n."""
    myt, mxt, vyt, vxt, cxyt = _moments(**t)
    myc, mxc, vyc, vxc, cxyc = _moments(**c)
    pooled = {k: t[k] + c[k] for k in t}
    _, mxp, vyp, vxp, cxyp = _moments(**pooled)
    theta = cxyp / vxp if vxp > 0 else 0.0
    plain = lift_ci(myt, vyt, t["n"], myc, vyc, c["n"], alpha)
    at = myt - theta * (mxt - mxp)
    ac = myc - theta * (mxc - mxp)
    vat = vyt + theta ** 2 * vxt - 2 * theta * cxyt
    vac = vyc + theta ** 2 * vxc - 2 * theta * cxyc
    adj = lift_ci(at, vat, t["n"], ac, vac, c["n"], alpha)
    vr = 1 - (vat / t["n"] + vac / c["n"]) / (vyt / t["n"] + vyc / c["n"]) if vyt + vyc > 0 else 0.0
    return {"mean_t": myt, "mean_c": myc, **plain, "theta": theta, "variance_reduction": vr,
            **{f"cuped_{k}": v for k, v in adj.items()}}


# ------------------------------------------------------------------ power
def _z(alpha, power):
    return stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)


def mde_proportion(p: float, n_t: float, n_c: float | None = None, alpha: float = 0.05,
                   power: float = 0.8) -> float:
    """Minimum detectable absolute difference for a baseline rate ``p`` with ``n_t``/``n_c``
    users per arm (two-sided, normal approximation, variance p(1−p) in both arms)."""
    n_c = n_t if n_c is None else n_c
    return float(_z(alpha, power) * np.sqrt(p * (1 - p) * (1 / n_t + 1 / n_c)))


def mde_mean(sd: float, n_t: float, n_c: float | None = None, alpha: float = 0.05,
             power: float = 0.8) -> float:
    """Minimum detectable absolute difference of a mean with standard deviation ``sd``."""
    n_c = n_t if n_c is None else n_c
    return float(_z(alpha, power) * sd * np.sqrt(1 / n_t + 1 / n_c))


def sample_size_proportion(p: float, mde: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per arm (equal split) to detect p → p + mde: (z_{1−α/2} + z_power)² ·
    (p(1−p) + (p+mde)(1−p−mde)) / mde²."""
    p2 = p + mde
    return int(np.ceil(_z(alpha, power) ** 2 * (p * (1 - p) + p2 * (1 - p2)) / mde ** 2))


def power_proportion(p: float, mde: float, n_t: float, n_c: float | None = None,
                     alpha: float = 0.05) -> float:
    """Power of the two-sided two-proportion z-test to detect p → p + mde."""
    n_c = n_t if n_c is None else n_c
    p2 = p + mde
    se = np.sqrt(p * (1 - p) / n_c + p2 * (1 - p2) / n_t)
    z = stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.sf(z - abs(mde) / se) + stats.norm.cdf(-z - abs(mde) / se))


# ------------------------------------------------------------------ experiments from the data
def experiment_sums(con: duckdb.DuckDBPyConnection, pre_days: float | None = None) -> pd.DataFrame:
    """Per experiment × variant sufficient statistics (n, sums of y, y², x, x², xy) where, for
    each assigned user, y = 1 if the user has ≥ 1 paid order with start_ts ≤ order_ts ≤ end_ts
    and x = number of paid orders in the pre-period [start_ts − L, start_ts), L = the
    experiment's length (or ``pre_days``)."""
    require(con, "experiments", "assignments", "orders",
            needed_for="the A/B test results (chapter 6)")
    pre = ("(e.end_ts - e.start_ts)" if pre_days is None
           else interval_days(pre_days))
    return query(con, f"""
    WITH a AS (
        SELECT a.experiment_id, a.user_id, a.variant, e.start_ts, e.end_ts,
               e.start_ts - {pre} AS pre_start
        FROM assignments a JOIN experiments e ON e.experiment_id = a.experiment_id
    ), o AS (
        SELECT a.experiment_id, a.user_id,
               (count(*) FILTER (WHERE o.order_ts >= a.start_ts) > 0)::INTEGER AS y,
               count(*) FILTER (WHERE o.order_ts < a.start_ts) AS x
        FROM a JOIN orders o ON o.user_id = a.user_id AND o.status = 'paid'
             AND o.order_ts >= a.pre_start AND o.order_ts <= a.end_ts
        GROUP BY ALL
    ), u AS (
        SELECT a.experiment_id, a.variant, coalesce(o.y, 0)::DOUBLE AS y,
               coalesce(o.x, 0)::DOUBLE AS x
        FROM a LEFT JOIN o ON o.experiment_id = a.experiment_id AND o.user_id = a.user_id
    )
    SELECT experiment_id, variant, count(*) AS n, sum(y) AS sy, sum(y * y) AS syy, sum(x) AS sx,
           sum(x * x) AS sxx, sum(x * y) AS sxy
    FROM u GROUP BY ALL ORDER BY experiment_id, variant""")


def experiment_results(con: duckdb.DuckDBPyConnection, planned_treatment_share=0.5,
                       alpha: float = 0.05, srm_alpha: float = 0.001,
                       pre_days: float | None = None) -> pd.DataFrame:
    """Per experiment: users per variant, SRM chi-square p-value and flag (against
    ``planned_treatment_share`` — a number or {experiment_id: share}), the primary metric per
    variant (share of assigned users with ≥ 1 paid order in [start_ts, end_ts]), the absolute
    difference and relative lift with delta-method (1−alpha) CIs, and the CUPED-adjusted ones
    using the pre-period paid-order count (:func:`experiment_sums`) with the variance reduction."""
    sums = experiment_sums(con, pre_days)
    meta = query(con, "SELECT experiment_id, name, primary_metric, start_ts, end_ts FROM experiments")
    rows = []
    for eid, g in sums.groupby("experiment_id"):
        g = g.set_index("variant")
        if not {"control", "treatment"} <= set(g.index):
            continue
        share = (planned_treatment_share.get(eid, 0.5) if isinstance(planned_treatment_share, dict)
                 else planned_treatment_share)
        nt, nc = int(g.loc["treatment", "n"]), int(g.loc["control", "n"])
        srm = srm_test([nc, nt], [1 - share, share], srm_alpha)
        keys = ["n", "sy", "syy", "sx", "sxx", "sxy"]
        t = {k: float(g.loc["treatment", k]) for k in keys}
        c = {k: float(g.loc["control", k]) for k in keys}
        res = cuped_lift_from_sums(t, c, alpha)
        rows.append({"experiment_id": eid, "n_control": nc, "n_treatment": nt,
                     "treatment_share": nt / (nt + nc), "planned_treatment_share": share,
                     "srm_chi2": srm.chi2, "srm_p": srm.p_value, "srm": srm.srm,
                     "rate_control": res.pop("mean_c"), "rate_treatment": res.pop("mean_t"),
                     **res})
    out = pd.DataFrame(rows)
    if len(out):
        out = meta.merge(out, on="experiment_id", how="right")
    out.attrs.update(alpha=alpha, srm_alpha=srm_alpha)
    return out


# ------------------------------------------------------------------ campaign uplift
def campaign_uplift(con: duckdb.DuckDBPyConnection, min_days: int = 3, alpha: float = 0.05,
                    types=None) -> pd.DataFrame:
    """Uplift of campaigns lasting ≥ ``min_days`` days over a comparable baseline: the same
    number of days immediately before the campaign (same weekdays when the length is a whole
    number of weeks). Units are calendar days [date(start_ts), date(end_ts)]; per day we count
    paid orders, paid GMV and signups over the whole platform. Reported per metric: baseline
    and campaign mean per day, absolute difference and relative lift with delta-method (Welch)
    CIs over days (days treated as independent — a caveat with autocorrelated traffic).
    Overlapping campaigns are not separated: this is the platform-wide uplift while a campaign
    ran, not a causal attribution."""
    require(con, "campaigns", "orders", "users", needed_for="campaign uplift (chapter 3)")
    type_filter = ""
    if types is not None:
        type_filter = "AND type IN (" + ", ".join(f"'{t}'" for t in types) + ")"
    camps = query(con, f"""SELECT campaign_id, name, type, platform, start_ts::DATE AS d0,
                                  end_ts::DATE AS d1, date_diff('day', start_ts::DATE, end_ts::DATE) + 1 AS days
                           FROM campaigns
                           WHERE date_diff('day', start_ts::DATE, end_ts::DATE) + 1 >= {int(min_days)}
                           {type_filter} ORDER BY start_ts""")
    daily = query(con, """
        WITH o AS (SELECT order_ts::DATE AS day, count(*) AS orders, sum(gmv) AS gmv
                   FROM orders WHERE status = 'paid' GROUP BY 1),
             s AS (SELECT signup_ts::DATE AS day, count(*) AS signups FROM users GROUP BY 1),
             b AS (SELECT min(day) AS lo, max(day) AS hi FROM (SELECT day FROM o UNION ALL SELECT day FROM s)),
             d AS (SELECT unnest(generate_series(lo::TIMESTAMP, hi::TIMESTAMP, INTERVAL 1 DAY))::DATE AS day FROM b)
        SELECT d.day, coalesce(o.orders, 0) AS orders, coalesce(o.gmv, 0) AS gmv,
               coalesce(s.signups, 0) AS signups
        FROM d LEFT JOIN o USING (day) LEFT JOIN s USING (day) ORDER BY d.day""")
    daily["day"] = pd.to_datetime(daily["day"])
    daily = daily.set_index("day")
    lo = daily.index.min() if len(daily) else None
    rows = []
    for c in camps.itertuples(index=False):
        d0, d1 = pd.Timestamp(c.d0), pd.Timestamp(c.d1)
        b0, b1 = d0 - pd.Timedelta(days=int(c.days)), d0 - pd.Timedelta(days=1)
        if lo is None or b0 < lo:
            continue
        camp, base = daily.loc[d0:d1], daily.loc[b0:b1]
        if len(camp) < 2 or len(base) < 2:
            continue
        for metric in ("orders", "gmv", "signups"):
            r = lift_ci_arrays(camp[metric].to_numpy(float), base[metric].to_numpy(float), alpha)
            rows.append({"campaign_id": c.campaign_id, "name": c.name, "type": c.type,
                         "platform": c.platform, "start": d0, "end": d1, "days": int(c.days),
                         "metric": metric, "baseline_per_day": float(base[metric].mean()),
                         "campaign_per_day": float(camp[metric].mean()), **r})
    return pd.DataFrame(rows)
