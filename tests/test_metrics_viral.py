import pandas as pd
import pytest

from fission.metrics import MissingTableError
from fission.metrics.viral import viral_k, viral_k_overall
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
