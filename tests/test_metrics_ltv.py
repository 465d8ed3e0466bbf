import math

import numpy as np
import pandas as pd
import pytest

from scipy import special

from fission.metrics.ltv import (BGNBD, FREQ_BINS, GammaGamma, ParetoNBD, bgnbd_expected_purchases,
                                 bgnbd_expected_purchases_new, bgnbd_loglik, bgnbd_p_alive, clv,
                                 clv_backtest, fit_bgnbd, fit_gamma_gamma, fit_pareto_nbd,
                                 frequency_bin, gamma_gamma_expected_spend,
                                 gamma_gamma_loglik_terms, ltv_by_segment, pnbd_expected_purchases,
                                 pnbd_loglik_terms, pnbd_p_alive, rfm_summary)
from metrics_fixtures import make_con, orders_df, users_df


def simulate_bgnbd(n, r, alpha, a, b, T, rng, horizon=0.0):
    """BG/NBD customers observed on (0, T]; with ``horizon`` also their purchases in
    (T, T + horizon] (returned fourth)."""
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n, int)
    fut = np.zeros(n, int)
    tx = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        idx = np.nonzero(alive)[0]
        t[idx] += rng.exponential(1 / lam[idx])
        past = t[idx] > T + horizon
        alive[idx[past]] = False
        buy = idx[~past]
        cal = buy[t[buy] <= T]
        x[cal] += 1
        tx[cal] = t[cal]
        fut[buy[t[buy] > T]] += 1
        alive[buy[rng.random(buy.size) < p[buy]]] = False
    if horizon:
        return x, tx, np.full(n, float(T)), fut
    return x, tx, np.full(n, float(T))


def simulate_pnbd(n, r, alpha, s, beta, T, horizon, rng):
    """Pareto/NBD customers (Poisson purchases at λ ~ Γ(r, α) while alive, exponential lifetime
    at μ ~ Γ(s, β)): calibration (x, t_x, T) on (0, T] and the purchases in (T, T + horizon]."""
    lam, mu = rng.gamma(r, 1 / alpha, n), rng.gamma(s, 1 / beta, n)
    end = np.minimum(rng.exponential(1 / mu), T + horizon)
    k = rng.poisson(lam * end)
    uid = np.repeat(np.arange(n), k)
    t = rng.uniform(0, np.repeat(end, k))
    cal = t <= T
    tx = np.zeros(n)
    np.maximum.at(tx, uid[cal], t[cal])
    return (np.bincount(uid[cal], minlength=n), tx, np.full(n, float(T)),
            np.bincount(uid[~cal], minlength=n))


def test_bgnbd_loglik_hand_computed():
    r, al, a, b = 0.5, 2.0, 1.2, 3.0
    B = lambda u, v: math.gamma(u) * math.gamma(v) / math.gamma(u + v)  # noqa: E731
    # x = 0, T = 5: L = B(a,b)/B(a,b) · α^r/(α+T)^r
    l0 = (al / (al + 5)) ** r
    # x = 2, t_x = 3, T = 5
    g = math.gamma(r + 2) / math.gamma(r) * al ** r
    l2 = (B(a, b + 2) / B(a, b) * g / (al + 5) ** (r + 2)
          + B(a + 1, b + 1) / B(a, b) * g / (al + 3) ** (r + 2))
    assert bgnbd_loglik((r, al, a, b), [0, 2], [0, 3], [5, 5]) == pytest.approx(
        math.log(l0) + math.log(l2), rel=1e-12)
    # weights count a row several times
    assert bgnbd_loglik((r, al, a, b), [2], [3], [5], weights=[3]) == pytest.approx(3 * math.log(l2))


def test_bgnbd_recovers_parameters_and_forecasts_the_hold_out():
    rng = np.random.default_rng(2024)
    true = dict(r=0.25, alpha=4.0, a=0.8, b=2.5)
    x, tx, T, fut = simulate_bgnbd(20000, *true.values(), T=39.0, rng=rng, horizon=39.0)
    m = fit_bgnbd(x, tx, T)
    assert m.r == pytest.approx(true["r"], rel=0.1)
    assert m.alpha == pytest.approx(true["alpha"], rel=0.15)
    assert m.a == pytest.approx(true["a"], rel=0.25)
    assert m.b == pytest.approx(true["b"], rel=0.3)
    assert m.loglik >= bgnbd_loglik(tuple(true.values()), x, tx, T) - 1e-6
    # predictions: the mean of E[X(39)] for new customers ≈ the observed mean count
    assert bgnbd_expected_purchases_new(m, 39.0) == pytest.approx(x.mean(), rel=0.05)
    pa = bgnbd_p_alive(m, x, tx, T)
    assert ((pa >= 0) & (pa <= 1)).all() and pa[x == 0].min() == 1.0
    # hold-out: the forecast of the next 39 periods vs the simulated continuation of the same
    # customers — within 6 % in total and 15 % per frequency bin (sampling error of the
    # hold-out sum is ~2 % in total, ~5 % in a bin, at 20,000 customers)
    e = bgnbd_expected_purchases(m, 39.0, x, tx, T)
    assert e.sum() == pytest.approx(fut.sum(), rel=0.06)
    for b in FREQ_BINS:
        sel = frequency_bin(x) == b
        assert e[sel].sum() == pytest.approx(fut[sel].sum(), rel=0.15), b


def test_pareto_nbd_loglik_matches_the_direct_formula():
    # FHL (2005) eq. 18–19 written directly (no Euler transform), for both branches α ≥ β, α < β
    def direct(p, x, tx, T):
        r, al, s, be = p
        a = r + s + x
        if al >= be:
            F = lambda t: special.hyp2f1(a, s + 1, a + 1, (al - be) / (al + t)) / (al + t) ** a  # noqa: E731
        else:
            F = lambda t: special.hyp2f1(a, r + x, a + 1, (be - al) / (be + t)) / (be + t) ** a  # noqa: E731
        head = math.exp(math.lgamma(r + x) - math.lgamma(r)) * al ** r * be ** s
        return math.log(head * (1 / ((al + T) ** (r + x) * (be + T) ** s) + s / (r + s + x) * (F(tx) - F(T))))
    for p in [(0.55, 10.58, 0.61, 11.67), (0.5, 20.0, 2.0, 5.0), (0.7, 5.0, 16.0, 3000.0)]:
        for x, tx, T in [(0, 0.0, 30.0), (2, 10.0, 39.0), (5, 30.0, 38.0)]:
            assert pnbd_loglik_terms(p, [x], [tx], [T])[0] == pytest.approx(direct(p, x, tx, T), rel=1e-10)
    # frequent buyers: the direct form overflows, the transformed one stays finite
    assert np.isfinite(pnbd_loglik_terms((0.7, 5.0, 16.0, 3000.0), [400], [700.0], [730.0])).all()


def test_pareto_nbd_recovers_parameters_and_forecasts_the_hold_out():
    rng = np.random.default_rng(7)
    true = (0.55, 10.6, 0.6, 11.7)
    x, tx, T, fut = simulate_pnbd(10000, *true, T=39.0, horizon=39.0, rng=rng)
    m = fit_pareto_nbd(x, tx, T)
    assert isinstance(m, ParetoNBD) and m.converged
    assert m.loglik >= pnbd_loglik_terms(true, x, tx, T).sum() - 1e-6
    assert m.r == pytest.approx(true[0], rel=0.15) and m.alpha == pytest.approx(true[1], rel=0.2)
    # s and β are weakly identified one by one; the mean dropout rate s/β is not
    assert m.s / m.beta == pytest.approx(true[2] / true[3], rel=0.15)
    pa = pnbd_p_alive(m, x, tx, T)
    assert ((pa > 0) & (pa <= 1)).all()
    # unlike BG/NBD, a customer with no repeat purchase can be dead
    assert pa[(x == 0)].max() < 1
    # hold-out within 8 % in total and 15 % per frequency bin (10,000 customers)
    e = pnbd_expected_purchases(m, 39.0, x, tx, T)
    assert e.sum() == pytest.approx(fut.sum(), rel=0.08)
    for b in FREQ_BINS:
        sel = frequency_bin(x) == b
        assert e[sel].sum() == pytest.approx(fut[sel].sum(), rel=0.15), b


def test_gamma_gamma_fit_and_spend():
    rng = np.random.default_rng(5)
    p, q, v = 6.0, 4.0, 15.0
    n = 5000
    x = rng.integers(1, 8, n)
    nu = rng.gamma(q, 1 / v, n)
    mbar = np.array([rng.gamma(p, 1 / nu[i], x[i]).mean() for i in range(n)])
    # hand-computed log-density for one customer
    lt = gamma_gamma_loglik_terms((p, q, v), [2], [10.0])[0]
    hand = (math.lgamma(12 + q) - math.lgamma(12) - math.lgamma(q) + q * math.log(v)
            + 11 * math.log(10) + 12 * math.log(2) - (12 + q) * math.log(v + 20))
    assert lt == pytest.approx(hand)
    m = fit_gamma_gamma(x, mbar)
    assert m.mean_spend == pytest.approx(p * v / (q - 1), rel=0.05)
    assert m.p == pytest.approx(p, rel=0.3) and m.q == pytest.approx(q, rel=0.3)
    es = gamma_gamma_expected_spend(m, x, mbar)
    # shrinkage: between the customer's mean and the population mean
    lo, hi = np.minimum(mbar, m.mean_spend), np.maximum(mbar, m.mean_spend)
    assert ((es >= lo - 1e-9) & (es <= hi + 1e-9)).all()


def test_clv_discounting():
    bg = BGNBD(0.25, 4.0, 0.8, 2.5, 0, 0, True)
    gg = GammaGamma(6.0, 4.0, 15.0, 0, 0, True)
    c0 = clv(bg, gg, [3], [20.0], [39.0], [30.0], months=2, monthly_discount=0.0,
             days_per_month=10)
    e = bgnbd_expected_purchases(bg, 20.0, [3], [20.0], [39.0])
    assert c0 == pytest.approx(e * gamma_gamma_expected_spend(gg, [3], [30.0]))
    c1 = clv(bg, gg, [3], [20.0], [39.0], [30.0], months=2, monthly_discount=0.1,
             days_per_month=10)
    assert c1 < c0


def test_rfm_summary_sql_and_ltv_by_segment():
    users = users_df([(1, "2025-01-01", None, "organic"), (2, "2025-01-01", None, "ads")])
    orders = orders_df([
        (1, 1, "2025-01-01 10:00", 10, "paid"), (2, 1, "2025-01-01 18:00", 5, "paid"),
        (3, 1, "2025-01-11", 20, "paid"), (4, 1, "2025-01-21", 40, "paid"),
        (5, 1, "2025-01-25", 99, "cancelled"),
        (6, 2, "2025-01-05", 7, "paid"),
        (7, 2, "2025-01-31", 1, "refunded"),
    ])
    rfm = rfm_summary(make_con(users=users, orders=orders), observation_end="2025-02-01")
    r = rfm.set_index("user_id").sort_index()
    # user 1: purchase days Jan 1 (15), Jan 11 (20), Jan 21 (40): frequency 2, recency 20,
    # T = 31, monetary = (20 + 40) / 2
    assert r.loc[1, ["frequency", "recency", "T", "monetary_value"]].tolist() == [2, 20, 31, 30]
    assert r.loc[2, ["frequency", "recency", "T", "monetary_value"]].tolist() == [0, 0, 27, 0]
    assert r.loc[1, "acquisition_channel"] == "organic"
    # end to end on simulated customers
    rng = np.random.default_rng(9)
    n = 600
    x, tx, T = simulate_bgnbd(n, 0.5, 20.0, 0.8, 2.5, T=300.0, rng=rng)
    start = pd.Timestamp("2024-01-01")
    rows, oid = [], 0
    for i in range(n):
        days = np.unique(np.concatenate([[0.0], np.sort(rng.uniform(1, max(tx[i], 1), x[i] - 1))
                                         if x[i] > 1 else [], [tx[i]] if x[i] else []]).round())
        for d in days:
            rows.append((oid, i, start + pd.Timedelta(days=float(d)), float(rng.gamma(5, 10)), "paid"))
            oid += 1
    us = users_df([(i, start, None, ["organic", "ads"][i % 2]) for i in range(n)])
    res = ltv_by_segment(make_con(users=us, orders=orders_df(rows)),
                         observation_end=start + pd.Timedelta(days=300), max_users=None)
    assert set(res.by_segment["acquisition_channel"]) == {"ads", "organic"}
    assert (res.by_segment["clv"] > 0).all() and res.customers == n and not res.subsampled


def _backtest_world(seed=3, n=300):
    """Customers buying at random over 2023-01-01 … 2025-12-31, some refunded or cancelled."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01")
    rows, oid = [], 0
    for u in range(n):
        k = 1 + rng.poisson(4)
        for d in np.sort(rng.uniform(0, 1095, k)):
            st = rng.choice(["paid", "paid", "paid", "refunded", "cancelled"])
            rows.append((oid, u, start + pd.Timedelta(days=float(d)), float(rng.gamma(4, 20)), st))
            oid += 1
    rows.append((oid, 0, pd.Timestamp("2025-12-31 23:00"), 5.0, "paid"))   # pins the data end
    return orders_df(rows)


def test_clv_backtest_compares_with_what_customers_actually_did():
    orders = _backtest_world()
    con = make_con(orders=orders)
    bt = clv_backtest(con, model="pareto_nbd")
    assert bt.cutoff == pd.Timestamp("2025-01-01") and bt.horizon_days == 365
    # the same numbers by hand: calibration = paid orders in the 365 days before the cutoff
    # (2024 is a leap year: from 2024-01-02), hold-out = paid orders in 2025
    paid = orders[orders.status == "paid"].assign(day=lambda d: d.order_ts.dt.normalize())
    cal = paid[(paid.order_ts >= "2024-01-02") & (paid.order_ts < "2025-01-01")]
    freq = cal.groupby("user_id")["day"].nunique() - 1
    hold = paid[(paid.order_ts >= "2025-01-01") & (paid.order_ts < "2026-01-01")]
    act_days = hold.groupby("user_id")["day"].nunique().reindex(freq.index, fill_value=0)
    act_spend = hold.groupby("user_id")["gmv"].sum().reindex(freq.index, fill_value=0)
    t = bt.table.set_index("bin")
    assert t.loc["all", "customers"] == len(freq)
    bins = pd.Series(frequency_bin(freq.to_numpy()), index=freq.index)
    for b in FREQ_BINS:
        assert t.loc[b, "customers"] == (bins == b).sum()
        assert t.loc[b, "actual_purchases"] == act_days[bins == b].sum()
        assert t.loc[b, "actual_spend"] == pytest.approx(act_spend[bins == b].sum(), rel=1e-6)
    assert t.loc["all", "actual_purchases"] == act_days.sum()
    assert t.loc["all", "purchases_error"] == pytest.approx(
        t.loc["all", "predicted_purchases"] / act_days.sum() - 1)
    # money is summed exactly in 1/10,000 yuan (deterministic), the test's random gmv has more
    assert t.loc["all", "spend_error"] == pytest.approx(
        t.loc["all", "predicted_spend"] / act_spend.sum() - 1, abs=1e-6)
    assert t.loc["all", "predicted_purchases"] == pytest.approx(t.loc[list(FREQ_BINS), "predicted_purchases"].sum())
    # the whole history as calibration: customers who bought only in 2023 enter too
    full = clv_backtest(con, calibration_days=None).table.set_index("bin")
    assert full.loc["all", "customers"] > len(freq)
    with pytest.raises(ValueError, match="runs past"):
        clv_backtest(con, cutoff="2025-06-01")
