"""Forecasts of chapter 10: the Bass model recovers known parameters, the log-linear trend
recovers a known growth, the error measures and the naive baseline on hand-computed numbers,
the viral scenarios by hand, and on the simulated platform the back-tests against the held-out
months and next year's sign-ups against the growth the simulator was built with."""
import numpy as np
import pandas as pd
import pytest

from fission.metrics import forecast as F


def bass_series(p, q, m, months, base=0.0):
    return F.bass_path(p, q, m, base, months)


def test_bass_recovers_known_parameters():
    p, q, m = 0.01, 0.35, 200_000
    rng = np.random.default_rng(1)
    n = rng.poisson(bass_series(p, q, m, 36)).astype(float)
    fit = F.fit_bass(n)
    assert fit["p"] == pytest.approx(p, rel=0.15)
    assert fit["q"] == pytest.approx(q, rel=0.10)
    assert fit["m"] == pytest.approx(m, rel=0.05)
    assert not fit["m_at_bound"]


def test_bass_with_an_installed_base_and_its_forecast_interval():
    p, q, m, base = 0.003, 0.15, 500_000, 40_000.0     # peak in month 15: past it, not saturated
    full = bass_series(p, q, m, 30, base)
    rng = np.random.default_rng(2)
    n = full[:24] * rng.lognormal(0, 0.03, 24)
    fit = F.fit_bass(n, base)
    assert fit["q"] == pytest.approx(q, rel=0.15) and fit["m"] == pytest.approx(m, rel=0.15)
    fc = F.bass_forecast(n, base, 6, n_boot=100)
    truth = full[24:].sum()
    assert fc["total_lo"] <= truth <= fc["total_hi"]
    assert abs(fc["total"] / truth - 1) < 0.1


def test_errors_and_seasonal_naive_by_hand():
    e = F.errors([100, 200], [110, 180])
    assert e["mape"] == pytest.approx(0.1) and e["wape"] == pytest.approx(30 / 300)
    assert e["bias"] == pytest.approx(290 / 300 - 1)
    y = np.arange(1, 25, dtype=float)
    assert list(F.seasonal_naive(y, 3)) == [13.0, 14.0, 15.0]
    with pytest.raises(ValueError, match="12 months"):
        F.seasonal_naive(y[:11], 3)


def test_spring_festival_share_by_hand():
    # 2024-02-10: the window 02-03..02-24 covers 22 of February's 29 days and none of January
    s = F.spring_festival_share(pd.DatetimeIndex(["2024-01-01", "2024-02-01", "2024-03-01"]))
    assert list(s) == pytest.approx([0.0, 22 / 29, 0.0])
    with pytest.raises(ValueError, match="Spring Festival date"):
        F.spring_festival_share(pd.DatetimeIndex(["2040-01-01"]))


def test_trend_recovers_a_known_growth_and_covers_the_truth():
    months = pd.date_range("2024-01-01", periods=24, freq="MS")
    fut = pd.date_range("2026-01-01", periods=12, freq="MS")
    rng = np.random.default_rng(3)

    def truth(ms, t0):
        t = np.arange(t0, t0 + len(ms)) / 12
        x = F._exog(ms)
        return np.exp(np.log(1000) + np.log(1.3) * t + 0.4 * x[:, 0] + 0.5 * x[:, 1] - 0.6 * x[:, 2])
    y = truth(months, 0) * np.exp(rng.normal(0, 0.03, 24))
    fc = F.trend_forecast(y, months, 12)
    assert fc["fit"]["growth_per_year"] == pytest.approx(0.3, abs=0.03)
    assert fc["total_lo"] <= truth(fut, 24).sum() <= fc["total_hi"]
    assert fc["total_lo"] < fc["total"] < fc["total_hi"]
    with pytest.raises(ValueError, match="positive"):
        F.trend_forecast(np.r_[y[:-1], 0.0], months, 3)


def test_k_scenarios_by_hand():
    s = F.k_scenarios(seeds=1000, k_now=0.2, invites_per_user=1.0, conversion=0.2, ks=[0.2, 0.25])
    assert list(s.referral_users) == pytest.approx([250.0, 1000 * 0.25 / 0.75])
    assert list(s.extra_users) == pytest.approx([0.0, 1000 / 3 - 250])
    assert list(s.invites_needed) == pytest.approx([1.0, 1.25])
    assert list(s.conversion_needed) == pytest.approx([0.2, 0.25])
    assert list(s.current) == [True, False]
    with pytest.raises(ValueError, match="finite"):
        F.k_scenarios(1000, 0.2, 1.0, 0.2, [1.0])


# ------------------------------------------------------------------ simulated platform
@pytest.fixture(scope="module")
def sim(small_platform):
    from fission.data.load import connect
    folder, truth = small_platform
    con = connect(folder)
    yield con, truth
    con.close()


def test_monthly_series_match_the_tables(sim):
    con, truth = sim
    s = F.monthly_signups(con)
    assert len(s) == 24 and s.month.iloc[0] == pd.Timestamp("2024-01-01")
    n = con.execute("SELECT count(*) FROM users WHERE signup_ts >= '2024-01-01'").fetchone()[0]
    assert s.n.sum() == n
    assert s.attrs["base"] == truth["installed_base"]["users"]
    g = F.monthly_gmv(con)
    tot = con.execute("SELECT sum(gmv) FROM orders WHERE status <> 'cancelled'").fetchone()[0]
    assert g.gmv.sum() == pytest.approx(float(tot))


def test_new_buyer_value_matches_an_independent_computation(sim):
    con, _ = sim
    o = con.execute("SELECT o.user_id, o.order_ts, o.gmv::DOUBLE AS gmv, u.signup_ts FROM orders o "
                    "JOIN users u USING (user_id) WHERE o.status <> 'cancelled'").df()
    o = o[o.signup_ts >= "2024-01-01"]
    first = o.groupby("user_id").order_ts.min().rename("first")
    o = o.join(first, on="user_id")
    end = con.execute("SELECT max(order_ts) FROM orders").fetchone()[0]
    keep = (o["first"].dt.year == 2024) & (o["first"] + pd.Timedelta(days=365) <= pd.Timestamp(end))
    w = o[keep & (o.order_ts < o["first"] + pd.Timedelta(days=365))]
    v = F.new_buyer_value(con, 2024)
    assert v["buyers"] == w.user_id.nunique()
    assert v["value"] == pytest.approx(w.gmv.sum() / w.user_id.nunique())


def test_forecasts_beat_the_naive_backtest_and_cover_the_simulated_growth(sim):
    con, truth = sim
    u = F.forecast_new_users(con, holdout=6, n_boot=100)
    bt = u["backtest"]
    assert (bt["from"], bt["to"], bt["holdout"]) == ("2025-07", "2025-12", 6)
    assert bt["wape"] < bt["naive"]["wape"]
    assert u["model"] == min(u["candidates"], key=lambda m: u["candidates"][m]["wape"])
    # the simulator's non-referral arrivals grow per city tier by yearly_growth (referrals
    # follow them): the expected growth of next year over this year from truth.json
    b = np.array(truth["tiers"]["base_share"])
    gr = np.array([truth["tiers"]["yearly_growth"][str(t)] for t in range(1, 6)])
    w = b * (gr - 1) / np.log(gr)
    expected = u["last12"] * (w * gr ** 2).sum() / (w * gr).sum()
    assert u["total_lo"] <= expected <= u["total_hi"]
    assert abs(u["total"] / expected - 1) < 0.15
    g = F.forecast_gmv(con, holdout=6)
    assert g["backtest"]["wape"] < g["backtest"]["naive"]["wape"]
    # next year's GMV includes at least what the existing customers will spend (truth)
    assert g["total"] > truth["future_12m"]["total"]["spend"]
    assert g["total_lo"] < g["total"] < g["total_hi"]
