import numpy as np
import pandas as pd
import pytest

from fission.metrics import MissingTableError
from fission.metrics.viral import k_change, k_spread, viral_k, viral_k_overall
from metrics_fixtures import make_con, orders_df, referral_tables, users_df


def _con():
    users, shares, visits = referral_tables()
    orders = orders_df([(1, 1, "2025-04-01", 10, "paid")])
    return make_con(users=users, shares=shares, share_visits=visits, orders=orders)


def test_viral_k_by_month():
    df = viral_k(_con(), window_days=30).set_index(["cohort", "mechanism"])
    jan = pd.Timestamp("2025-01-01")
    # January cohort: users 1,2,3,4 (size 4). invite_coupon shares in window: 1, 4, 5 (share 3
    # is 59 days after signup) with visits 1,2,5,6,7; signups from them: user 3 (share 1, 4
    # days after user 1) and user 5 (share 4, 24 days after user 2).
    # group_buy: share 2 → user 4 (6 days after user 1)
    ic = df.loc[(jan, "invite_coupon")]
    assert (ic.cohort_size, ic.shares, ic.visits, ic.signups) == (4, 3, 5, 2)
    assert ic.invites_per_user == 0.75 and ic.invite_conversion == pytest.approx(2 / 3)
    assert ic.k_factor == 0.5 and ic.visits_per_share == pytest.approx(5 / 3)
    assert ic.cycle_days_median == 14
    gb = df.loc[(jan, "group_buy")]
    assert (gb.shares, gb.signups, gb.k_factor, gb.cycle_days_median) == (1, 1, 0.25, 6)
    al = df.loc[(jan, "all")]
    assert (al.shares, al.visits, al.signups, al.k_factor) == (4, 6, 3, 0.75)
    assert al.cycle_days_median == 6 and al.cycle_days_mean == pytest.approx(34 / 3)
    assert df.loc[(jan, "live"), "k_factor"] == 0 and pd.isna(df.loc[(jan, "live"), "invite_conversion"])
    # February: users 5 and 6 (user 7 is not fully observed); share 6 has no visits
    feb = df.loc[(pd.Timestamp("2025-02-01"), "all")]
    assert (feb.cohort_size, feb.shares, feb.signups, feb.invites_per_user) == (2, 1, 0, 0.5)
    assert pd.Timestamp("2025-03-01") not in df.index.get_level_values(0)


def test_viral_k_overall():
    df = viral_k_overall(_con(), window_days=30).set_index("mechanism")
    assert df.loc["all", "cohort_size"] == 6
    assert df.loc["invite_coupon", "k_factor"] == pytest.approx(2 / 6)
    assert df.loc["group_buy", "invites_per_user"] == pytest.approx(2 / 6)
    assert df.loc["all", "k_factor"] == pytest.approx(df.loc[df.index != "all", "k_factor"].sum())


def test_viral_missing():
    with pytest.raises(MissingTableError, match="share_visits"):
        viral_k(make_con(users=users_df([(1, "2025-01-01", None, "organic")])))


def test_k_standard_error_and_change():
    df = viral_k(_con(), window_days=30)
    jan = df[(df["cohort"] == pd.Timestamp("2025-01-01")) & (df["mechanism"] == "all")].iloc[0]
    # January users 1, 2, 3, 4 brought 2, 1, 0, 0 signups: K = 0.75, Σy² = 5,
    # var = (5 − 4 · 0.75²) / 3 = 11/12, se = √(var / 4)
    assert jan.signups_sq == 5 and jan.k_se == pytest.approx(np.sqrt(11 / 12 / 4))
    ic = df[(df["cohort"] == pd.Timestamp("2025-01-01")) & (df["mechanism"] == "invite_coupon")].iloc[0]
    assert ic.signups_sq == 2                     # users 1 and 2 brought one each
    ch = k_change(df, "2025-01-01", "2025-02-01").set_index("mechanism")
    al = ch.loc["all"]
    # February: users 5, 6 brought nothing: K 0, se 0
    assert (al.k_factor, al.k_prev, al.change) == (0.75, 0.0, 0.75)
    assert al.se == pytest.approx(jan.k_se) and not al.significant
    with pytest.raises(ValueError):
        k_change(df, "2025-01-01", "2024-01-01")


def test_k_spread_names_extremes_only_with_a_test():
    k = pd.DataFrame({"cohort": ["a", "b", "c"], "mechanism": "all", "cohort_size": 100,
                      "k_factor": [0.30, 0.28, 0.26], "k_se": [0.02, 0.02, 0.02]})
    s = k_spread(k)
    assert (s["high"], s["low"], s["cohorts"]) == ("a", "c", 3)
    # Q = Σ (x − 0.28)² / 0.02² = 2 → p = e⁻¹ ≈ 0.37: the months do not differ
    assert s["q"] == pytest.approx(2.0) and not s["differ"]
    assert k_spread(k.assign(k_se=0.002))["differ"]
