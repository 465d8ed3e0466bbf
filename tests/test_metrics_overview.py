"""Chapter 1 metrics on small hand-computed tables."""
import math

import pandas as pd
import pytest

from fission.metrics import overview
from fission.metrics._sql import MissingTableError
from metrics_fixtures import make_con, orders_df, users_df


def _tables():
    users = users_df([
        (1, "2024-03-01", None, "organic"),
        (2, "2024-06-18", None, "kol"),
        (3, "2025-01-05", 1, "referral"),
        (4, "2025-02-01", None, "kol"),
        (5, "2025-11-11", None, "ads"),
    ])
    users.loc[users.user_id.isin([3, 5]), "city_tier"] = 4
    users.loc[users.user_id == 5, "age_band"] = "18-24"
    orders = orders_df([
        (10, 1, "2024-03-02", 100.0, "paid"),
        (11, 2, "2024-07-01", 50.0, "paid"),
        (12, 2, "2024-07-05", 999.0, "cancelled"),   # cancelled: not GMV
        (13, 1, "2025-01-10", 200.0, "refunded"),    # refunded still counts as GMV
        (14, 3, "2025-01-20", 60.0, "paid"),          # user 3: first order 15 days after signup
        (15, 5, "2025-12-31", 40.0, "paid"),          # user 5: 50 days after signup
    ])
    orders.loc[orders.order_id == 14, "discount"] = 10.0   # user 3's first-order coupon
    orders["group_id"] = pd.array([None] * len(orders), dtype="Int64")
    campaigns = pd.DataFrame({
        "campaign_id": [1, 2, 3], "name": ["a", "b", "c"], "type": ["kol", "ads", "content"],
        "platform": ["douyin"] * 3, "kol_id": [None, None, None],
        "start_ts": pd.to_datetime(["2025-03-01", "2025-05-01", "2025-05-01"]),
        "end_ts": pd.to_datetime(["2025-03-10", "2025-05-10", "2025-05-10"]),
        "cost": [500.0, 300.0, 100.0]})
    market = pd.DataFrame({"year": [2019, 2020], "market_size_cny": [1.0e12, 1.2e12],
                           "growth": [None, 0.207], "users": [None, None], "source": ["x", "y"]})
    return dict(users=users, orders=orders, campaigns=campaigns, market=market)


@pytest.fixture
def con():
    return make_con(**_tables())


def test_yearly_kpis(con):
    k = overview.yearly_kpis(con, 2025, 2024)
    assert k.attrs["census"]           # platform totals: no sampling interval
    k = k.set_index("metric")
    assert k.loc["gmv", "value"] == 300.0 and k.loc["gmv", "previous"] == 150.0
    assert k.loc["gmv", "yoy"] == pytest.approx(1.0)
    assert k.loc["orders", "value"] == 3 and k.loc["orders", "previous"] == 2
    assert k.loc["aov", "value"] == pytest.approx(100.0) and k.loc["aov", "previous"] == 75.0
    assert k.loc["new_users", "value"] == 3 and k.loc["new_users", "previous"] == 2
    assert k.loc["buyers", "value"] == 3 and k.loc["buyers", "previous"] == 2


def test_monthly_gmv(con):
    m = overview.monthly_gmv(con, [2025])
    assert m["gmv"].tolist() == [260.0, 40.0] and m["month"].tolist() == [1, 12]


def test_users_by_tier(con):
    t = overview.users_by_tier(con, 2025, 2024).set_index("city_tier")
    assert t.loc[4, "new_users"] == 2 and t.loc[4, "share"] == pytest.approx(2 / 3)
    assert t.loc[1, "new_users"] == 1 and t.loc[1, "new_users_prev"] == 2
    assert t.loc[1, "yoy"] == pytest.approx(-0.5) and t.loc[4, "tier"] == "四线"
    # the share of tier 1 fell from 2/2 to 1/3: on 5 users that is not significant
    assert t.loc[1, "diff"] == pytest.approx(1 / 3 - 1) and not t.loc[1, "significant"]
    assert t.loc[1, "diff_lo"] < t.loc[1, "diff"] < t.loc[1, "diff_hi"]


def test_buyers_by_age(con):
    a = overview.buyers_by_age(con, 2025).set_index("age_band")
    assert a.loc["25-30", "buyers"] == 2 and a.loc["18-24", "gmv"] == 40.0
    assert a["gmv_share"].sum() == pytest.approx(1.0)
    assert list(a.index) == ["18-24", "25-30"]  # contract order
    b = overview.buyers_by_age(con, 2025, 2024).set_index("age_band")
    assert b.loc["25-30", "buyers_prev"] == 2 and b.loc["25-30", "buyer_share_prev"] == 1.0
    assert b.loc["25-30", "diff"] == pytest.approx(2 / 3 - 1) and not b.loc["25-30", "significant"]


def test_acquisition_by_channel(con):
    a = overview.acquisition_by_channel(con, 2025).set_index("channel")
    assert a.loc["kol", "new_users"] == 1 and a.loc["kol", "cac"] == 500.0
    assert a.loc["ads", "cac"] == 300.0
    assert a.loc["referral", "conversion_30d"] == 1.0       # ordered 15 days after signup
    assert a.loc["ads", "conversion_30d"] == 0.0            # 50 days: outside the window
    lo, hi = a.loc["referral", ["conversion_lo", "conversion_hi"]]
    assert 0.2 < lo < 1.0 == pytest.approx(hi)             # Wilson interval of 1/1


def test_cac_is_the_full_acquisition_cost(con):
    """The old CAC counted the channel's own campaign types only: referral cost 0 here. The
    full cost adds the content campaign (it feeds referral) and the first-order coupon."""
    a = overview.acquisition_by_channel(con, 2025).set_index("channel")
    r = a.loc["referral"]
    assert (r.campaign_spend, r.incentives, r.total_cost, r.cac) == (100.0, 10.0, 110.0, 110.0)


def test_conversion_counts_only_complete_30_day_windows():
    t = _tables()
    # user 6 signs up 11 days before the data end (2025-12-31) and has not ordered yet
    t["users"] = pd.concat([t["users"], users_df([(6, "2025-12-20", None, "ads")])],
                           ignore_index=True)
    a = overview.acquisition_by_channel(make_con(**t), 2025).set_index("channel")
    assert a.loc["ads", "new_users"] == 2 and a.loc["ads", "complete_users"] == 1
    assert a.loc["ads", "cac"] == 150.0                     # the cost is spread over both


def test_market_growth_filled_from_sizes(con):
    m = overview.market_trend(con)
    assert m["growth"].tolist()[1] == pytest.approx(0.207)
    assert math.isnan(m["growth"].tolist()[0])


def test_missing_table_is_named():
    c = make_con(users=users_df([(1, "2025-01-01", None, "organic")]))
    with pytest.raises(MissingTableError, match="'orders'.*chapter 1"):
        overview.yearly_kpis(c, 2025, 2024)
