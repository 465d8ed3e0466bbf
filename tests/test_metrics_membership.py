"""Membership effect on small hand-computed tables."""
import math

import pandas as pd
import pytest

from fission.metrics import membership as M
from metrics_fixtures import make_con, orders_df, ts, users_df


def _users():
    u = users_df([
        (1, "2024-01-01 10:00", None, "organic"),   # member since day 10
        (2, "2024-01-01 10:00", None, "organic"),   # member since day 100 (after the landmark)
        (3, "2024-01-01 10:00", None, "ads"),       # non-member
        (4, "2024-01-01 10:00", None, "ads"),       # non-member, never orders
        (5, "2025-05-01 10:00", None, "ads"),       # too late: window not observed
        (6, "2025-01-01 10:00", None, "kol"),       # 2025 cohort, member since day 5
    ])
    u["is_member"] = [True, True, False, False, True, True]
    u["member_since"] = ts("2024-01-11 10:00", "2024-04-10 10:00", None, None,
                           "2025-05-02 10:00", "2025-01-06 10:00")
    return u


def _orders():
    return orders_df([
        # user 1: 2 orders before day 30, 1 paid in (30, 90), 1 cancelled in (30, 90)
        (1, 1, "2024-01-02 10:00", 100, "paid"),
        (2, 1, "2024-01-20 10:00", 50, "paid"),
        (3, 1, "2024-02-15 10:00", 80, "paid"),
        (4, 1, "2024-02-16 10:00", 999, "cancelled"),
        # user 2: 1 order before day 30, 1 refunded after (counts as order, not as GMV)
        (5, 2, "2024-01-05 10:00", 30, "paid"),
        (6, 2, "2024-03-01 10:00", 40, "refunded"),
        # user 3: 1 order before day 30, nothing after; 1 order after the 90-day horizon
        (7, 3, "2024-01-03 10:00", 20, "paid"),
        (8, 3, "2024-06-01 10:00", 20, "paid"),
        # user 5 and 6 orders
        (9, 5, "2025-05-05 10:00", 10, "paid"),
        (10, 6, "2025-01-10 10:00", 70, "paid"),
        (11, 6, "2025-03-10 10:00", 30, "paid"),
        (12, 6, "2025-06-30 10:00", 5, "paid"),     # data end
    ])


@pytest.fixture
def con():
    return make_con(users=_users(), orders=_orders())


def test_summary_by_current_status(con):
    # horizon 90 days, last 60 days = [day 30, day 90); data end 2025-06-30 → user 5 out
    s = M.membership_summary(con, horizon_days=90, active_days=60).set_index("member")
    mem, non = s.loc[True], s.loc[False]
    # members 1, 2, 6: orders 3, 2, 2 (cancelled excluded); GMV 230, 30, 100
    assert mem.users == 3
    assert mem.orders_per_user == pytest.approx(7 / 3)
    assert mem.buyer_rate == pytest.approx(1.0)
    assert mem.repeat_rate == pytest.approx(1.0)
    assert mem.gmv_per_user == pytest.approx(360 / 3)
    assert mem.active_end_rate == pytest.approx(1.0)     # each has an order in [30, 90)
    # non-members 3, 4: orders 1 (order 8 is after day 90), 0
    assert non.users == 2
    assert non.orders_per_user == pytest.approx(0.5)
    assert non.orders_sd == pytest.approx(math.sqrt(0.5))
    assert non.buyer_rate == pytest.approx(0.5)
    assert non.repeat_rate == 0
    assert non.gmv_per_user == pytest.approx(10)
    assert non.active_end_rate == 0


def test_summary_cohort_year_and_validation(con):
    s = M.membership_summary(con, horizon_days=90, active_days=60, cohort_year=2025)
    assert s.member.tolist() == [True] and s.users.tolist() == [1]
    with pytest.raises(ValueError):
        M.membership_summary(con, horizon_days=30, active_days=60)


def test_landmark_fixes_status_at_the_landmark(con):
    # landmark 30 days, window 60 days → outcomes in [30, 90); needs an order before day 30
    lm = M.membership_landmark(con, landmark_days=30, window_days=60).set_index("member")
    # member at landmark: users 1 and 6 (user 2 joined on day 100 → non-member)
    mem, non = lm.loc[True], lm.loc[False]
    assert mem.users == 2
    assert mem.pre_orders_per_user == pytest.approx((2 + 1) / 2)
    assert mem.orders_per_user == pytest.approx((1 + 1) / 2)     # order 3; order 11
    assert mem.active_rate == pytest.approx(1.0)
    assert mem.gmv_per_user == pytest.approx((80 + 30) / 2)
    # non-members at landmark with an early order: users 2 and 3 (user 4 never ordered)
    assert non.users == 2
    assert non.pre_orders_per_user == pytest.approx(1.0)
    assert non.orders_per_user == pytest.approx(0.5)            # user 2's refunded order
    assert non.active_rate == pytest.approx(0.5)
    assert non.gmv_per_user == 0                                 # refunded: no GMV
    everyone = M.membership_landmark(con, landmark_days=30, window_days=60, require_order=False)
    assert everyone.set_index("member").loc[False, "users"] == 3  # user 4 included


def test_effect_differences_and_intervals(con):
    lm = pd.DataFrame({"member": [True, False], "users": [400, 1600],
                       "pre_orders_per_user": [2.0, 1.5], "active_rate": [0.5, 0.4],
                       "orders_per_user": [3.0, 2.0], "orders_sd": [2.0, 1.0],
                       "gmv_per_user": [300.0, 200.0]})
    e = M.membership_effect(lm).set_index("metric")
    a = e.loc["active_rate"]
    se = math.sqrt(0.25 / 400 + 0.24 / 1600)
    assert a.abs_diff == pytest.approx(0.1)
    assert a.abs_lo == pytest.approx(0.1 - 1.959964 * se, rel=1e-5)
    assert a.abs_hi == pytest.approx(0.1 + 1.959964 * se, rel=1e-5)
    assert a.ratio == pytest.approx(1.25)
    o = e.loc["orders_per_user"]
    rse = math.sqrt(4 / 400 / 4 + 9 * 1 / 1600 / 16)            # delta method for 3/2
    assert o.ratio == pytest.approx(1.5)
    assert o.ratio_lo == pytest.approx(1.5 - 1.959964 * rse, rel=1e-5)
    assert o.ratio_hi == pytest.approx(1.5 + 1.959964 * rse, rel=1e-5)
    assert o.p_value < 1e-6
    with pytest.raises(ValueError):
        M.membership_effect(lm.iloc[:1])
