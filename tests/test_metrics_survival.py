import numpy as np
import pandas as pd
import pytest

from fission.metrics.survival import (channel_funnel, churn_durations, cox_churn, early_churn,
                                      gap_trend, kaplan_meier, km_curves, survival_gap,
                                      survival_table)
from metrics_fixtures import make_con, orders_df, users_df


def _con():
    users = users_df([
        (1, "2025-01-01", None, "organic"),
        (2, "2025-01-01", None, "organic"),
        (3, "2025-01-01", None, "ads"),
        (4, "2025-09-01", None, "ads"),
        (5, "2025-11-01", None, "ads"),               # after the cutoff: nothing observable
    ])
    orders = orders_df([
        (1, 1, "2025-01-11", 1, "paid"), (2, 1, "2025-03-01", 1, "paid"),   # gaps 10, 49 d
        (3, 1, "2025-12-01", 1, "paid"),              # gap 275 d after Mar 1 → churn at day 59
        (4, 2, "2025-06-01", 1, "cancelled"),         # never really ordered → not a buyer
        (5, 3, "2025-10-01", 1, "paid"),              # 91 d to data end → churn at day 273
        (6, 4, "2025-11-01", 1, "paid"), (7, 4, "2025-12-01", 1, "paid"),
        (8, 1, "2025-12-31", 1, "paid"),              # data end 2025-12-31 → cutoff 2025-10-02
        (9, 5, "2025-11-02", 1, "paid"),
    ])
    return make_con(users=users, orders=orders)


def test_churn_durations_censor_at_the_cutoff_not_the_last_order():
    d = churn_durations(_con(), churn_days=90, first_order_within_days=None).set_index("user_id").sort_index()
    assert d.index.tolist() == [1, 3, 4]          # 2 never bought; 5 signed up after the cutoff
    assert d["event"].tolist() == [1, 1, 0]
    # user 4 has not churned: censored at the cutoff 2025-10-02 (31 days after signup), not at
    # the last order (day 91) — a churn after the cutoff could never be seen
    assert d["duration_days"].tolist() == [59.0, 273.0, 31.0]
    assert d.loc[1, "orders_after_churn"] == 2 and d.loc[3, "orders_after_churn"] == 0
    assert d.loc[4, "first_order_days"] == 61.0
    t = survival_table(_con(), "acquisition_channel", first_order_within_days=None)
    assert t["n"].sum() == 3
    # the default population: first order within 30 days of signup (users 3 and 4 ordered
    # first after 273 and 61 days)
    assert churn_durations(_con(), churn_days=90)["user_id"].tolist() == [1]
    assert churn_durations(_con(), churn_days=90, first_order_within_days=70)["user_id"].tolist() == [1, 4]


def test_kaplan_meier_by_channel():
    r = kaplan_meier(_con(), "acquisition_channel", at_days=(30, 60), first_order_within_days=None)
    m = r.medians.set_index("group")
    # organic: one buyer, churned at day 59 → S(30)=1, S(60)=0, median 59
    assert m.loc["organic", "events"] == 1 and m.loc["organic", "median_days"] == 59
    assert m.loc["organic", "survival_30d"] == 1 and m.loc["organic", "survival_60d"] == 0
    # ads: censored at 31, churned at 273 → S(60)=1, S(273)=0
    assert m.loc["ads", "survival_60d"] == 1 and m.loc["ads", "median_days"] == 273
    assert set(r.curves["group"]) == {"ads", "organic"}


def _exp_world(n, mean_life, gap_days, churn_days, seed, signup_days=730, end_day=730):
    """Users signing up uniformly over ``signup_days``, ordering every ``gap_days`` from signup
    while alive (lifetime exponential); orders after ``end_day`` are cut off. Returns the
    connection and each user's true churn time (last order before death: the order followed
    by a gap ≥ churn_days), known from the uncensored lifetimes."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    signup = rng.uniform(0, signup_days, n)
    life = rng.exponential(mean_life, n)
    k = np.floor(life / gap_days).astype(int) + 1            # orders at 0, gap, 2·gap, ... ≤ life
    true_churn = (k - 1) * gap_days
    uid = np.repeat(np.arange(n), k)
    t = np.concatenate([s + np.arange(m) * gap_days for s, m in zip(signup, k)])
    keep = t <= end_day
    orders = pd.DataFrame({"order_id": np.arange(keep.sum()), "user_id": uid[keep],
                           "order_ts": start + pd.to_timedelta(t[keep], unit="D"), "gmv": 1.0,
                           "status": "paid", "discount": 0.0, "channel": "organic"})
    orders.loc[len(orders)] = [len(orders), 0, start + pd.Timedelta(days=end_day), 1.0, "paid", 0.0,
                               "organic"]                   # pins the data end
    users = users_df([(i, start + pd.Timedelta(days=float(s)), None, "organic")
                      for i, s in enumerate(signup)])
    return make_con(users=users, orders=orders), true_churn


def test_km_median_recovers_the_uncensored_truth():
    # True median time to churn = median of the users' last orders, known without censoring.
    # ~3,400 buyers are observable: the median's sampling s.e. is ≈ 0.7 day and churn times
    # are even days, so the tolerance is 3 days (one order gap + 2 s.e.). S(90) is held to
    # ±2 points (s.e. ≈ 0.5 point). Censoring at the last order instead of the cutoff gives
    # a median of 32 (+6 days) and S(90) ≈ 0.15 (+5 points) here, and fails both.
    con, true_churn = _exp_world(4000, mean_life=40.0, gap_days=2.0, churn_days=60, seed=11,
                                 signup_days=365, end_day=365)
    km = kaplan_meier(con, None, churn_days=60, at_days=(30, 90))
    m = km.medians.iloc[0]
    assert m.median_days == pytest.approx(float(np.median(true_churn)), abs=3.0)
    assert m.survival_90d == pytest.approx(float(np.mean(true_churn > 90)), abs=0.02)


def _km_two_groups():
    # group a: 10 users, 2 churn at day 10, 3 at day 100, 5 censored at day 200
    # group b: 10 users, 4 churn at day 10, 4 at day 100, 2 censored at day 200
    t = pd.DataFrame({"grp": ["a"] * 3 + ["b"] * 3, "duration_days": [10, 100, 200] * 2,
                      "event": [1, 1, 0] * 2, "n": [2, 3, 5, 4, 4, 2]})
    return km_curves(t, at_days=(30, 180))


def test_survival_gap_absolute_and_relative_with_greenwood_ci():
    g = survival_gap(_km_two_groups(), "b", "a", at_days=(30, 180)).set_index("day")
    # S_a(30) = 0.8, S_b(30) = 0.6; S_a(180) = 0.8·(5/8) = 0.5, S_b(180) = 0.6·(2/6) = 0.2
    assert g.loc[30, "abs_diff"] == pytest.approx(-0.2) and g.loc[180, "abs_diff"] == pytest.approx(-0.3)
    assert g.loc[30, "ratio"] == pytest.approx(0.75) and g.loc[180, "ratio"] == pytest.approx(0.4)
    # Greenwood: var S_a(30) = 0.8² · 2/(10·8), var S_b(30) = 0.6² · 4/(10·6)
    se = np.sqrt(0.64 * 2 / 80 + 0.36 * 4 / 60)
    assert g.loc[30, "abs_lo"] == pytest.approx(-0.2 - 1.959964 * se, rel=1e-5)
    lse = np.sqrt(2 / 80 + 4 / 60)
    assert g.loc[30, "ratio_hi"] == pytest.approx(0.75 * np.exp(1.959964 * lse), rel=1e-5)
    assert g.loc[30, "p_value"] == pytest.approx(2 * (1 - 0.5 * (1 + __import__("math").erf(0.2 / se / 2 ** 0.5))), rel=1e-6)
    assert not g.loc[30, "significant"]


def test_gap_trend_words_follow_absolute_and_relative_separately():
    tr = gap_trend(survival_gap(_km_two_groups(), "b", "a"))
    assert tr == {"sign": "disadvantage", "absolute": "widens", "relative": "widens",
                  "from_day": 30, "to_day": 180}
    # the chapter's case: a disadvantage 0.48 vs 0.69 at 30 days, 0.14 vs 0.31 at 180 days
    # narrows in points (−21 → −17) but widens as a ratio (0.70 → 0.45)
    gap = pd.DataFrame({"day": [30, 180], "abs_diff": [0.48 - 0.69, 0.14 - 0.31],
                        "ratio": [0.48 / 0.69, 0.14 / 0.31]})
    assert gap_trend(gap) == {"sign": "disadvantage", "absolute": "narrows", "relative": "widens",
                              "from_day": 30, "to_day": 180}
    adv = gap.assign(abs_diff=[0.1, 0.05], ratio=[1.2, 1.3])
    assert gap_trend(adv)["sign"] == "advantage" and gap_trend(adv)["relative"] == "widens"


def test_early_churn_separates_returners_from_never_again():
    users = users_df([(1, "2025-01-01 09:00", None, "group_buy"), (2, "2025-01-01 09:00", None, "group_buy"),
                      (3, "2025-01-01 09:00", None, "group_buy"), (4, "2025-01-01 09:00", None, "organic")])
    orders = orders_df([
        (1, 1, "2025-01-01 10:00", 1, "paid"),                                  # day 0, never again
        (2, 2, "2025-01-01 10:00", 1, "paid"), (3, 2, "2025-06-01", 1, "paid"),  # day 0, back later
        (4, 3, "2025-01-01 10:00", 1, "paid"), (5, 3, "2025-01-20", 1, "paid"),  # not a day-0 churn
        (6, 4, "2025-01-03", 1, "paid"), (7, 4, "2025-12-31", 1, "paid")])
    e = early_churn(make_con(users=users, orders=orders)).set_index("grp")
    gb = e.loc["group_buy"]
    assert (gb.buyers, gb.day0_churned) == (3, 2)
    assert gb.day0_share == pytest.approx(2 / 3)
    assert gb.ordered_again == pytest.approx(0.5) and gb.never_again == pytest.approx(0.5)
    assert e.loc["organic", "day0_churned"] == 0
    km = kaplan_meier(make_con(users=users, orders=orders), at_days=(30,))
    assert km.medians.set_index("group").loc["group_buy", "day0_churn"] == pytest.approx(2 / 3)


def test_channel_funnel_reconciles_per_signup_and_per_buyer():
    f = channel_funnel(_con(), churn_days=90, at_days=(30, 60), first_order_within_days=None).set_index("group")
    # ads: 2 sign-ups before the cutoff (3, 4), both buyers; organic: 2 sign-ups, 1 buyer
    assert f.loc["ads", ["signups", "buyers"]].tolist() == [2, 2]
    assert f.loc["organic", ["signups", "buyers", "buyer_share"]].tolist() == [2, 1, 0.5]
    assert f.loc["organic", "per_signup_30d"] == pytest.approx(0.5 * 1.0)
    assert f.loc["ads", "per_signup_60d"] == pytest.approx(1.0)


def _cox_world(seed=3, n=3000, member_effect=1.0):
    """Churn hazard by channel (ads ×2, referral ×0.5); 40 % of users would join membership
    at a uniform time in 0–300 days *if still active then* (so members are survivors);
    membership multiplies the hazard by ``member_effect`` from the joining day."""
    rng = np.random.default_rng(seed)
    ch = rng.choice(["organic", "ads", "referral"], n)
    rate = np.where(ch == "ads", 2.0, np.where(ch == "referral", 0.5, 1.0)) / 100.0
    life = rng.exponential(1 / rate)                      # days to churn without membership
    join = np.where(rng.random(n) < 0.4, rng.uniform(0, 300, n), 1e9)
    after = join < life                                   # joined while still active
    life = np.where(after, join + (life - join) / member_effect, life)
    start = pd.Timestamp("2024-01-01")
    end = pd.Timestamp("2024-12-31")
    users = users_df([(i, start, None, c) for i, c in enumerate(ch)])
    users["gender"] = rng.choice(["F", "M"], n)
    users["city_tier"] = rng.integers(1, 4, n)
    users["is_member"] = after & (join < 364)
    users["member_since"] = pd.NaT
    users.loc[users["is_member"], "member_since"] = start + pd.to_timedelta(join[users["is_member"]], unit="D")
    # an order every 4 days from signup until the user's lifetime ends (or the data end)
    k = (np.minimum(life, 364.0) // 4).astype(int) + 1
    uid = np.repeat(np.arange(n), k)
    day = np.concatenate([np.arange(m) * 4 for m in k])
    orders = pd.DataFrame({"order_id": np.arange(len(uid)), "user_id": uid,
                           "order_ts": start + pd.to_timedelta(day, unit="D"),
                           "gmv": 1.0, "status": "paid", "discount": 0.0, "channel": "organic"})
    orders.loc[len(orders)] = [len(orders), 0, end, 1.0, "paid", 0.0, "organic"]
    return make_con(users=users, orders=orders), n


def test_cox_recovers_hazard_ratios_and_reports_its_population():
    con, n = _cox_world()
    res = cox_churn(con, churn_days=5, max_users=2000, seed=1)
    # the population is the eligible buyers (all n bought), not the users table
    assert res.subsampled and res.users == 2000 and res.population == n
    hr = res.hazard_ratios.set_index("covariate")["hazard_ratio"]
    assert hr["acquisition_channel=ads"] == pytest.approx(2.0, rel=0.2)
    assert hr["acquisition_channel=referral"] == pytest.approx(0.5, rel=0.2)
    assert hr["gender=M"] == pytest.approx(1.0, abs=0.15)
    assert set(res.ph_test["covariate"]) == set(hr.index) - {"is_member"}
    assert res.ph_test["p"].between(0, 1).all()
    full = cox_churn(con, churn_days=5)
    assert not full.subsampled and full.users == full.population == n


def test_cox_membership_is_time_varying_no_immortal_time_bias():
    # membership has no effect, but only users still active can join: membership as of the
    # data end shows a strong spurious protection; the time-varying fit shows none (its 95 %
    # CI covers 1 and the estimate is within ±0.12 ≈ 2 s.e. of 1 with 4,000 users)
    con, _ = _cox_world(seed=5, n=4000, member_effect=1.0)
    hr = cox_churn(con, churn_days=5).hazard_ratios.set_index("covariate")
    assert hr.loc["is_member", "hr_lower"] <= 1.0 <= hr.loc["is_member", "hr_upper"]
    assert hr.loc["is_member", "hazard_ratio"] == pytest.approx(1.0, abs=0.12)
    # and a true effect is recovered
    con2, _ = _cox_world(seed=6, n=4000, member_effect=0.5)
    hr2 = cox_churn(con2, churn_days=5).hazard_ratios.set_index("covariate")
    assert hr2.loc["is_member", "hazard_ratio"] == pytest.approx(0.5, rel=0.2)
    # the fixed-at-the-end status the old model used would have been badly biased
    from lifelines import CoxPHFitter
    d = churn_durations(con, churn_days=5)
    d["m"] = d["member_days"].notna().astype(float)
    naive = CoxPHFitter().fit(d[["duration_days", "event", "m"]], "duration_days", "event")
    assert naive.hazard_ratios_["m"] < 0.75
