"""Campaign uplift: the placebo-calibrated interval holds its false-positive rate and still
finds the campaigns that worked (synthetic series with known effects, and the simulator's
KOL campaigns, whose true signups are their cost / the KOL CAC)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fission.metrics.experiments import (campaign_daily, campaign_uplift, lift_ci_arrays,
                                         shopping_calendar, uplift_model, uplift_placebo_rate)
from metrics_fixtures import make_con, orders_df, users_df

DAYS = pd.date_range("2024-01-01", "2025-12-30")


def _series(rng, effects, starts, lengths, phi=0.7, sd=14.0):
    """Daily signups: a slow season × weekday level, AR(1) noise (days are not independent),
    a 双11 spike, and campaigns adding ``effects`` per day on average, front-loaded."""
    D = len(DAYS)
    level = 150 * (1 + 0.25 * np.sin(np.arange(D) / 58.0)) * np.where(DAYS.dayofweek >= 5, 1.1, 1)
    level = level * np.where(DAYS.strftime("%m-%d") == "11-11", 2.5, 1)
    e = np.zeros(D)
    shocks = rng.normal(0, sd, D)
    for i in range(1, D):
        e[i] = phi * e[i - 1] + shocks[i]
    y = level + e
    for eff, s, L in zip(effects, starts, lengths):
        w = np.exp(-np.arange(L) / 1.5)
        y[s:s + L] += eff * w / w.mean()
    return y


def _windows(rng, n, D):
    starts, lengths, taken = [], [], np.zeros(D, bool)
    while len(starts) < n:
        L, s = int(rng.integers(4, 9)), int(rng.integers(0, D - 9))
        if not taken[max(s - 2, 0):s + L + 2].any():
            taken[s:s + L] = True
            starts.append(s)
            lengths.append(L)
    return np.array(starts), np.array(lengths)


def test_uplift_model_calibrated_on_autocorrelated_days():
    rng = np.random.default_rng(11)
    null_sig, null_naive, found, covered, big = [], [], 0, 0, 0
    for _ in range(25):
        starts, lengths = _windows(rng, 24, len(DAYS))
        effects = np.r_[np.zeros(12), np.full(12, 40.0)]        # 12 campaigns did nothing
        y = _series(rng, effects, starts, lengths)
        wins = pd.DataFrame({"type": "kol", "a": starts, "b": starts + lengths - 1})
        res = uplift_model(y, DAYS, wins)
        lo, hi = res["beta"] - res["crit"] * res["se"], res["beta"] + res["crit"] * res["se"]
        sig = (lo > 0) | (hi < 0)
        null_sig += list(sig[:12])
        null_naive += list(np.abs(res["t"][:12]) > 1.96)     # the uncalibrated OLS interval
        found += int(sig[12:].sum())
        covered += int(((lo <= effects) & (effects <= hi))[12:].sum())
        big += 12
    assert len(null_sig) >= 200
    assert np.mean(null_sig) <= 0.07
    assert np.mean(null_naive) > 0.07            # what the calibration corrects
    assert found / big >= 0.8                     # +40/day on ~150 is found
    assert covered / big >= 0.85


def test_campaign_uplift_on_tables():
    """A 400-day platform with one strong 5-day campaign, one without effect, a 1-day live
    session (a nuisance term, not reported) and a month-long programme (not estimable)."""
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-03-01", periods=400)
    n = rng.poisson(60, len(days))
    camp = (days >= "2024-09-02") & (days <= "2024-09-06")
    n[camp] += 80
    rows = [(i, d + pd.Timedelta(hours=10), None, "organic")
            for i, d in enumerate(np.repeat(days, n), start=1)]
    users = users_df(rows)
    orders = orders_df([(i, i, str(users["signup_ts"].iloc[i - 1]), 10, "paid")
                        for i in range(1, len(users) + 1, 7)])
    camps = pd.DataFrame({
        "campaign_id": [1, 2, 3, 4], "name": ["strong", "null", "live", "month"],
        "type": ["kol", "kol", "live", "ads"], "platform": "douyin",
        "start_ts": pd.to_datetime(["2024-09-02 10:00", "2024-11-18 10:00", "2024-10-10 20:00",
                                    "2024-12-01 00:00"]),
        "end_ts": pd.to_datetime(["2024-09-06 22:00", "2024-11-22 22:00", "2024-10-10 22:00",
                                  "2024-12-31 23:59"])})
    con = make_con(users=users, orders=orders, campaigns=camps)
    res = campaign_uplift(con, metrics=("signups",)).set_index("campaign_id")
    assert list(res.index) == [1, 2, 4]                       # the 1-day session is not reported
    s = res.loc[1]
    assert s.estimable and s.significant and s.abs_lo <= 80 <= s.abs_hi
    assert s.campaign_per_day == pytest.approx(n[camp].mean())
    assert s.baseline_per_day == pytest.approx(s.campaign_per_day - s.abs_diff)
    assert s.rel_lift == pytest.approx(s.abs_diff / s.baseline_per_day)
    assert not res.loc[2].significant and res.loc[2].abs_lo <= 0 <= res.loc[2].abs_hi
    assert not res.loc[4].estimable and pd.isna(res.loc[4].rel_lift)
    assert res.loc[1].placebos >= 80
    with pytest.raises(ValueError, match="metrics"):
        campaign_uplift(con, metrics=("clicks",))


def test_campaign_uplift_too_few_days_is_not_estimated():
    camps = pd.DataFrame({"campaign_id": [1], "name": ["x"], "type": ["coupon"],
                          "platform": ["douyin"], "start_ts": pd.to_datetime(["2025-01-08"]),
                          "end_ts": pd.to_datetime(["2025-01-10 23:00"])})
    rows = [(i, 1, f"2025-01-{d:02d} 12:00", 10, "paid") for i, d in enumerate(range(5, 11))]
    con = make_con(campaigns=camps, orders=orders_df(rows),
                   users=users_df([(1, "2025-01-05", None, "organic")]))
    res = campaign_uplift(con)
    assert len(res) == 3 and not res["significant"].any() and res["abs_lo"].isna().all()


def test_shopping_calendar():
    cal = shopping_calendar(pd.date_range("2025-01-20", "2025-12-31"))
    assert cal.loc["2025-01-29", "spring_festival"] == 1            # 正月初一 2025
    assert cal.loc["2025-01-22", "spring_festival_pre"] == 1
    assert cal.loc["2025-02-12", "spring_festival_post"] == 1
    assert cal.loc["2025-11-11", "11-11"] == 1 and cal.loc["2025-11-11"].sum() == 1
    assert cal.loc["2025-06-10", "618_warmup"] == 1
    assert cal.loc["2025-03-10"].sum() == 0
    with pytest.raises(ValueError, match="Spring Festival"):
        shopping_calendar(pd.date_range("2040-01-01", periods=3))


# ------------------------------------------------------------------ the simulated platform
simulate_mod = pytest.importorskip("fission.data.simulate")


@pytest.fixture(scope="module")
def sim(tmp_path_factory, default_platform):
    from fission.data.load import connect
    out = default_platform[0]
    truth = json.loads(next(iter(sorted(Path(out).rglob("truth.json")))).read_text("utf-8"))
    con = connect(out)
    yield {"con": con, "truth": truth}
    con.close()


def test_placebo_false_positive_rate(sim):
    con = sim["con"]
    r = uplift_placebo_rate(con, metric="signups", n_windows=240, per_round=8)
    assert r["windows"] >= 200
    assert r["rate"] <= 0.07, r["rate"]
    # the old interval (days as independent, the same number of days before as baseline)
    # flags far more of the same ineffective windows
    daily = campaign_daily(con)["signups"]
    naive = []
    for w in r["windows_table"].itertuples():
        L = w.days
        camp = daily.loc[w.start:w.end].to_numpy()
        base = daily.loc[w.start - pd.Timedelta(days=L):w.start - pd.Timedelta(days=1)].to_numpy()
        if len(base) == L:
            d = lift_ci_arrays(camp, base)
            naive.append(d["abs_lo"] > 0 or d["abs_hi"] < 0)
    assert np.mean(naive) > 0.1


def test_kol_campaigns_recover_true_signups(sim):
    """Each KOL campaign's cost is the KOL CAC × the users it brought (truth: channels.cac,
    cac_definition), so its true extra signups per day are cost / CAC / days. The platform
    effect also holds those users' own referrals, a little more: coverage ≥ 85 %."""
    con, truth = sim["con"], sim["truth"]
    up = campaign_uplift(con, types=["kol"], metrics=("signups",))
    cost = con.execute("SELECT campaign_id, cost FROM campaigns").df()
    k = up.merge(cost, on="campaign_id")
    k["true"] = k["cost"] / truth["channels"]["cac"]["kol"] / k["days"]
    assert k["estimable"].all() and len(k) >= 90
    assert ((k["abs_lo"] <= k["true"]) & (k["true"] <= k["abs_hi"])).mean() >= 0.85
    assert np.corrcoef(k["abs_diff"], k["true"])[0, 1] >= 0.4
    assert k.loc[k["true"] >= 20, "significant"].mean() >= 0.75      # real campaigns found
    assert k.loc[k["true"] < 3, "significant"].mean() <= 0.2          # near-null ones rarely
