import math

import pandas as pd
import pytest

from fission.metrics import MissingTableError
from fission.metrics.content import content_vs_other, review_media_effect
from metrics_fixtures import make_con, orders_df, ts


def test_content_vs_other_pools_counts():
    f = pd.DataFrame({
        "mechanism": ["content", "kol_post", "invite_coupon", "bargain"],
        "shares": [10, 10, 20, 0], "visits": [40, 60, 40, 0], "shares_with_visit": [8, 10, 15, 0],
        "signups": [2, 3, 10, 0], "first_orders": [1, 1, 5, 0]})
    df = content_vs_other(f).set_index("group")
    c, o = df.loc["content"], df.loc["other"]
    assert (c.shares, c.visits, c.signups, c.first_orders) == (20, 100, 5, 2)
    assert c.visits_per_share == 5 and c.visit_to_signup == 0.05 and c.signup_to_order == 0.4
    assert c.share_reach == 0.9 and c.overall_conversion == 0.1
    assert (o.shares, o.visits, o.signups, o.first_orders) == (20, 40, 10, 5)
    assert o.signups_per_share == 0.5 and o.overall_conversion == 0.25
    only = content_vs_other(f, content=("content",)).set_index("group")
    assert only.loc["other", "shares"] == 30
    with pytest.raises(KeyError):
        content_vs_other(f.drop(columns="visits"))


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
