import numpy as np
import pandas as pd
import pytest

from fission.metrics.survival import churn_durations, cox_churn, kaplan_meier, survival_table
from metrics_fixtures import make_con, orders_df, users_df


def _con():
    users = users_df([
        (1, "2025-01-01", None, "organic"),
        (2, "2025-01-01", None, "organic"),
        (3, "2025-01-01", None, "ads"),
        (4, "2025-09-01", None, "ads"),
    ])
    orders = orders_df([
        (1, 1, "2025-01-11", 1, "paid"), (2, 1, "2025-03-01", 1, "paid"),   # gaps 10, 49 d
        (3, 1, "2025-12-01", 1, "paid"),              # gap 275 d after Mar 1 → churn at day 59
        (4, 2, "2025-06-01", 1, "cancelled"),         # never really ordered → not a buyer
        (5, 3, "2025-10-01", 1, "paid"),              # 91 d to data end → churn at day 273
        (6, 4, "2025-11-01", 1, "paid"), (7, 4, "2025-12-01", 1, "paid"),   # censored at day 91
        (8, 1, "2025-12-31", 1, "paid"),              # data end 2025-12-31
    ])
    return make_con(users=users, orders=orders)


def test_churn_durations_definition():
    d = churn_durations(_con(), churn_days=90).set_index("user_id").sort_index()
    assert d.index.tolist() == [1, 3, 4]          # user 2 never bought: not in the population
    assert d["event"].tolist() == [1, 1, 0]
    assert d["duration_days"].tolist() == [59.0, 273.0, 91.0]
    t = survival_table(_con(), "acquisition_channel")
    assert t["n"].sum() == 3


def test_kaplan_meier_by_channel():
    r = kaplan_meier(_con(), "acquisition_channel", at_days=(30, 60))
    m = r.medians.set_index("group")
    # organic: one buyer, churned at day 59 → S(30)=1, S(60)=0, median 59
    assert m.loc["organic", "events"] == 1 and m.loc["organic", "median_days"] == 59
    assert m.loc["organic", "survival_30d"] == 1 and m.loc["organic", "survival_60d"] == 0
    # ads: censored at 91, churned at 273 → S(60)=1, S(273)=0
    assert m.loc["ads", "survival_60d"] == 1 and m.loc["ads", "median_days"] == 273
    assert set(r.curves["group"]) == {"ads", "organic"}


def test_cox_recovers_hazard_ratio():
    rng = np.random.default_rng(3)
    n = 3000
    ch = rng.choice(["organic", "ads", "referral"], n)
    rate = np.where(ch == "ads", 2.0, np.where(ch == "referral", 0.5, 1.0)) / 100.0
    life = rng.exponential(1 / rate)                      # days to churn
    start = pd.Timestamp("2024-01-01")
    users = users_df([(i, start, None, c) for i, c in enumerate(ch)])
    users["gender"] = rng.choice(["F", "M"], n)
    users["city_tier"] = rng.integers(1, 4, n)
    # an order every 4 days from signup until the user's lifetime ends (or the data end)
    end = pd.Timestamp("2024-12-31")
    k = (np.minimum(life, 364.0) // 4).astype(int) + 1
    uid = np.repeat(np.arange(n), k)
    day = np.concatenate([np.arange(m) * 4 for m in k])
    orders = pd.DataFrame({"order_id": np.arange(len(uid)), "user_id": uid,
                           "order_ts": start + pd.to_timedelta(day, unit="D"),
                           "gmv": 1.0, "status": "paid", "discount": 0.0, "channel": "organic"})
    orders.loc[len(orders)] = [len(orders), 0, end, 1.0, "paid", 0.0, "organic"]
    res = cox_churn(make_con(users=users, orders=orders), churn_days=5, max_users=2000, seed=1)
    assert res.subsampled and res.users == 2000 and res.population == n
    hr = res.hazard_ratios.set_index("covariate")["hazard_ratio"]
    assert hr["acquisition_channel=ads"] == pytest.approx(2.0, rel=0.2)
    assert hr["acquisition_channel=referral"] == pytest.approx(0.5, rel=0.2)
    assert hr["gender=M"] == pytest.approx(1.0, abs=0.15)
    assert set(res.ph_test["covariate"]) == set(hr.index)
    assert res.ph_test["p"].between(0, 1).all()
