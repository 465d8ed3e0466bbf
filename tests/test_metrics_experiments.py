import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fission.metrics.experiments import (change_ci, count_change, cuped, cuped_lift_from_sums,
                                         experiment_results, homogeneity, lift_ci,
                                         lift_ci_arrays, mde_mean, mde_proportion,
                                         power_proportion, proportion_change, ratio_change,
                                         ratio_of_sums, sample_size_proportion,
                                         significant_leader, srm_test)
from metrics_fixtures import make_con, orders_df, users_df


def test_srm():
    ok = srm_test([5000, 5000])
    assert ok.chi2 == 0 and ok.p_value == 1 and not ok.srm
    bad = srm_test([5300, 4700])
    # chi2 = 300²/5000 · 2 = 36, p = P(χ²₁ > 36) ≈ 1.97e-9
    assert bad.chi2 == pytest.approx(36.0)
    assert bad.p_value == pytest.approx(stats.chi2.sf(36, 1)) and bad.srm
    # planned 90/10 split matches 9000/1000
    assert not srm_test([9000, 1000], [0.9, 0.1]).srm


def test_lift_ci_formula_and_coverage():
    r = lift_ci(0.12, 0.12 * 0.88, 10000, 0.10, 0.09, 10000)
    se = np.sqrt(0.12 * 0.88 / 1e4 + 0.09 / 1e4)
    assert r["abs_diff"] == pytest.approx(0.02) and r["abs_se"] == pytest.approx(se)
    assert r["rel_lift"] == pytest.approx(0.2)
    rse = np.sqrt(0.1056 / 1e4 / 0.01 + 0.0144 * 0.09 / 1e4 / 1e-4)
    assert r["rel_se"] == pytest.approx(rse)
    # simulation: the delta-method SE matches the spread of the ratio across replications
    rng = np.random.default_rng(0)
    yt = rng.binomial(1, 0.12, (400, 5000))
    yc = rng.binomial(1, 0.10, (400, 5000))
    ratios = yt.mean(1) / yc.mean(1) - 1
    r = lift_ci_arrays(yt[0], yc[0])
    assert np.std(ratios) == pytest.approx(r["rel_se"], rel=0.15)
    # coverage of the true lift 0.2 by the 95 % interval over replications ≈ 95 %
    cover = np.mean([(lambda d: d["rel_lo"] <= 0.2 <= d["rel_hi"])(lift_ci_arrays(a, b))
                     for a, b in zip(yt, yc)])
    assert 0.91 <= cover <= 0.99


def test_cuped_reduces_variance():
    rng = np.random.default_rng(1)
    x = rng.normal(10, 2, 20000)
    y = 0.8 * x + rng.normal(0, 1, 20000)          # corr² = 2.56 / 3.56 ≈ 0.719
    r = cuped(y, x)
    assert r.theta == pytest.approx(0.8, rel=0.02)
    assert r.variance_reduction == pytest.approx(2.56 / 3.56, abs=0.02)
    assert r.y_adjusted.mean() == pytest.approx(y.mean())
    # from sums: treatment +0.1, CUPED CI narrower and still covers 0.1
    t = np.arange(20000) % 2 == 0
    y2 = y + 0.1 * t

    def sums(m):
        return dict(n=m.sum(), sy=y2[m].sum(), syy=(y2[m] ** 2).sum(), sx=x[m].sum(),
                    sxx=(x[m] ** 2).sum(), sxy=(x[m] * y2[m]).sum())
    res = cuped_lift_from_sums(sums(t), sums(~t))
    assert res["cuped_abs_se"] < 0.6 * res["abs_se"]
    assert res["cuped_abs_lo"] < 0.1 < res["cuped_abs_hi"]
    assert res["variance_reduction"] == pytest.approx(0.72, abs=0.03)
    plain = lift_ci_arrays(y2[t], y2[~t])
    assert res["abs_diff"] == pytest.approx(plain["abs_diff"]) and res["abs_se"] == pytest.approx(plain["abs_se"])


def test_power():
    # classic: p = 0.1, +0.01 absolute needs ≈ 14,750 per arm at α 0.05, power 0.8
    n = sample_size_proportion(0.10, 0.01)
    assert 14500 < n < 15000
    assert power_proportion(0.10, 0.01, n) == pytest.approx(0.8, abs=0.01)
    assert mde_proportion(0.10, 14750) == pytest.approx(0.0098, abs=0.0003)
    assert mde_mean(1.0, 100) == pytest.approx(2.8016 * np.sqrt(0.02), rel=1e-3)


def test_experiment_results_from_tables():
    # experiment 1 (Mar 1 – Mar 10): users 1–4 control, 5–8 treatment
    exps = pd.DataFrame({"experiment_id": [1], "name": ["coupon"], "hypothesis": ["h"],
                         "start_ts": pd.to_datetime(["2025-03-01"]),
                         "end_ts": pd.to_datetime(["2025-03-10"]), "primary_metric": ["conv"]})
    asg = pd.DataFrame({"experiment_id": 1, "user_id": range(1, 9),
                        "variant": ["control"] * 4 + ["treatment"] * 4,
                        "assigned_ts": pd.Timestamp("2025-03-01")})
    orders = orders_df([
        (1, 1, "2025-03-02", 1, "paid"), (2, 1, "2025-02-25", 1, "paid"),   # y=1, x=1
        (3, 2, "2025-03-05", 1, "cancelled"),                               # y=0
        (4, 5, "2025-03-03", 1, "paid"), (5, 6, "2025-03-09", 1, "paid"),   # y=1, y=1
        (6, 7, "2025-03-11", 1, "paid"),                                    # after the end
        (7, 6, "2025-02-20", 1, "paid"), (8, 6, "2025-02-21", 1, "paid"),   # x=2 (pre 9 days)
        (9, 8, "2025-02-01", 1, "paid"),                                    # before the pre window
    ])
    users = users_df([(i, "2025-01-01", None, "organic") for i in range(1, 9)])
    res = experiment_results(make_con(experiments=exps, assignments=asg, orders=orders, users=users))
    r = res.iloc[0]
    assert (r.n_control, r.n_treatment) == (4, 4) and not r.srm and r.srm_p == 1
    assert r.rate_control == 0.25 and r.rate_treatment == 0.5
    assert r.abs_diff == 0.25 and r.rel_lift == pytest.approx(1.0)
    # var: control y = [1,0,0,0] → 0.25, treatment y=[1,1,0,0] → 1/3
    assert r.abs_se == pytest.approx(np.sqrt(0.25 / 4 + (1 / 3) / 4))
    # pooled x = [1,0,0,0 | 0,2,0,0], y = [1,0,0,0 | 1,1,0,0]: cov = (3 − 8·(3/8)²)/7 = 15/56,
    # var x = (5 − 9/8)/7 = 31/56 → θ = 15/31; adjusted Δ = 0.25 − θ·(0.5 − 0.25) = 4/31
    assert r.theta == pytest.approx(15 / 31)
    assert r.cuped_abs_diff == pytest.approx(4 / 31) and r["name"] == "coupon"


def test_change_ci_hand_computed():
    r = change_ci(0.30, 0.03, 0.25, 0.04)
    # se = √(0.03² + 0.04²) = 0.05; z = 1; p = 2·Φ(−1) ≈ 0.3173
    assert r["change"] == pytest.approx(0.05) and r["se"] == pytest.approx(0.05)
    assert r["ci_lo"] == pytest.approx(0.05 - 1.959964 * 0.05, abs=1e-6)
    assert r["p_value"] == pytest.approx(0.31731, abs=1e-4) and not r["significant"]
    assert change_ci(0.30, 0.01, 0.25, 0.01)["significant"]       # z = 3.54
    assert not change_ci(1.0, np.nan, 0.5, 0.1)["significant"]


def test_proportion_change_matches_newcombe():
    r = proportion_change(40, 100, 30, 100)
    assert r["change"] == pytest.approx(0.10)
    # Newcombe's hybrid score interval (method 10, Newcombe 1998) for 40/100 vs 30/100
    assert (r["ci_lo"], r["ci_hi"]) == (pytest.approx(-0.0319, abs=1e-3), pytest.approx(0.2272, abs=1e-3))
    assert not r["significant"] and 0.1 < r["p_value"] < 0.2
    big = proportion_change(4000, 10000, 3000, 10000)
    assert big["significant"] and big["ci_lo"] > 0.08


def test_count_change_poisson():
    r = count_change(1210, 1000)
    assert r["change"] == pytest.approx(0.21)
    # log-ratio interval ≈ exp(log 1.21 ± 1.96 √(1/1210 + 1/1000)) − 1
    half = 1.96 * np.sqrt(1 / 1210 + 1 / 1000)
    assert r["ci_lo"] == pytest.approx(1.21 * np.exp(-half) - 1, abs=0.01)
    assert r["ci_hi"] == pytest.approx(1.21 * np.exp(half) - 1, abs=0.01)
    assert r["significant"] and not count_change(105, 100)["significant"]
    # rates per exposure: 120 in 12 months against 110 in 11 → no change
    assert count_change(120, 110, 12, 11)["change"] == pytest.approx(0.0)


def test_ratio_of_sums_clustered():
    # users' (retained, at-risk months): (2, 2), (0, 2), (1, 1), (0, 1) → R = 3/6
    y, x = [2, 0, 1, 0], [2, 2, 1, 1]
    r, se = ratio_of_sums(y, x)
    # residuals y − R x = 1, −1, 0.5, −0.5 → Σ² = 2.5; se = √(4/3 · 2.5) / 6
    assert r == 0.5 and se == pytest.approx(np.sqrt(4 / 3 * 2.5) / 6)
    # clustering matters: the same 6 person-months as independent Bernoullis understate it
    assert se > np.sqrt(0.25 / 6)


def test_ratio_change_paired_and_independent():
    y1, x1 = np.array([2, 0, 1, 0]), np.array([2, 2, 1, 1])
    y0, x0 = np.array([1, 1, 1, 0]), np.array([2, 2, 1, 1])
    r = ratio_change(y1, x1, y0, x0)
    assert (r["value"], r["prev"], r["change"]) == (0.5, 0.5, 0.0)
    d = (y1 - 0.5 * x1) / 6 - (y0 - 0.5 * x0) / 6
    assert r["se"] == pytest.approx(np.sqrt(4 / 3 * np.sum(d ** 2)))
    # independent groups: pad with zeros; variance adds up
    ind = ratio_change(np.r_[y1, 0, 0, 0, 0], np.r_[x1, 0, 0, 0, 0],
                       np.r_[0, 0, 0, 0, y0], np.r_[0, 0, 0, 0, x0])
    a = ratio_of_sums(y1, x1)[1] ** 2 + ratio_of_sums(y0, x0)[1] ** 2
    assert ind["se"] ** 2 == pytest.approx(a, rel=1e-9)
    with pytest.raises(ValueError, match="aligned"):
        ratio_change([1], [1, 2], [1], [1])


def test_significant_leader_and_homogeneity():
    lead = significant_leader([0.30, 0.20, 0.10], [0.02, 0.02, 0.02], ["a", "b", "c"])
    assert lead["leader"] == "a" and lead["runner_up"] == "b" and lead["significant"]
    assert lead["gap"] == pytest.approx(0.10)
    tie = significant_leader([0.30, 0.28, 0.10], [0.02, 0.02, 0.02], ["a", "b", "c"])
    assert tie["leader"] is None and tie["top"] == "a" and not tie["significant"]
    low = significant_leader([0.30, 0.28, 0.10], [0.02, 0.02, 0.02], ["a", "b", "c"], largest=False)
    assert low["leader"] == "c"
    with pytest.raises(ValueError):
        significant_leader([1.0], [0.1])
    # Cochran's Q: Σ w (x − x̄_w)²; equal se 0.1 → w = 100, x̄ = 1: Q = 100 · (0 + 0.01 + 0.01) = 2
    h = homogeneity([1.0, 1.1, 0.9], [0.1, 0.1, 0.1])
    assert h["q"] == pytest.approx(2.0) and h["df"] == 2 and not h["differ"]
    assert h["p_value"] == pytest.approx(stats.chi2.sf(2.0, 2))
    assert homogeneity([1.0, 2.0, 0.5], [0.1, 0.1, 0.1])["differ"]
