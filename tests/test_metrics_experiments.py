import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fission.metrics.experiments import (cuped, cuped_lift_from_sums, experiment_results,
                                         lift_ci, lift_ci_arrays, mde_mean, mde_proportion,
                                         power_proportion, sample_size_proportion, srm_test)
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


def test_campaign_uplift():
    from fission.metrics.experiments import campaign_uplift
    camps = pd.DataFrame({"campaign_id": [1, 2], "name": ["双11", "short"], "type": ["coupon", "live"],
                          "platform": ["douyin", "douyin"], "kol_id": [None, None],
                          "start_ts": pd.to_datetime(["2025-01-08 00:00", "2025-01-10 20:00"]),
                          "end_ts": pd.to_datetime(["2025-01-10 23:00", "2025-01-10 22:00"]),
                          "cost": [100.0, 10.0]})
    # Jan 5–7 baseline: 1, 2, 3 paid orders per day; Jan 8–10 campaign: 4, 5, 6
    rows, oid = [], 0
    for day, k in zip(range(5, 11), [1, 2, 3, 4, 5, 6]):
        for _ in range(k):
            rows.append((oid, 1, f"2025-01-{day:02d} 12:00", 10, "paid"))
            oid += 1
    con = make_con(campaigns=camps, orders=orders_df(rows),
                   users=users_df([(1, "2025-01-05", None, "organic")]))
    res = campaign_uplift(con).set_index("metric")
    assert list(res["campaign_id"].unique()) == [1]            # the 1-day live is skipped
    o = res.loc["orders"]
    assert (o.baseline_per_day, o.campaign_per_day, o.abs_diff) == (2.0, 5.0, 3.0)
    assert o.rel_lift == pytest.approx(1.5)
    assert o.abs_se == pytest.approx(np.sqrt(1 / 3 + 1 / 3))   # daily variances 1 and 1
    assert res.loc["gmv", "abs_diff"] == 30.0
