"""Supply-chain and logistics metrics (chapter 8): empirical Bayes, the (s, S) replay, WAPE,
ABC classes and the scorecard on small hand-made tables; recovery of the simulator's supplier
late and defect rates and transit times; the forecast back-test."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fission.metrics import supply as M
from metrics_fixtures import make_con, ts


def test_beta_binomial_prior_and_shrinkage():
    rng = np.random.default_rng(1)
    p = rng.beta(4, 16, 300)                  # true rates around 0.2
    n = rng.integers(5, 60, 300)
    x = rng.binomial(n, p)
    a, b = M.beta_binomial_prior(x, n)
    assert a / (a + b) == pytest.approx(0.2, abs=0.02)
    assert a + b == pytest.approx(20, rel=0.5)
    s = M.shrink(x, n, a, b)
    # shrinkage pulls small groups further towards the prior mean, and helps on average
    assert np.mean((s.shrunk - p) ** 2) < np.mean((x / n - p) ** 2)
    assert ((s.post_lo <= s.shrunk) & (s.shrunk <= s.post_hi)).all()
    one = M.shrink([0, 0], [1, 1000], a, b).shrunk
    assert one[0] > one[1]                      # 0/1 stays near the prior, 0/1000 near 0
    with pytest.raises(ValueError, match="at least 3 groups"):
        M.beta_binomial_prior([1, 2], [5, 5])


def test_replay_of_an_s_S_policy_by_hand():
    # one pair, demand 3 a week, s = 4, S = 10, lead 1 week, start with 10 on hand
    d = np.array([[3, 3, 3, 3]], float)
    r = M.replay(d, np.array([4.0]), np.array([10.0]), np.array([1.0]))
    # week 0: 10→7 (pos 7 ≥ 4); week 1: 7→4; week 2: 4→1, pos 1 < 4: order 9 for week 3;
    # week 3: 1+9=10→7
    assert r["on_hand"] == pytest.approx((7 + 4 + 1 + 7) / 4)
    assert r["stockout_rate"] == 0 and r["fill_rate"] == 1
    # a bigger demand empties the shelf and loses sales
    r2 = M.replay(np.array([[12, 0]], float), np.array([4.0]), np.array([10.0]), np.array([1.0]))
    assert r2["stockout_rate"] == 0.5 and r2["fill_rate"] == pytest.approx(10 / 12)


def test_wape_and_its_gain():
    assert M.wape([10, 10], [12, 8]) == pytest.approx(0.2)
    g = M.wape_gain([10, 10, 10, 10], [10, 10, 10, 10], [12, 8, 13, 7])
    assert g["gain"] == pytest.approx(0.25) and g["gain_lo"] < g["gain"] < g["gain_hi"]


def test_abc_classes():
    c = M.abc_class(pd.Series({1: 70, 2: 15, 3: 10, 4: 5}))
    assert c.to_dict() == {1: "A", 2: "A", 3: "B", 4: "C"}


def test_holiday_weeks_spread_the_festival_days():
    w = M.holiday_weeks(pd.Series(pd.to_datetime(["2025-06-15", "2025-06-22", "2025-11-16"])))
    assert w.loc[1, "618"] == pytest.approx(3 / 7) and w.loc[0, "618"] == 0
    assert w.loc[2, "double11"] == pytest.approx(3 / 7)
    assert w.loc[0, "618_warmup"] == pytest.approx(7 / 7)


def _po_tables():
    sup = pd.DataFrame({"supplier_id": [1, 2, 3], "region": "east", "category": "food"})
    rows = []
    for sid, late in ((1, [0, 0, 0, 1]), (2, [1, 1, 0, 0]), (3, [0, 0, 0, 0])):
        for k, l in enumerate(late):
            o = pd.Timestamp("2025-03-01") + pd.Timedelta(days=7 * k)
            rows.append((len(rows) + 1, sid, 1, o, o + pd.Timedelta(days=5),
                         o + pd.Timedelta(days=8 if l else 4), 10, sid - 1))
    # an open order promised after the data end is left out; one past its promise, not received, is late
    rows.append((99, 3, 1, pd.Timestamp("2025-12-30"), pd.Timestamp("2026-01-05"), pd.NaT, 10, 0))
    rows.append((98, 3, 1, pd.Timestamp("2025-12-01"), pd.Timestamp("2025-12-06"), pd.NaT, 10, 0))
    po = pd.DataFrame(rows, columns=["po_id", "supplier_id", "item_id", "ordered_ts", "promised_ts",
                                     "received_ts", "qty", "defect_qty"])
    orders = pd.DataFrame({"order_id": [1], "order_ts": ts("2025-12-31")})
    return dict(suppliers=sup, purchase_orders=po, orders=orders)


def test_scorecard_on_a_small_table():
    sc = M.supplier_scorecard(make_con(**_po_tables()), 2025).set_index("supplier_id")
    assert sc.loc[1, "pos"] == 4 and sc.loc[1, "late"] == 1
    assert sc.loc[3, "pos"] == 5 and sc.loc[3, "late"] == 1        # the unreceived, overdue one
    assert sc.loc[2, "late_rate"] == 0.5 and sc.loc[2, "defect_rate"] == pytest.approx(1 / 10)
    assert sc.loc[1, "lead_days"] == pytest.approx((4 * 3 + 8) / 4)
    assert (sc.late_lo <= sc.late_rate).all() and (sc.late_rate <= sc.late_hi).all()
    assert not sc.act.any()                     # nothing is credibly worse with 4 orders each


def test_bad_defects_are_named():
    t = _po_tables()
    t["purchase_orders"].loc[0, "defect_qty"] = 50
    with pytest.raises(ValueError, match="purchase_orders: defect_qty > qty in 1 rows"):
        M.supplier_scorecard(make_con(**t), 2025)


# ------------------------------------------------------------------ the simulated platform
@pytest.fixture(scope="module")
def sim(tmp_path_factory, small_platform):
    simulate = pytest.importorskip("fission.data.simulate").simulate
    from fission.data.load import connect
    out = small_platform[0]
    con = connect(out)
    yield con, json.loads((Path(out) / "truth.json").read_text(encoding="utf-8"))
    con.close()


def test_scorecard_recovers_the_simulated_suppliers(sim):
    con, truth = sim
    sc = M.supplier_scorecard(con, 2025)
    t = truth["supply"]["suppliers"]
    late = sc.supplier_id.astype(str).map(lambda k: t[k]["late_rate"])
    defect = sc.supplier_id.astype(str).map(lambda k: t[k]["defect_rate"])
    # late ⇔ received after the promise: the intervals cover the truth (≈ 95 % of suppliers)
    assert ((sc.late_post_lo <= late) & (late <= sc.late_post_hi)).mean() >= 0.85
    assert np.corrcoef(sc.late_shrunk, late)[0, 1] > 0.9
    assert ((sc.defect_post_lo <= defect) & (defect <= sc.defect_post_hi)).mean() >= 0.85
    assert (sc.late_shrunk - late).abs().mean() < 0.03
    lead = sc.supplier_id.astype(str).map(lambda k: t[k]["promised_lead_days"])
    assert np.allclose(sc.promised_days, lead, atol=0.01)


def test_transit_model_recovers_the_simulated_times(sim):
    con, truth = sim
    m = M.transit_model(M.deliveries(con, 2025, max_rows=20_000)).set_index(["kind", "level"]).coef
    lg = truth["logistics"]
    for carrier, days in lg["carrier_transit_days"].items():
        # geometric mean of the lognormal(0, σ) noise is 1: the carrier term is its base days
        assert m[("carrier", carrier)] == pytest.approx(days, rel=0.05), carrier
    assert m[("cross", "cross")] == pytest.approx(lg["cross_region_multiplier"], rel=0.03)
    for tier in range(2, 6):
        assert m[("tier", str(tier))] == pytest.approx(1 + lg["tier_transit_step"] * (tier - 1), rel=0.03)


def test_policy_backtest_and_forecast(sim):
    con, _ = sim
    dem = M.weekly_demand(con)
    bt = M.policy_backtest(con, 2025, 0.95, dem).set_index("cls")
    assert set(bt.index) == {"A", "B", "C", "all"}
    # the replay of the current policy is close to what the snapshots show
    assert abs(bt.loc["all", "cur_stockout"] - bt.loc["all", "obs_stockout"]) < 0.05
    hi = M.policy_backtest(con, 2025, 0.99, dem).set_index("cls")
    assert hi.loc["all", "rec_stockout"] <= bt.loc["all", "rec_stockout"]   # more service, fewer outs
    assert hi.loc["all", "rec_on_hand"] >= bt.loc["all", "rec_on_hand"]
    fb = M.forecast_backtest(con, demand=dem)
    b = fb["backtest"].set_index("category")
    assert "total" in b.index and len(b) == 9
    assert (b.model_better == (b.gain_lo > 0)).all()
    assert b.loc["total", "wape_model"] < 0.25
    f = fb["forecast"]
    assert (f.lo <= f.forecast).all() and (f.forecast <= f.hi).all() and f.week_end.nunique() == 13
