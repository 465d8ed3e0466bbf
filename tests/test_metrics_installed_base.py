"""An installed base (users who signed up long before the activity data starts) is detected and
kept out of the analyses that measure time from signup; complete histories are left alone."""
import pandas as pd
import pytest

from fission.metrics import _sql
from fission.metrics.retention import cohort_retention
from fission.metrics.survival import churn_durations
from fission.metrics.viral import viral_k_overall
from metrics_fixtures import make_con, orders_df, users_df


def _tables(legacy_signup):
    users = users_df([(1, "2025-01-03", None, "organic"), (2, "2025-01-10", 1, "referral"),
                      (9, legacy_signup, None, "ads")])
    orders = orders_df([(1, 1, "2025-01-03 12:00", 10, "paid"), (2, 2, "2025-01-12", 10, "paid"),
                        (3, 9, "2025-01-04", 10, "paid"), (4, 9, "2025-03-01", 10, "paid")])
    shares = pd.DataFrame({"share_id": [1, 2], "user_id": [1, 9],
                           "share_ts": pd.to_datetime(["2025-01-05", "2025-01-06"]),
                           "platform": ["wechat_group"] * 2, "mechanism": ["invite_coupon"] * 2,
                           "campaign_id": [None, None], "item_id": [None, None]})
    visits = pd.DataFrame({"visit_id": [1, 2], "share_id": [1, 2],
                           "visit_ts": pd.to_datetime(["2025-01-09", "2025-01-07"]),
                           "visitor_user_id": [2, None], "is_new_user": [True, True],
                           "signup_user_id": [2, None], "first_order_id": [2, None]})
    return make_con(users=users, orders=orders, shares=shares, share_visits=visits)


def test_data_start_only_when_history_is_truncated():
    assert _sql.data_start(_tables("2024-12-20")) is None               # 14 days before: complete
    assert _sql.data_start(_tables("2022-06-01")) == pd.Timestamp("2025-01-03")


def test_installed_base_left_out_of_cohorts_k_and_survival():
    complete, truncated = _tables("2024-12-20"), _tables("2022-06-01")
    # K over users with 30 observed days (data end 2025-03-01): complete → users 1, 2 and 9
    # (9 signed up 2024-12-20); truncated → users 1 and 2 only; user 1 referred user 2
    k_all = viral_k_overall(complete, 30).set_index("mechanism").loc["all"]
    k_cut = viral_k_overall(truncated, 30).set_index("mechanism").loc["all"]
    assert (k_all.cohort_size, k_all.signups) == (3, 1)
    assert (k_cut.cohort_size, k_cut.signups) == (2, 1) and k_cut.k_factor == pytest.approx(0.5)
    # churn is observable up to data end − 30 days (2025-01-30): all three signed up before
    assert set(churn_durations(complete, churn_days=30).user_id) == {1, 2, 9}
    assert set(churn_durations(truncated, churn_days=30).user_id) == {1, 2}
    cohorts = cohort_retention(truncated, "month")
    assert cohorts["cohort"].min() == pd.Timestamp("2025-01-01")
    assert cohorts.loc[cohorts.period_number == 0, "cohort_size"].sum() == 2
