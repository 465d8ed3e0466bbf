import math

import pandas as pd
import pytest

from fission.metrics import MissingTableError
from fission.metrics.content import content_gaps, content_vs_other, media_gap, review_media_effect
from metrics_fixtures import make_con, orders_df, ts, users_df


def _sharing_con():
    """Sharer 1: a content share (2 visits, 1 signup, no order) and a KOL post (1 visit);
    sharer 9: an invite share (2 visits, 2 signups, 1 first order) and a bargain share."""
    users = users_df([(1, "2025-01-01", None, "organic"), (9, "2025-01-01", None, "organic")]
                     + [(u, "2025-01-03", 1, "referral") for u in (2, 3, 4)])
    shares = pd.DataFrame({
        "share_id": [10, 11, 12, 13], "user_id": [1, 1, 9, 9],
        "share_ts": pd.to_datetime(["2025-01-02"] * 4), "platform": ["xiaohongshu"] * 4,
        "mechanism": ["content", "kol_post", "invite_coupon", "bargain"],
        "campaign_id": [None] * 4, "item_id": [None] * 4})
    visits = pd.DataFrame({
        "visit_id": [1, 2, 3, 4, 5], "share_id": [10, 10, 11, 12, 12],
        "visit_ts": pd.to_datetime(["2025-01-03"] * 5),
        "visitor_user_id": pd.array([2, None, None, 3, 4], dtype="Int64"), "is_new_user": [True] * 5,
        "signup_user_id": pd.array([2, None, None, 3, 4], dtype="Int64"),
        "first_order_id": pd.array([None, None, None, 100, None], dtype="Int64")})
    orders = orders_df([(100, 3, "2025-01-04", 50, "paid"), (101, 9, "2025-03-01", 50, "paid")])
    return make_con(users=users, shares=shares, share_visits=visits, orders=orders)


def test_content_vs_other_groups_the_funnel():
    df = content_vs_other(_sharing_con(), window_days=7).set_index("group")
    c, o = df.loc["content"], df.loc["other"]
    assert (c.shares, c.visits, c.signups, c.first_orders, c.clusters) == (2, 3, 1, 0, 1)
    assert c.visits_per_share == 1.5 and c.visit_to_signup == pytest.approx(1 / 3)
    assert (o.shares, o.visits, o.signups, o.first_orders) == (2, 2, 2, 1)
    assert o.share_reach == 0.5 and o.overall_conversion == 0.5
    only = content_vs_other(_sharing_con(), content=("content",), window_days=7).set_index("group")
    assert only.loc["other", "shares"] == 3


def test_content_gaps_carry_an_interval():
    cv = pd.DataFrame({"group": ["content", "other"],
                       "visit_to_signup": [0.02, 0.08], "visit_to_signup_se": [0.0005, 0.0007],
                       "visits_per_share": [5.0, 4.9], "visits_per_share_se": [0.1, 0.1]})
    g = content_gaps(cv, rates=("visit_to_signup", "visits_per_share")).set_index("rate")
    assert g.loc["visit_to_signup", "diff"] == pytest.approx(-0.06)
    assert g.loc["visit_to_signup", "significant"] and g.loc["visit_to_signup", "hi"] < 0
    assert g.loc["visit_to_signup", "ratio"] == pytest.approx(0.25)
    # 0.1 apart with se 0.14: not significant, the interval spans 0
    assert not g.loc["visits_per_share", "significant"]
    assert g.loc["visits_per_share", "lo"] < 0 < g.loc["visits_per_share", "hi"]


def _ugc_tables():
    reviews = pd.DataFrame({
        "review_id": [1, 2, 3, 4, 5, 6], "order_id": [1, 2, 3, 4, 5, 6],
        "user_id": [9] * 6, "item_id": [1, 1, 2, 2, 3, 1],
        "rating": [5, 3, 2, 4, 5, 1],
        "review_ts": ts("2025-01-05", "2025-02-05", "2025-03-05", "2025-04-05", "2025-05-05",
                        "2024-05-05"),  # the last one is from the other year
        "has_media": [True, True, False, False, True, False], "text_len": [10] * 6})
    ev = [(1, "2025-01-01", 1), (1, "2025-01-02", 1), (2, "2025-01-03", 1),   # item 1: users 1, 2
          (1, "2025-01-01", 2), (2, "2025-01-01", 2), (3, "2025-01-01", 2),   # item 2: users 1-3
          (1, "2025-01-01", 3), (3, "2024-06-01", 1)]                        # other item / year
    events = pd.DataFrame(ev, columns=["user_id", "ts", "item_id"])
    events["ts"] = pd.to_datetime(events["ts"])
    events["event_type"] = "view"
    events.loc[len(events)] = [4, pd.Timestamp("2025-01-01"), 1, "click"]    # not a view
    events["session_id"] = 1
    events["source"] = "feed"
    events["algo_variant"] = "a"
    orders = orders_df([(100, 1, "2025-02-01", 10, "paid"), (101, 3, "2025-02-01", 10, "cancelled"),
                        (102, 2, "2024-02-01", 10, "paid"), (103, 4, "2025-02-01", 10, "paid")])
    order_items = pd.DataFrame({"order_id": [100, 100, 101, 102, 103], "item_id": [1, 2, 2, 2, 1],
                                "qty": [1] * 5, "unit_price": [10.0] * 5})
    return dict(reviews=reviews, events=events, orders=orders, order_items=order_items)


def test_review_media_effect_on_item_conversion():
    df = review_media_effect(make_con(**_ugc_tables()), 2025, min_reviews=2).set_index("group")
    # item 1: 2/2 media reviews (high), item 2: 0/2 (low); item 3 has one review only
    assert review_media_effect(make_con(**_ugc_tables()), 2025, min_reviews=2).attrs["threshold"] == 0.5
    hi, lo = df.loc["high"], df.loc["low"]
    assert (hi["items"], hi.reviews, hi.media_reviews, hi.avg_rating) == (1, 2, 2, 4)
    assert (lo["items"], lo.reviews, lo.media_reviews, lo.avg_rating) == (1, 2, 0, 3)
    # item 1 viewed by users 1, 2 (user 1 bought it; user 4 bought it but never viewed)
    assert (hi.viewers, hi.converted, hi.view_to_buy) == (2, 1, 0.5)
    # item 2 viewed by users 1-3; user 1 bought it, user 3's order was cancelled
    assert (lo.viewers, lo.converted) == (3, 1) and lo.view_to_buy == pytest.approx(1 / 3)


def test_review_media_effect_empty_and_missing():
    df = review_media_effect(make_con(**_ugc_tables()), 2025, min_reviews=5)
    assert df["items"].tolist() == [0, 0] and math.isnan(df.view_to_buy[0])
    t = _ugc_tables()
    del t["events"]
    with pytest.raises(MissingTableError):
        review_media_effect(make_con(**t), 2025)


def test_media_gap_is_clustered_by_item_and_not_significant_on_noise():
    df = review_media_effect(make_con(**_ugc_tables()), 2025, min_reviews=2)
    # one viewed item per group: no between-item variation to estimate an error from
    assert df["viewed_items"].tolist() == [1, 1] and df["view_to_buy_se"].isna().all()
    ugc = pd.DataFrame({"group": ["high", "low"], "view_to_buy": [0.283, 0.2834],
                        "view_to_buy_se": [0.0034, 0.0051]})
    g = media_gap(ugc)
    assert g["diff"] == pytest.approx(-0.0004) and not g["significant"]
    assert g["lo"] < 0 < g["hi"] and g["rel"] == pytest.approx(-0.0004 / 0.2834)
