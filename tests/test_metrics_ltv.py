import math

import numpy as np
import pandas as pd
import pytest

from fission.metrics.ltv import (BGNBD, GammaGamma, bgnbd_expected_purchases,
                                 bgnbd_expected_purchases_new, bgnbd_loglik, bgnbd_p_alive, clv,
                                 fit_bgnbd, fit_gamma_gamma, gamma_gamma_expected_spend,
                                 gamma_gamma_loglik_terms, ltv_by_segment, rfm_summary)
from metrics_fixtures import make_con, orders_df, users_df


def simulate_bgnbd(n, r, alpha, a, b, T, rng):
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n, int)
    tx = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        idx = np.nonzero(alive)[0]
        t[idx] += rng.exponential(1 / lam[idx])
        past = t[idx] > T
        alive[idx[past]] = False
        buy = idx[~past]
        x[buy] += 1
        tx[buy] = t[buy]
        alive[buy[rng.random(buy.size) < p[buy]]] = False
    return x, tx, np.full(n, float(T))


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


def test_bgnbd_recovers_parameters():
    rng = np.random.default_rng(2024)
    true = dict(r=0.25, alpha=4.0, a=0.8, b=2.5)
    x, tx, T = simulate_bgnbd(20000, *true.values(), T=39.0, rng=rng)
    m = fit_bgnbd(x, tx, T)
    assert m.r == pytest.approx(true["r"], rel=0.1)
    assert m.alpha == pytest.approx(true["alpha"], rel=0.15)
    assert m.a == pytest.approx(true["a"], rel=0.25)
    assert m.b == pytest.approx(true["b"], rel=0.3)
    assert m.loglik >= bgnbd_loglik(tuple(true.values()), x, tx, T) - 1e-6
    # predictions: the mean of E[X(39)] for new customers ≈ the observed mean count
    assert bgnbd_expected_purchases_new(m, 39.0) == pytest.approx(x.mean(), rel=0.05)
    # holdout: expected purchases in the next 39 weeks vs. simulated continuation, pooled
    pa = bgnbd_p_alive(m, x, tx, T)
    assert ((pa >= 0) & (pa <= 1)).all() and pa[x == 0].min() == 1.0
    e = bgnbd_expected_purchases(m, 39.0, x, tx, T)
    assert (e >= 0).all() and e[x > 5].mean() > e[x == 0].mean()


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
