"""A/B tests and campaign uplift (chapters 3 and 6).

Pure statistics (arrays or aggregates in, numbers out): sample-ratio-mismatch test, lift with
delta-method confidence intervals, CUPED, power / minimum detectable effect, and the
comparisons every published change goes through (:func:`change_ci`, :func:`proportion_change`,
:func:`count_change`, :func:`ratio_change` clustered, :func:`significant_leader`,
:func:`homogeneity`). Data functions: :func:`experiment_results` (experiments + assignments +
orders), :func:`campaign_uplift` (a daily model with placebo-calibrated intervals) and its
check :func:`uplift_placebo_rate`.
"""
from __future__ import annotations

import warnings
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


# ------------------------------------------------------------------ comparisons with intervals
# Every change or gap the report publishes comes with its (1 − alpha) interval, p-value and a
# ``significant`` flag from one of these; rankings go through :func:`significant_leader`.
def _verdict(change: float, se: float, alpha: float, **extra) -> dict:
    z = stats.norm.ppf(1 - alpha / 2)
    ok = np.isfinite(se) and se > 0
    p = float(2 * stats.norm.sf(abs(change) / se)) if ok else np.nan
    return {**extra, "change": change, "se": se if ok else np.nan,
            "ci_lo": change - z * se if ok else np.nan, "ci_hi": change + z * se if ok else np.nan,
            "p_value": p, "significant": bool(ok and p < alpha)}


def change_ci(value: float, se: float, prev: float, se_prev: float, alpha: float = 0.05) -> dict:
    """Change ``value − prev`` of two independent estimates with standard errors: value, prev,
    change, se, ci_lo, ci_hi (normal), p_value (two-sided z-test of no change), significant."""
    return _verdict(float(value - prev), float(np.hypot(se, se_prev)), alpha,
                    value=float(value), prev=float(prev))


def proportion_change(x: float, n: float, x_prev: float, n_prev: float,
                      alpha: float = 0.05) -> dict:
    """Change of a share between two independent groups (x of n against x_prev of n_prev), in
    proportion points: the Newcombe score interval and the score test (statsmodels), which stay
    sensible for small counts and shares near 0 or 1."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep
    p1, p0 = x / n if n else np.nan, x_prev / n_prev if n_prev else np.nan
    if not (n and n_prev):
        return {"value": p1, "prev": p0, "change": p1 - p0, "se": np.nan, "ci_lo": np.nan,
                "ci_hi": np.nan, "p_value": np.nan, "significant": False}
    lo, hi = confint_proportions_2indep(x, n, x_prev, n_prev, compare="diff", method="newcomb",
                                        alpha=alpha)
    p = float(test_proportions_2indep(x, n, x_prev, n_prev, compare="diff", method="score").pvalue)
    se = np.sqrt(p1 * (1 - p1) / n + p0 * (1 - p0) / n_prev)
    return {"value": p1, "prev": p0, "change": p1 - p0, "se": float(se), "ci_lo": float(lo),
            "ci_hi": float(hi), "p_value": p, "significant": bool(p < alpha)}


def count_change(count: float, count_prev: float, exposure: float = 1.0,
                 exposure_prev: float = 1.0, alpha: float = 0.05) -> dict:
    """Relative change of an event count (new users, buyers …) against the previous period,
    the counts read as Poisson draws of a rate per ``exposure``: value, prev (rates), change
    (rate ratio − 1) with the statsmodels interval and test of equal rates. A count over a whole
    population is not a sample, so this interval is the year-to-year noise of the rate only."""
    from statsmodels.stats.rates import confint_poisson_2indep, test_poisson_2indep
    r1, r0 = count / exposure, count_prev / exposure_prev
    if not (count_prev > 0 and count > 0):
        return {"value": r1, "prev": r0, "change": r1 / r0 - 1 if r0 else np.nan, "se": np.nan,
                "ci_lo": np.nan, "ci_hi": np.nan, "p_value": np.nan, "significant": False}
    lo, hi = confint_poisson_2indep(count, exposure, count_prev, exposure_prev, compare="ratio",
                                    alpha=alpha)
    p = float(test_poisson_2indep(count, exposure, count_prev, exposure_prev,
                                  compare="ratio").pvalue)
    return {"value": r1, "prev": r0, "change": r1 / r0 - 1,
            "se": float(np.sqrt(1 / count + 1 / count_prev) * r1 / r0),
            "ci_lo": float(lo - 1), "ci_hi": float(hi - 1), "p_value": p,
            "significant": bool(p < alpha)}


def ratio_of_sums(y, x) -> tuple[float, float]:
    """R = Σy / Σx over clusters (users, trees …) and its standard error by linearisation,
    Var(R) ≈ n/(n−1) · Σ(yᵢ − R xᵢ)² / (Σx)² (Cochran 1977, §6.3). Written here because rates
    such as month-on-month retention count the same user in many months: treating person-months
    as independent would understate the error, and no library gives the clustered ratio."""
    y, x = np.asarray(y, float), np.asarray(x, float)
    n, sx = len(y), x.sum()
    if n < 2 or sx == 0:
        return (y.sum() / sx if sx else np.nan), np.nan
    r = y.sum() / sx
    return float(r), float(np.sqrt(n / (n - 1) * np.sum((y - r * x) ** 2)) / sx)


def ratio_from_sums(n: int, sy: float, sx: float, ss: float | None) -> tuple[float, float]:
    """:func:`ratio_of_sums` from what a database can aggregate: ``n`` clusters, Σy, Σx and
    ``ss`` = Σ(yᵢ − R xᵢ)² with R = Σy / Σx (None when Σx = 0) — so per-cluster rows need not
    leave the database (the online A/B of chapter 5 has a row per exposed user)."""
    if n < 2 or sx == 0:
        return (sy / sx if sx else np.nan), np.nan
    return float(sy / sx), float(np.sqrt(n / (n - 1) * ss) / sx)


def ratio_change(y, x, y_prev, x_prev, alpha: float = 0.05) -> dict:
    """Change of a ratio of sums (:func:`ratio_of_sums`) between two periods. The four arrays
    are aligned by cluster (a user with no activity in a period has zeros there), so a cluster
    present in both periods contributes its covariance: Var(R₁ − R₀) from the linearised
    differences dᵢ = (y₁ᵢ − R₁x₁ᵢ)/Σx₁ − (y₀ᵢ − R₀x₀ᵢ)/Σx₀. Independent groups are the same
    arrays padded with zeros (no cluster in both periods: the two variances add up)."""
    y, x = np.asarray(y, float), np.asarray(x, float)
    y0, x0 = np.asarray(y_prev, float), np.asarray(x_prev, float)
    if not (len(y) == len(x) == len(y0) == len(x0)):
        raise ValueError("ratio_change needs four arrays aligned by cluster (equal lengths)")
    (r1, se1), (r0, se0) = ratio_of_sums(y, x), ratio_of_sums(y0, x0)
    here, there = (y != 0) | (x != 0), (y0 != 0) | (x0 != 0)
    if not (here & there).any():           # no cluster in both: independent groups
        a, b = ratio_of_sums(y[here], x[here]), ratio_of_sums(y0[there], x0[there])
        se = float(np.hypot(a[1], b[1]))
    elif len(y) < 2 or not (x.sum() and x0.sum()):
        se = np.nan
    else:
        n = len(y)
        d = (y - r1 * x) / x.sum() - (y0 - r0 * x0) / x0.sum()
        se = float(np.sqrt(n / (n - 1) * np.sum(d ** 2)))
    return _verdict(float(r1 - r0), se, alpha, value=float(r1), prev=float(r0))


def significant_leader(estimates, ses, names=None, largest: bool = True,
                       alpha: float = 0.05) -> dict:
    """Which group leads (largest, or smallest with ``largest=False``) and whether it leads
    significantly: the z-test of its gap to the runner-up (independent estimates). ``leader``
    is the group's name when the gap is significant, else None — then no ranking may be
    published. Also: top (the group on top either way), runner_up, gap, its interval, p."""
    est = np.asarray(estimates, float)
    se = np.asarray(ses, float)
    names = list(range(len(est))) if names is None else list(names)
    ok = np.isfinite(est)
    if ok.sum() < 2:
        raise ValueError("significant_leader needs at least two finite estimates")
    order = [i for i in np.argsort(-est if largest else est, kind="stable") if ok[i]]
    a, b = order[0], order[1]
    v = _verdict(float(abs(est[a] - est[b])), float(np.hypot(se[a], se[b])), alpha)
    return {"leader": names[a] if v["significant"] else None, "top": names[a],
            "runner_up": names[b], "gap": v["change"], "gap_lo": v["ci_lo"],
            "gap_hi": v["ci_hi"], "p_value": v["p_value"], "significant": v["significant"]}


def homogeneity(estimates, ses, alpha: float = 0.05) -> dict:
    """Cochran's Q test that groups (months, mechanisms …) share one value (statsmodels'
    ``combine_effects``): q, df, p_value, differ (p < alpha). When they do not differ, the
    highest and lowest group are noise and must not be named as such."""
    from statsmodels.stats.meta_analysis import combine_effects
    est, se = np.asarray(estimates, float), np.asarray(ses, float)
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
    if ok.sum() < 2:
        return {"q": np.nan, "df": 0, "p_value": np.nan, "differ": False}
    t = combine_effects(est[ok], se[ok] ** 2).test_homogeneity()
    return {"q": float(t.statistic), "df": int(t.df), "p_value": float(t.pvalue),
            "differ": bool(t.pvalue < alpha)}


# ------------------------------------------------------------------ campaign uplift
# Real 春节 (正月初一) dates: the festival moves with the lunar calendar.
SPRING_FESTIVAL = {2018: "2018-02-16", 2019: "2019-02-05", 2020: "2020-01-25",
                   2021: "2021-02-12", 2022: "2022-02-01", 2023: "2023-01-22",
                   2024: "2024-02-10", 2025: "2025-01-29", 2026: "2026-02-17",
                   2027: "2027-02-06", 2028: "2028-01-26", 2029: "2029-02-13",
                   2030: "2030-02-03"}
UPLIFT_METRICS = ("orders", "gmv", "signups")
MIN_PROFILE_WINDOWS = 10     # fewer campaigns of a type: a flat within-campaign profile
PLACEBO_BAND = 1.5           # placebo windows of length L/1.5 … 1.5·L calibrate a window of L days
MIN_PLACEBOS = 80            # fewer placebo windows: no calibrated interval
MIN_DF_RESID = 60            # fewer spare days than this: the model is not fitted


def shopping_calendar(days) -> pd.DataFrame:
    """0/1 indicators per day of the public Chinese shopping calendar: 春节 (the week before,
    the festival week, the week after), the 618 and 双11 warm-ups (06-01…06-15, 10-25…11-09),
    each of their peak days (06-16…06-18, 11-10…11-12) and 双12. :func:`campaign_uplift` uses
    them as regressors, so a campaign that overlaps a festival is not credited with it."""
    days = pd.DatetimeIndex(days)
    md = days.strftime("%m-%d")
    cols = {}
    off = np.full(len(days), 10_000)
    for y in sorted(set(days.year) | {days.year.min() + 1}):
        if y not in SPRING_FESTIVAL:
            raise ValueError(f"shopping_calendar: no Spring Festival date for {y}; add it to "
                             "fission.metrics.experiments.SPRING_FESTIVAL")
        o = (days - pd.Timestamp(SPRING_FESTIVAL[y])).days.to_numpy()
        near = np.abs(o) < np.abs(off)
        off[near] = o[near]
    cols["spring_festival_pre"] = (off >= -7) & (off <= -1)
    cols["spring_festival"] = (off >= 0) & (off <= 6)
    cols["spring_festival_post"] = (off >= 7) & (off <= 14)
    cols["618_warmup"] = (md >= "06-01") & (md <= "06-15")
    cols["double11_warmup"] = (md >= "10-25") & (md <= "11-09")
    for d in ("06-16", "06-17", "06-18", "11-10", "11-11", "11-12", "12-12"):
        cols[d] = md == d
    return pd.DataFrame(cols, index=days).astype(float)


def campaign_daily(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per observed calendar day (from the data start — see :func:`fission.metrics._sql.data_start`
    — or the first order or signup, to the data end): paid orders, paid GMV and signups over
    the whole platform."""
    require(con, "orders", "users", needed_for="campaign uplift (chapter 3)")
    from ._sql import data_end, data_start
    ds = data_start(con)
    lo = (f"DATE '{ds:%Y-%m-%d}'" if ds is not None else
          "(SELECT least(min(order_ts), (SELECT min(signup_ts) FROM users))::DATE FROM orders)")
    hi = f"DATE '{data_end(con):%Y-%m-%d}'"
    daily = query(con, f"""
        WITH o AS (SELECT order_ts::DATE AS day, count(*) AS orders, sum(gmv::DECIMAL(38, 4)) AS gmv
                   FROM orders WHERE status = 'paid' GROUP BY 1),
             s AS (SELECT signup_ts::DATE AS day, count(*) AS signups FROM users GROUP BY 1),
             d AS (SELECT p::DATE AS day FROM (SELECT unnest(generate_series(
                       {lo}::TIMESTAMP, {hi}::TIMESTAMP, INTERVAL 1 DAY)) AS p))
        SELECT d.day, coalesce(o.orders, 0) AS orders, coalesce(o.gmv, 0) AS gmv,
               coalesce(s.signups, 0) AS signups
        FROM d LEFT JOIN o USING (day) LEFT JOIN s USING (day) ORDER BY d.day""")
    daily["day"] = pd.to_datetime(daily["day"])
    return daily.set_index("day").astype(float)


def _trend_basis(n: int, days_per_knot: float = 30.0) -> np.ndarray:
    """Cubic B-spline basis over the days (one interior knot a month): the slow trend and
    season. It sums to 1 per day, so it also carries the intercept."""
    from scipy.interpolate import BSpline
    x = np.arange(n, dtype=float)
    inner = np.linspace(0, n - 1, max(2, int(round(n / days_per_knot)) + 1))
    knots = np.r_[[0.0] * 3, inner, [float(n - 1)] * 3]
    return BSpline.design_matrix(x, knots, 3).toarray()


def _profiles(y, base, wins) -> dict:
    """Per campaign type, the average extra metric on day k of a campaign (a burst after launch
    is typical): shared day-offset dummies over all windows of the type, fitted together with
    the baseline and the other types' flat windows; negative days clipped to 0. Types with
    fewer than MIN_PROFILE_WINDOWS windows get a flat profile; no day gets less than a tenth
    of the peak."""
    out = {}
    D = len(y)
    flat = {t: np.zeros(D) for t in wins["type"].unique()}
    for w in wins.itertuples():
        flat[w.type][w.a:w.b + 1] += 1
    for t, g in wins.groupby("type"):
        K = int((g["b"] - g["a"]).max()) + 1
        if len(g) < MIN_PROFILE_WINDOWS:
            out[t] = np.ones(K)
            continue
        Z = np.zeros((D, K))
        for w in g.itertuples():
            Z[np.arange(w.a, w.b + 1), np.arange(w.b - w.a + 1)] += 1
        others = [flat[o] for o in flat if o != t]
        X = np.column_stack([base, *others, Z])
        coef = np.clip(np.linalg.lstsq(X, y, rcond=None)[0][-K:], 0, None)
        # a floor keeps every day of a window in its term: a one-day term could coincide with
        # a calendar day (11-11) and leave the campaign unidentified
        out[t] = np.maximum(coef, 0.1 * coef.max()) if coef.max() > 0 else np.ones(K)
    return out


def _window_column(profile, a, b, D) -> np.ndarray:
    w = np.asarray(profile[: b - a + 1], float)
    w = w / w.mean() if w.mean() > 0 else np.ones(b - a + 1)
    col = np.zeros(D)
    col[a:b + 1] = w       # mean 1 over the window: the coefficient is the extra per day
    return col


def uplift_model(y, days, windows: pd.DataFrame, nuisance=None, events=None,
                 alpha: float = 0.05) -> pd.DataFrame:
    """The campaign-uplift model on one daily series ``y`` (pure arrays; used by
    :func:`campaign_uplift`, documented there). ``windows``: one row per campaign window with
    type, a, b (first and last day index). Returns per window: beta (extra per day), se, t,
    obs_per_day, crit, p_value, placebos; attrs hold the placebo t-statistics."""
    import statsmodels.api as sm
    y = np.asarray(y, float)
    D = len(y)
    days = pd.DatetimeIndex(days)
    wd = pd.get_dummies(days.dayofweek).reindex(columns=range(7), fill_value=0).to_numpy(float)[:, 1:]
    ev = shopping_calendar(days) if events is None else pd.DataFrame(events, index=days)
    ev = ev.loc[:, ev.std() > 0].to_numpy(float)
    parts = [_trend_basis(D), wd, ev]
    if nuisance is not None and np.size(nuisance):
        parts.append(np.asarray(nuisance, float).reshape(D, -1))
    base = np.column_stack(parts)
    wins = windows.reset_index(drop=True)
    prof = _profiles(y, base, wins) if len(wins) else {}
    W = (np.column_stack([_window_column(prof[w.type], w.a, w.b, D) for w in wins.itertuples()])
         if len(wins) else np.zeros((D, 0)))
    X = np.column_stack([base, W])
    if D - np.linalg.matrix_rank(X) < MIN_DF_RESID:     # too few days for the model
        out = pd.DataFrame({"beta": np.nan, "se": np.nan, "t": np.nan,
                            "obs_per_day": [y[w.a:w.b + 1].mean() for w in wins.itertuples()],
                            "crit": np.nan, "p_value": np.nan, "placebos": 0})
        out.attrs.update(placebo_t=np.zeros(0), profiles=prof)
        return out
    with warnings.catch_warnings():
        # pinv handles a window no day separates from another term; its se is then NaN/huge
        warnings.simplefilter("ignore")
        # daily counts vary more on busy days (variance ∝ level, as for Poisson counts), and
        # campaigns cluster on busy days: weighted least squares with weights 1 / fitted level
        level = sm.OLS(y, X).fit().fittedvalues
        sw = 1 / np.sqrt(np.clip(level, max(np.median(level) * 0.05, 1e-9), None))
        fit = sm.WLS(y, X, weights=sw ** 2).fit()
    nb = base.shape[1]
    beta, se = fit.params[nb:], fit.bse[nb:]
    # Placebo windows: every window of a similar length (L/1.5 … 1.5·L) that overlaps no
    # campaign. Their t-statistics, had each been added to the model, give the null
    # distribution the campaign's t is compared with (autocorrelation and heavy tails that the
    # OLS error ignores grow with the window length, hence per length). Frisch–Waugh:
    # t = (M x)'e / (σ‖M x‖) with M the residual maker of X, for all placebos at once.
    busy = (W != 0).any(axis=1)
    wl = (wins["b"] - wins["a"] + 1).astype(int).to_numpy() if len(wins) else np.zeros(0, int)
    band = lambda L: (int(np.ceil(L / PLACEBO_BAND)), int(np.floor(L * PLACEBO_BAND)))
    lengths = sorted({k for L in set(wl) for k in range(band(L)[0], band(L)[1] + 1)})
    starts = [(s, L) for L in lengths for s in range(0, D - L + 1) if not busy[s:s + L].any()]
    P = np.zeros((D, len(starts)))
    for i, (s, L) in enumerate(starts):
        P[s:s + L, i] = 1.0
    Xw, Pw = X * sw[:, None], P * sw[:, None]          # the weighted problem as plain OLS
    MP = Pw - Xw @ (np.linalg.pinv(Xw) @ Pw)
    nrm = np.sqrt((MP ** 2).sum(axis=0))
    good = nrm > 1e-9
    tp = np.full(len(starts), np.nan)
    tp[good] = (MP[:, good].T @ (fit.resid * sw)) / (np.sqrt(fit.scale) * nrm[good])
    pl = np.array([L for _, L in starts], dtype=int)
    t = beta / np.where(se > 0, se, np.nan)
    crit, p, npl = np.full(len(wl), np.nan), np.full(len(wl), np.nan), np.zeros(len(wl), int)
    need = max(MIN_PLACEBOS, int(np.ceil(4 / alpha)))
    for L in set(wl):
        lo, hi = band(L)
        absd = np.sort(np.abs(tp[(pl >= lo) & (pl <= hi) & np.isfinite(tp)]))
        j = wl == L
        npl[j] = len(absd)
        if len(absd) >= need:            # else too few quiet days to calibrate: no interval
            crit[j] = np.quantile(absd, 1 - alpha, method="higher")
            p[j] = (1 + len(absd) - np.searchsorted(absd, np.abs(t[j]), side="left")) / (len(absd) + 1)
    out = pd.DataFrame({"beta": beta, "se": se, "t": t,
                        "obs_per_day": [y[w.a:w.b + 1].mean() for w in wins.itertuples()],
                        "crit": crit, "p_value": np.where(np.isfinite(t), p, np.nan),
                        "placebos": npl})
    out.attrs.update(placebo_t=tp, profiles=prof)
    return out


def campaign_uplift(con: duckdb.DuckDBPyConnection, min_days: int = 3, alpha: float = 0.05,
                    types=None, max_days: int = 21, metrics=UPLIFT_METRICS,
                    campaigns: pd.DataFrame | None = None, events=None) -> pd.DataFrame:
    """Platform-wide daily uplift of each campaign lasting ``min_days``…``max_days`` calendar
    days [date(start_ts), date(end_ts)], per metric (paid orders, paid GMV, signups per day;
    :func:`campaign_daily`), with an interval calibrated by placebo windows.

    Model (least squares on the observed days, weighted by 1 / the fitted level because busy
    days vary more): metric_t = trend (monthly cubic spline) + weekday
    + shopping calendar (:func:`shopping_calendar`; ``events`` replaces it) + the number of
    campaigns shorter than ``min_days`` running that day, per type (live sessions) + one term
    per campaign window, β·w_k on its k-th day. w is the type's average burst profile
    (campaign traffic peaks after launch) scaled to mean 1, so β is the campaign's extra per
    day. Overlapping campaigns are separated by the model instead of being credited with each
    other's traffic; campaigns sharing the same window are one term (the same estimate).
    Campaigns longer than ``max_days`` (always-on monthly programmes) cannot be separated from
    the trend: they are listed with ``estimable = False`` and no estimate.

    Interval: β ± c·se, where c is the (1 − alpha) quantile of |t| over placebo windows (every
    window of L/1.5 … 1.5·L days that overlaps no campaign); p_value is the share of placebo
    |t| at least the campaign's. With fewer than MIN_PLACEBOS such windows there is no interval
    (NaN, not significant). Days are autocorrelated and heavy-tailed, so the plain OLS
    interval is too narrow; the placebo calibration holds the false-positive rate of an
    ineffective campaign at alpha (measured by :func:`uplift_placebo_rate`).

    Columns per campaign × metric: campaign_id, name, type, platform, start, end, days, metric,
    estimable, campaign_per_day (observed), baseline_per_day (observed − β: the counterfactual),
    abs_diff (β), abs_se, abs_lo, abs_hi, rel_lift (β / baseline), rel_se, rel_lo, rel_hi,
    p_value, significant, crit, placebos. Only ``types`` (default all) are returned; every
    campaign is modelled. Still the platform-wide effect while the campaign ran — a causal
    effect only as far as the model's baseline holds."""
    require(con, "orders", "users", needed_for="campaign uplift (chapter 3)")
    if campaigns is None:
        require(con, "campaigns", needed_for="campaign uplift (chapter 3)")
        campaigns = query(con, "SELECT campaign_id, name, type, platform, start_ts, end_ts FROM campaigns")
    bad = [m for m in metrics if m not in UPLIFT_METRICS]
    if bad:
        raise ValueError(f"metrics must be among {UPLIFT_METRICS}, got {bad}")
    daily = campaign_daily(con)
    day0, D = daily.index[0], len(daily)
    c = campaigns.copy()
    c["start"] = pd.to_datetime(c["start_ts"]).dt.normalize()
    c["end"] = pd.to_datetime(c["end_ts"]).dt.normalize()
    c["days"] = (c["end"] - c["start"]).dt.days + 1
    c["a"] = (c["start"] - day0).dt.days
    c["b"] = (c["end"] - day0).dt.days
    inside = (c["a"] >= 0) & (c["b"] < D)
    short = c[(c["days"] < min_days) & (c["b"] >= 0) & (c["a"] < D)]
    nuis = []
    for _, g in short.groupby("type"):
        n = np.zeros(D)
        for r in g.itertuples():
            n[max(r.a, 0):min(r.b, D - 1) + 1] += 1
        nuis.append(n)
    modelled = c[inside & (c["days"] >= min_days) & (c["days"] <= max_days)]
    wins = modelled[["type", "a", "b"]].drop_duplicates().reset_index(drop=True)
    report = c[(c["days"] >= min_days) & inside]
    if types is not None:
        report = report[report["type"].isin(list(types))]
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for metric in metrics:
        res = uplift_model(daily[metric].to_numpy(), daily.index, wins,
                           np.column_stack(nuis) if nuis else None, events, alpha)
        res = pd.concat([wins, res], axis=1)
        m = report.merge(res, on=["type", "a", "b"], how="left")
        est = m["beta"].notna() & (m["days"] <= max_days) & (m["se"] > 0)
        base = m["obs_per_day"] - m["beta"]
        half = m["crit"] * m["se"]
        out = pd.DataFrame({
            "campaign_id": m["campaign_id"], "name": m["name"], "type": m["type"],
            "platform": m["platform"], "start": m["start"], "end": m["end"],
            "days": m["days"].astype(int), "metric": metric, "estimable": est,
            "baseline_per_day": base.where(est), "campaign_per_day": m["obs_per_day"].where(est),
            "abs_diff": m["beta"].where(est), "abs_se": m["se"].where(est),
            "abs_lo": (m["beta"] - half).where(est), "abs_hi": (m["beta"] + half).where(est),
            "rel_lift": (m["beta"] / base).where(est), "rel_se": (m["se"] / base).where(est),
            "rel_lo": ((m["beta"] - half) / base).where(est),
            "rel_hi": ((m["beta"] + half) / base).where(est),
            "p_value": m["p_value"].where(est), "crit": m["crit"].where(est),
            "placebos": m["placebos"].where(est)})
        out["significant"] = (out["abs_lo"] > 0) | (out["abs_hi"] < 0)
        rows.append(out)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    out = out.sort_values(["start", "campaign_id", "metric"], kind="stable", ignore_index=True)
    out.attrs.update(alpha=alpha, min_days=min_days, max_days=max_days, normal_z=z)
    return out


def uplift_placebo_rate(con: duckdb.DuckDBPyConnection, metric: str = "signups",
                        n_windows: int = 240, lengths=range(3, 9), per_round: int = 30,
                        seed: int = 0, alpha: float = 0.05, **kwargs) -> dict:
    """False-positive rate of :func:`campaign_uplift`'s interval, measured end to end: fake
    campaigns (type ``'placebo'``, lengths drawn from ``lengths``) are planted in rounds of up to
    ``per_round`` non-overlapping windows on days no real campaign covers, and the share that
    comes out significant is counted. Being campaigns, the fakes are left out of the
    calibration, so this is an out-of-sample check. Returns windows, false_positives, rate,
    and the planted table (``windows_table``)."""
    require(con, "campaigns", needed_for="the campaign-uplift placebo check")
    camps = query(con, "SELECT campaign_id, name, type, platform, start_ts, end_ts FROM campaigns")
    daily = campaign_daily(con)
    day0, D = daily.index[0], len(daily)
    min_days = kwargs.get("min_days", 3)
    max_days = kwargs.get("max_days", 21)
    s = pd.to_datetime(camps["start_ts"]).dt.normalize()
    e = pd.to_datetime(camps["end_ts"]).dt.normalize()
    length = (e - s).dt.days + 1
    busy = np.zeros(D, bool)
    for a, b in zip((s - day0).dt.days[(length >= min_days) & (length <= max_days)],
                    (e - day0).dt.days[(length >= min_days) & (length <= max_days)]):
        busy[max(a, 0):min(b, D - 1) + 1] = True
    rng = np.random.default_rng(seed)
    lengths = list(lengths)
    found, tables = 0, []
    next_id = int(camps["campaign_id"].max()) + 1
    for _ in range(200):
        if found >= n_windows:
            break
        taken = busy.copy()
        fakes = []
        for s0 in rng.permutation(D):
            L = int(rng.choice(lengths))
            if len(fakes) >= per_round or s0 + L > D or taken[s0:s0 + L].any():
                continue
            taken[max(s0 - 1, 0):s0 + L + 1] = True      # a day apart from each other
            fakes.append((next_id, s0, L))
            next_id += 1
        if not fakes:
            break
        f = pd.DataFrame({"campaign_id": [i for i, _, _ in fakes], "name": "placebo",
                          "type": "placebo", "platform": "none",
                          "start_ts": [day0 + pd.Timedelta(days=s0) for _, s0, _ in fakes],
                          "end_ts": [day0 + pd.Timedelta(days=s0 + L - 1, hours=23)
                                     for _, s0, L in fakes]})
        res = campaign_uplift(con, alpha=alpha, types=["placebo"], metrics=(metric,),
                              campaigns=pd.concat([camps, f], ignore_index=True), **kwargs)
        tables.append(res)
        found += len(res)
    tab = pd.concat(tables, ignore_index=True).head(n_windows) if tables else pd.DataFrame()
    fp = int(tab["significant"].sum()) if len(tab) else 0
    return {"windows": len(tab), "false_positives": fp,
            "rate": fp / len(tab) if len(tab) else np.nan, "windows_table": tab}
