import math

import pandas as pd
import pytest

from fission.metrics import MissingTableError
from fission.metrics.incentives import channel_mix, incentive_cost
from metrics_fixtures import make_con, orders_df, ts, users_df


def _tables():
    users = users_df([
        (1, "2025-01-01", None, "organic"),
        (2, "2025-01-02", 1, "referral"),      # invite_coupon share 10
        (3, "2025-01-03", 1, "referral"),      # group_buy share 11
        (4, "2025-02-05", None, "group_buy"),  # joined group 7 as a new user
        (5, "2024-12-30", 1, "referral"),      # acquired in 2024 (share 12)
        (6, "2025-03-01", 1, "referral"),      # invite_coupon share 10, first order too late
        (7, "2023-05-01", None, "organic"),    # an old user who leads group buys
    ])
    shares = pd.DataFrame({
        "share_id": [10, 11, 12, 13, 14], "user_id": [1] * 5,
        "share_ts": ts("2025-01-01", "2025-01-02", "2024-12-29", "2025-01-01", "2025-01-01"),
        "platform": ["wechat_group"] * 5,
        "mechanism": ["invite_coupon", "group_buy", "invite_coupon", "content", "bargain"],
        "campaign_id": pd.array([None] * 5, dtype="Int64"),
        "item_id": pd.array([None] * 5, dtype="Int64")})
    visits = pd.DataFrame({
        "visit_id": [1, 2, 3, 4, 5], "share_id": [10, 11, 12, 10, 10],
        "visit_ts": ts("2025-01-02", "2025-01-03", "2024-12-30", "2025-03-01", "2025-01-02"),
        "visitor_user_id": pd.array([2, 3, 5, 6, None], dtype="Int64"),
        "is_new_user": [True] * 5,
        "signup_user_id": pd.array([2, 3, 5, 6, None], dtype="Int64"),
        "first_order_id": pd.array([100, 102, 108, None, None], dtype="Int64")})
    orders = orders_df([
        (100, 2, "2025-01-03", 90, "paid"),       # first order of 2: discount 10
        (101, 2, "2025-01-10", 50, "paid"),       # not a first order
        (102, 3, "2025-01-04", 80, "paid"),       # group order, first of 3: discount 20
        (103, 4, "2025-02-06", 80, "paid"),       # group order, first of joiner 4: discount 20
        (104, 7, "2025-01-06", 80, "paid"),       # group order of an old user: discount 20
        (105, 7, "2025-01-07", 70, "cancelled"),  # cancelled group order: not counted
        (106, 7, "2024-06-01", 50, "paid"),       # group order of the other year
        (107, 6, "2025-04-15", 40, "paid"),       # 45 days after sign-up
        (108, 5, "2025-01-01", 40, "paid"),       # user acquired in 2024
    ])
    orders["discount"] = [10.0, 5, 20, 20, 20, 30, 50, 10, 10]
    orders["group_id"] = pd.array([None, None, 7, 7, 7, 8, 9, None, None], dtype="Int64")
    members = pd.DataFrame({"group_id": [7, 7, 7], "user_id": [7, 3, 4],
                            "joined_ts": ts("2025-01-04", "2025-01-04", "2025-02-06"),
                            "is_new_user": [False, True, True]})
    campaigns = pd.DataFrame({
        "campaign_id": [1, 2, 3, 4, 5], "name": list("abcde"),
        "type": ["coupon", "group_buy", "content", "kol", "coupon"],
        "platform": ["wechat_group"] * 5, "kol_id": pd.array([None] * 5, dtype="Int64"),
        "start_ts": ts("2025-01-01", "2025-01-01", "2025-01-01", "2025-01-01", "2024-01-01"),
        "end_ts": ts("2025-01-31", "2025-01-31", "2025-01-21", "2025-01-05", "2024-01-31"),
        "cost": [100.0, 60, 40, 1000, 999]})
    return dict(users=users, shares=shares, share_visits=visits, orders=orders,
                group_members=members, campaigns=campaigns)


def test_incentive_cost_per_mechanism():
    df = incentive_cost(make_con(**_tables()), 2025)
    assert df.mechanism.tolist()[:2] == ["group_buy", "invite_coupon"]  # highest cost first
    d = df.set_index("mechanism")
    ic = d.loc["invite_coupon"]
    # users 2 and 6 acquired; only 2's first order is within 30 days (discount 10); coupon 100
    assert (ic.acquired_users, ic.first_orders) == (2, 1)
    assert (ic.first_order_discount, ic.group_discount, ic.campaign_spend) == (10, 0, 100)
    assert ic.cost_per_user == 55 and ic.first_order_rate == 0.5
    gb = d.loc["group_buy"]
    # 3 (referred: first order 102, 20) + 4 (joiner: its first order 103 is a group order,
    # counted with the other group order 104 as group discount, 20 + 20)
    assert gb.acquired_users == 2
    assert (gb.first_order_discount, gb.group_discount, gb.campaign_spend) == (20, 40, 60)
    assert gb.total_cost == 120 and gb.cost_per_user == 60
    ct = d.loc["content"]
    assert ct.acquired_users == 0 and ct.campaign_spend == 40 and math.isnan(ct.cost_per_user)
    assert d.loc["bargain", "total_cost"] == 0


def test_incentive_cost_other_year_and_missing_tables():
    t = _tables()
    d = incentive_cost(make_con(**t), 2024).set_index("mechanism")
    # user 5 signed up in 2024; first order 108 within 30 days (discount 10); coupon 999;
    # group order 106 (discount 50) in 2024
    assert d.loc["invite_coupon", "acquired_users"] == 1
    assert d.loc["invite_coupon", "total_cost"] == 10 + 999
    assert d.loc["group_buy", "group_discount"] == 50
    del t["group_members"], t["campaigns"]
    d = incentive_cost(make_con(**t), 2025).set_index("mechanism")
    assert d.loc["group_buy", "acquired_users"] == 1 and d.loc["group_buy", "campaign_spend"] == 0
    with pytest.raises(ValueError):
        incentive_cost(make_con(**t), 2025, window_days=0)
    del t["shares"]
    with pytest.raises(MissingTableError):
        incentive_cost(make_con(**t), 2025)


def test_channel_mix_by_month():
    df = channel_mix(make_con(users=_tables()["users"]), [2025])
    assert len(df) == 9  # 3 months × 3 channels, zero-filled
    jan = df[df.month == pd.Timestamp("2025-01-01")].set_index("channel")
    assert jan.new_users.to_dict() == {"group_buy": 0, "organic": 1, "referral": 2}
    assert jan.loc["referral", "share"] == pytest.approx(2 / 3)
    assert df.groupby("month").share.sum().tolist() == pytest.approx([1, 1, 1])
    dec = channel_mix(make_con(users=_tables()["users"]), 2024)
    assert dec[["channel", "new_users", "share", "year"]].values.tolist() == [["referral", 1, 1.0, 2024]]


def test_incentive_total_pools_mechanisms():
    from fission.metrics.incentives import incentive_total
    tot = incentive_total(incentive_cost(make_con(**_tables()), 2025))
    # users 2, 6, 3, 4; costs 110 + 120 + 40 (content campaign, no users) + 0
    assert tot["acquired_users"] == 4 and tot["first_orders"] == 3
    assert tot["total_cost"] == 270 and tot["cost_per_user"] == 67.5
    assert tot["first_order_rate"] == 0.75
    empty = incentive_total(incentive_cost(make_con(**_tables()), 2023))
    assert empty["acquired_users"] == 0 and math.isnan(empty["cost_per_user"])


def test_full_acquisition_cost_per_channel():
    """Chapter 1's view of the same ledger: campaign spend plus every incentive per
    acquisition channel (the old CAC counted coupon campaigns only: referral 100 / 3)."""
    from fission.metrics.incentives import acquisition_cost
    d = acquisition_cost(make_con(**_tables()), 2025, by="channel").set_index("channel")
    ref = d.loc["referral"]
    # users 2, 3, 6; first orders 100 (10) and 102 (20); coupon 100 + content 40
    assert (ref.acquired_users, ref.first_orders) == (3, 2)
    assert (ref.campaign_spend, ref.first_order_discount, ref.group_discount) == (140, 30, 0)
    assert ref.total_cost == 170 and ref.cost_per_user == pytest.approx(170 / 3)
    gb = d.loc["group_buy"]
    # joiner 4: first order 103 (20); group order 104 of old user 7 (20); subsidy 60
    assert (gb.acquired_users, gb.campaign_spend, gb.incentives, gb.cost_per_user) == (1, 60, 40, 100)
    assert d.loc["organic", "total_cost"] == 0 and d.loc["organic", "acquired_users"] == 1
    assert d.loc["kol", "acquired_users"] == 0 and d.loc["kol", "campaign_spend"] == 1000
    with pytest.raises(ValueError, match="by"):
        acquisition_cost(make_con(**_tables()), 2025, by="platform")


def test_both_chapters_sum_one_ledger():
    """The fission channels' full cost equals the mechanisms' full cost, component by
    component: chapter 1 and chapter 2 differ only in the denominator."""
    from fission.metrics.incentives import FISSION_CHANNELS, acquisition_cost, cost_ledger
    con = make_con(**_tables())
    ch = acquisition_cost(con, 2025, by="channel").set_index("channel")
    me = acquisition_cost(con, 2025, by="mechanism")
    cols = ["campaign_spend", "first_order_discount", "group_discount", "total_cost"]
    assert ch.loc[list(FISSION_CHANNELS), cols].sum().tolist() == me[cols].sum().tolist()
    led = cost_ledger(con, 2025)
    assert led.amount.sum() == ch.total_cost.sum() == 270 + 1000
    assert set(led.component) == {"campaign_spend", "first_order_discount", "group_discount"}


def test_first_order_counted_once_across_years():
    """A referral user's first order that is also a group order is counted once: as the
    first-order discount of the user's sign-up year, not again as a group discount."""
    from fission.metrics.incentives import cost_ledger
    t = _tables()

    def amount(year, component):
        led = cost_ledger(make_con(**t), year)
        return led.loc[led.component == component, "amount"].sum()
    # user 3 signed up in 2025: 102 is a 2025 first-order discount; group orders 103 + 104
    assert (amount(2025, "first_order_discount"), amount(2025, "group_discount")) == (30, 40)
    t["users"].loc[t["users"].user_id == 3, "signup_ts"] = pd.Timestamp("2024-12-30")
    t["share_visits"].loc[t["share_visits"].visit_id == 2, "visit_ts"] = pd.Timestamp("2024-12-30")
    t["shares"].loc[t["shares"].share_id == 11, "share_ts"] = pd.Timestamp("2024-12-29")
    assert amount(2024, "first_order_discount") == 10 + 20                 # users 5 and 3
    assert (amount(2025, "first_order_discount"), amount(2025, "group_discount")) == (10, 40)
