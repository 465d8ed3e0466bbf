import numpy as np
import pandas as pd
import pytest

from fission.metrics.growth import annual_change, check_balance, growth_accounting, growth_by_user
from metrics_fixtures import make_con, orders_df, users_df


def _orders():
    # user 1: Jan, Feb, Mar (cancelled order in Mar does not count) → Jan, Feb
    # user 2: Jan, Mar → resurrected in Mar
    # user 3: Feb, Mar
    # user 4: Jan only, and a cancelled Feb order
    return orders_df([
        (1, 1, "2025-01-05", 10, "paid"), (2, 1, "2025-02-05", 20, "refunded"),
        (3, 1, "2025-03-05", 99, "cancelled"),
        (4, 2, "2025-01-10", 30, "paid"), (5, 2, "2025-03-10", 40, "paid"),
        (6, 3, "2025-02-10", 50, "paid"), (7, 3, "2025-03-10", 5, "paid"),
        (8, 3, "2025-03-11", 5, "paid"),
        (9, 4, "2025-01-20", 60, "paid"), (10, 4, "2025-02-20", 70, "cancelled"),
    ])


def test_growth_accounting_three_months():
    df = growth_accounting(make_con(orders=_orders()), "month", revenue=True)
    assert df["period"].tolist() == list(pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]))
    # Jan: active {1,2,4} all new. Feb: active {1,3}: 1 retained, 3 new, churned {2,4}.
    # Mar: active {2,3}: 3 retained, 2 resurrected, churned {1}
    assert df["active"].tolist() == [3, 2, 2]
    assert df["new"].tolist() == [3, 1, 0]
    assert df["retained"].tolist() == [0, 1, 1]
    assert df["resurrected"].tolist() == [0, 0, 1]
    assert df["churned"].tolist() == [0, 2, 1]
    assert np.isnan(df.loc[0, "quick_ratio"])
    assert df["quick_ratio"].tolist()[1:] == [0.5, 1.0]
    assert df.loc[1, "retention_rate"] == pytest.approx(1 / 3)
    # revenue: Jan 10+30+60=100; Feb 20+50=70; Mar 40+10=50
    assert df["revenue"].tolist() == [100, 70, 50]
    assert df["new_revenue"].tolist() == [100, 50, 0]
    assert df["churned_revenue"].tolist() == [0, 90, 20]        # Feb: users 2 (30) + 4 (60)
    assert df["expansion_revenue"].tolist() == [0, 10, 0]       # user 1: 10 → 20
    assert df["contraction_revenue"].tolist() == [0, 0, 40]     # user 3: 50 → 10
    assert df["resurrected_revenue"].tolist() == [0, 0, 40]
    assert check_balance(df, revenue=True)


def test_growth_accounting_empty_period_and_weeks():
    o = orders_df([(1, 1, "2025-01-05", 10, "paid"), (2, 1, "2025-03-05", 10, "paid"),
                   (3, 2, "2025-01-06", 10, "paid"), (4, 2, "2025-01-14", 10, "paid")])
    con = make_con(orders=o)
    m = growth_accounting(con, "month")
    # Feb is empty: everyone churned; Mar: user 1 resurrected, user 2 churned earlier
    assert m["active"].tolist() == [2, 0, 1]
    assert m["churned"].tolist() == [0, 2, 0]
    assert m["resurrected"].tolist() == [0, 0, 1]
    assert check_balance(m)
    w = growth_accounting(con, "week")
    # weeks start Monday: 2024-12-30 (user 1), 2025-01-06 (user 2), 2025-01-13 (user 2) ...
    assert w["period"].iloc[0] == pd.Timestamp("2024-12-30")
    assert w["active"].tolist()[:3] == [1, 1, 1]
    assert w["new"].tolist()[:3] == [1, 1, 0]
    assert w["churned"].tolist()[:4] == [0, 1, 0, 1]
    assert len(w) == 10 and check_balance(w)
    assert len(growth_accounting(con, "week", start="2025-01-06", end="2025-01-20")) == 2


def test_growth_accounting_installed_base_is_not_new():
    # data start 2025-01-05 (first order). User 9 signed up in 2023 (installed base): first seen
    # in Feb → resurrected, not new. User 3 signed up in Feb 2025 → new. Users 1, 2 in Jan: baseline.
    users = users_df([(1, "2025-01-01", None, "organic"), (2, "2025-01-02", None, "ads"),
                      (3, "2025-02-01", None, "organic"), (9, "2023-06-01", None, "organic")])
    o = orders_df([(1, 1, "2025-01-05", 10, "paid"), (2, 2, "2025-01-06", 10, "paid"),
                   (3, 1, "2025-02-03", 10, "paid"), (4, 3, "2025-02-04", 10, "paid"),
                   (5, 9, "2025-02-05", 10, "paid"), (6, 9, "2025-03-05", 10, "paid")])
    df = growth_accounting(make_con(users=users, orders=o), "month", revenue=True)
    assert df["period"].tolist() == list(pd.to_datetime(["2025-02-01", "2025-03-01"]))
    assert df["active"].tolist() == [3, 1]
    assert df["new"].tolist() == [1, 0]
    assert df["retained"].tolist() == [1, 1]
    assert df["resurrected"].tolist() == [1, 0]
    assert df["churned"].tolist() == [1, 2]
    assert df["new_revenue"].tolist() == [10, 0] and df["resurrected_revenue"].tolist() == [10, 0]
    assert check_balance(df, revenue=True)
    assert df.attrs["baseline_active"] == 2                      # January: users 1 and 2
    # without users the history counts as complete: January is reported, every first-seen user new
    assert growth_accounting(make_con(orders=o), "month")["new"].tolist() == [2, 2, 0]


def _truncated_con():
    """Installed-base users 1–3 (signed up 2023), orders from Dec 2024 (the baseline month):
    Dec {1, 2}; Jan {1, 3}; Feb {1, 2, 3}; Mar {2}."""
    users = users_df([(u, "2023-01-01", None, "organic") for u in (1, 2, 3)])
    orders = orders_df([
        (1, 1, "2024-12-03", 10, "paid"), (2, 2, "2024-12-04", 10, "paid"),
        (3, 1, "2025-01-03", 10, "paid"), (4, 3, "2025-01-04", 10, "paid"),
        (5, 1, "2025-02-03", 10, "paid"), (6, 2, "2025-02-04", 10, "paid"),
        (7, 3, "2025-02-05", 10, "paid"), (8, 2, "2025-03-04", 10, "paid"),
    ])
    return make_con(users=users, orders=orders)


def test_growth_by_user_adds_up_to_growth_accounting():
    con = _truncated_con()
    ga = growth_accounting(con)
    g = growth_by_user(con).set_index("user_id")
    # user 1: at risk into Jan, Feb, Mar (active Dec, Jan, Feb), retained Jan, Feb, churned Mar
    assert g.loc[1, ["retained", "at_risk", "churned"]].tolist() == [2, 3, 1]
    # user 3: installed base first seen in Jan → resurrected (not new); retained Feb
    assert g.loc[3, ["new", "resurrected", "retained", "at_risk"]].tolist() == [0, 1, 1, 2]
    for c in ("new", "retained", "resurrected", "churned"):
        assert g[c].sum() == ga[c].sum()
    # at risk = previous month's actives, the baseline month's included: 2 + 2 + 3
    assert g["at_risk"].sum() == ga.attrs["baseline_active"] + ga["active"].iloc[:-1].sum() == 7


def test_annual_change_clusters_by_user():
    con = _truncated_con()
    ga = growth_accounting(con)
    # 2025 against itself: the same users, a change of exactly 0 and nothing significant
    ch = annual_change(con, 2025, 2025).set_index("metric")
    assert ch.loc["retention_rate", "value"] == pytest.approx(ga["retained"].sum() / 7)
    assert ch.loc["retention_rate", "change"] == 0 and not ch["significant"].any()
    qr = ch.loc["quick_ratio"]
    assert qr.value == pytest.approx((ga["new"].sum() + ga["resurrected"].sum()) / ga["churned"].sum())
    by = growth_by_user(con)
    both = pd.concat([by, by.assign(year=2024, user_id=by["user_id"] + 100)])
    ch2 = annual_change(con, 2025, 2024, by_user=both).set_index("metric")
    r = ch2.loc["retention_rate"]
    # independent users, the same rates: change 0, se = √2 · the one-year clustered se
    from fission.metrics.experiments import ratio_of_sums
    one = ratio_of_sums(by["retained"], by["at_risk"])[1]
    assert r.change == pytest.approx(0) and r.se == pytest.approx(np.sqrt(2) * one)
    assert not r.significant
