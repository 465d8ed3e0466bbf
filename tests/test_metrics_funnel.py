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


# ---------------------------------------------------------------- uncertainty of funnel rates
def _two_sharers():
    """Sharers 1 and 9 send shares 10, 11 (user 1) and 12 (user 9); every visit signs up."""
    users = users_df([(1, "2025-01-01", None, "organic"), (9, "2025-01-01", None, "organic")]
                     + [(u, "2025-01-03", 1, "referral") for u in (2, 3, 4, 5)])
    shares = pd.DataFrame({
        "share_id": [10, 11, 12], "user_id": [1, 1, 9],
        "share_ts": pd.to_datetime(["2025-01-02"] * 3), "platform": ["wechat_group"] * 3,
        "mechanism": ["invite_coupon", "content", "invite_coupon"],
        "campaign_id": [None] * 3, "item_id": [None] * 3})
    visits = pd.DataFrame({
        "visit_id": [1, 2, 3, 4], "share_id": [10, 10, 11, 12],
        "visit_ts": pd.to_datetime(["2025-01-03"] * 4),
        "visitor_user_id": pd.array([2, 3, 4, 5], dtype="Int64"), "is_new_user": [True] * 4,
        "signup_user_id": pd.array([2, 3, 4, 5], dtype="Int64"),
        "first_order_id": pd.array([100, None, None, 101], dtype="Int64")})
    orders = orders_df([(100, 2, "2025-01-04", 50, "paid"), (101, 5, "2025-01-04", 50, "paid"),
                        (102, 9, "2025-02-01", 50, "paid")])
    return make_con(users=users, shares=shares, share_visits=visits, orders=orders)


def test_funnel_keeps_cluster_sums_per_sharer():
    tot = funnel(_two_sharers(), by=(), window_days=7).iloc[0]
    # clusters: sharer 1 (2 shares, 3 visits, 3 signups, 1 first order), sharer 9 (1, 1, 1, 1)
    assert tot.clusters == 2 and (tot.shares, tot.visits, tot.first_orders) == (3, 4, 2)
    assert (tot.ss_sh, tot.ss_v, tot.ss_f) == (4 + 1, 9 + 1, 1 + 1)
    assert tot.sp_f_sh == 1 * 2 + 1 * 1 and tot.sp_s_v == 3 * 3 + 1 * 1
    # overall conversion R = 2/3; residuals y - R x: 1 - 4/3, 1 - 2/3 → Σd² = 2/9;
    # Var = n/(n-1) · Σd² / X² = 2 · (2/9) / 9
    assert tot.overall_conversion_se == pytest.approx((2 * (2 / 9) / 9) ** 0.5)
    by_type = funnel(_two_sharers(), by="share_type", window_days=7).set_index("share_type")
    assert by_type.loc["content", "shares"] == 1 and by_type.loc["other", "clusters"] == 2
    assert pd.isna(by_type.loc["content", "overall_conversion_se"])   # one cluster: no error


def test_ratio_se_covers_the_truth_when_sharers_differ():
    """The clustered error has ~95% coverage when conversion varies by sharer; a binomial
    error that treats every share as independent does not (why the funnel clusters)."""
    import numpy as np
    from fission.metrics.funnel import ratio_se
    rng = np.random.default_rng(7)
    n, reps, true = 300, 1000, 0.10
    cover = naive = 0
    for _ in range(reps):
        x = rng.integers(1, 12, n)                                  # shares per sharer
        p = rng.beta(0.5, 4.5, n)                                   # sharer's conversion, mean 0.1
        y = rng.binomial(x, p)
        se = ratio_se(n, y.sum(), x.sum(), (y * y).sum(), (x * x).sum(), (x * y).sum())
        r = y.sum() / x.sum()
        cover += abs(r - true) <= 1.96 * se
        naive += abs(r - true) <= 1.96 * (r * (1 - r) / x.sum()) ** 0.5
    assert 0.93 <= cover / reps <= 0.97
    assert naive / reps < 0.85


def test_diff_rates_and_year_on_year_changes():
    from fission.metrics.funnel import diff_rates, funnel_changes
    a = pd.Series({"mechanism": "x", "overall_conversion": 0.12, "overall_conversion_se": 0.006})
    b = pd.Series({"mechanism": "x", "overall_conversion": 0.10, "overall_conversion_se": 0.008})
    d = diff_rates(a, b, "overall_conversion")
    # se = hypot(0.006, 0.008) = 0.01; z = 2 → p = 0.0455
    assert d["diff"] == pytest.approx(0.02) and d["lo"] == pytest.approx(0.02 - 1.959964 * 0.01)
    assert d["p_value"] == pytest.approx(0.0455, abs=1e-4) and d["significant"]
    b2 = b.copy(); b2["overall_conversion_se"] = 0.012       # se = hypot(.006, .012) = 0.0134
    assert not diff_rates(a, b2, "overall_conversion")["significant"]
    with pytest.raises(ValueError):
        diff_rates(a, b, "visit_to_signup")
    cur = pd.DataFrame([a, pd.Series({"mechanism": "y", "overall_conversion": 0.2,
                                      "overall_conversion_se": 0.01})])
    ch = funnel_changes(cur, pd.DataFrame([b]), "mechanism", rates=("overall_conversion",))
    assert ch["mechanism"].tolist() == ["x"] and ch["significant"].tolist() == [True]
