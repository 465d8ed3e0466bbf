import pandas as pd
import pytest

from fission.metrics import MissingTableError
from fission.metrics.funnel import funnel, funnel_steps
from metrics_fixtures import make_con, orders_df, users_df


def _con():
    users = users_df([
        (1, "2025-01-01", None, "organic"),
        (2, "2025-01-02 12:00", 1, "referral"),   # 12 h after share 10
        (4, "2025-01-03 00:00", 1, "referral"),   # 24 h after share 10
        (3, "2025-01-20 00:00", 1, "referral"),   # 15 days after share 11
    ])
    shares = pd.DataFrame({
        "share_id": [10, 11], "user_id": [1, 1],
        "share_ts": pd.to_datetime(["2025-01-02 00:00", "2025-01-05 00:00"]),
        "platform": ["wechat_group", "douyin"], "mechanism": ["invite_coupon", "group_buy"],
        "campaign_id": [None, None], "item_id": [None, None]})
    visits = pd.DataFrame({
        "visit_id": [1, 2, 3, 4, 5], "share_id": [10, 10, 10, 10, 11],
        "visit_ts": pd.to_datetime(["2025-01-02 06:00", "2025-01-02 07:00", "2025-01-03 00:00",
                                    "2025-01-15 00:00", "2025-01-06 00:00"]),
        "visitor_user_id": pd.array([2, None, 4, None, 3], dtype="Int64"),
        "is_new_user": [True] * 5,
        "signup_user_id": pd.array([2, None, 4, None, 3], dtype="Int64"),
        "first_order_id": pd.array([100, None, 101, None, None], dtype="Int64")})
    orders = orders_df([(100, 2, "2025-01-03 00:00", 50, "paid"),     # 24 h after share
                        (101, 4, "2025-01-20 00:00", 80, "paid")])    # 18 days after share
    return make_con(users=users, shares=shares, share_visits=visits, orders=orders)


def test_funnel_by_mechanism_7_days():
    df = funnel(_con(), by="mechanism", window_days=7).set_index("mechanism")
    ic = df.loc["invite_coupon"]
    # visits 1,2,3 are within 7 days (visit 4 is not); signups users 2 and 4; one first order
    assert (ic.shares, ic.visits, ic.signups, ic.first_orders) == (1, 3, 2, 1)
    assert ic.visits_per_share == 3 and ic.visit_to_signup == pytest.approx(2 / 3)
    assert ic.signup_to_order == 0.5 and ic.overall_conversion == 1.0
    assert ic.hours_to_signup_median == pytest.approx(18) and ic.hours_to_signup_mean == 18
    assert ic.hours_to_order_median == pytest.approx(24)
    gb = df.loc["group_buy"]
    # the visit counts, the signup 15 days later does not
    assert (gb.shares, gb.visits, gb.signups, gb.first_orders) == (1, 1, 0, 0)
    assert pd.isna(gb.signup_to_order) and gb.share_reach == 1


def test_funnel_total_and_platform():
    tot = funnel(_con(), by=(), window_days=7)
    assert len(tot) == 1
    assert tot.loc[0, ["shares", "visits", "signups", "first_orders"]].tolist() == [2, 4, 2, 1]
    assert tot.loc[0, "overall_conversion"] == 0.5
    steps = funnel_steps(tot)
    assert steps["count"].tolist() == [2, 4, 2, 1]
    assert steps["step_conversion"].tolist()[1:] == [2.0, 0.5, 0.5]
    plat = funnel(_con(), by="platform").set_index("platform")
    assert plat.loc["douyin", "visits"] == 1


def test_funnel_window_and_completeness():
    con = _con()
    # data end is 2025-01-20: with 30 days no share is fully observed
    assert funnel(con, by=(), window_days=30)["shares"].tolist() == [0]
    df = funnel(con, by="mechanism", window_days=30, complete_only=False).set_index("mechanism")
    assert df.loc["invite_coupon", ["visits", "signups", "first_orders"]].tolist() == [4, 2, 2]
    assert df.loc["group_buy", ["visits", "signups"]].tolist() == [1, 1]
    assert df.loc["invite_coupon", "hours_to_order_mean"] == pytest.approx((24 + 18 * 24) / 2)


def test_funnel_missing_table():
    con = make_con(users=users_df([(1, "2025-01-01", None, "organic")]))
    with pytest.raises(MissingTableError, match="shares"):
        funnel(con)
    with pytest.raises(ValueError):
        funnel(_con(), by="nope")
