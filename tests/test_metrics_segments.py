import numpy as np
import pandas as pd
import pytest

from fission.metrics import MissingTableError
from fission.metrics.cascades import cascade_stats
from fission.metrics.growth import growth_accounting
from fission.metrics.segments import (annual_growth, campaign_kol_tier, cascade_change,
                                      cascade_summary, segment_compare, segment_k_gaps,
                                      segment_profile, segment_viral, sv_reference,
                                      uplift_by_type, viral_amplification, virality_by_size)
from fission.metrics.viral import viral_k_overall
from metrics_fixtures import make_con, orders_df, referral_tables, users_df

TIERS = {1: 3, 2: 1, 3: 4, 4: 1, 5: 2, 6: 5, 7: 3, 8: 3, 9: 1, 10: 1}
AGES = {1: "18-24", 2: "31-40", 3: "25-30", 4: "50+", 5: "25-30", 6: "41-50", 7: "18-24",
        8: "18-24", 9: "31-40", 10: "<18"}


def _con(with_sharing=True):
    users, shares, visits = referral_tables([
        (8, "2024-06-01", None, "organic"),
        (9, "2024-07-01", None, "organic"),
        (10, "2024-08-01", None, "ads"),
    ])
    users["city_tier"] = users["user_id"].map(TIERS)
    users["age_band"] = users["user_id"].map(AGES)
    orders = orders_df([
        (1, 1, "2025-01-15", 10, "paid"),       # user 1: first order within 30 days
        (2, 3, "2025-03-01", 20, "paid"),       # user 3: 55 days after signup
        (3, 2, "2025-01-12", 5, "cancelled"),   # cancelled: neither first order nor buyer
        (4, 5, "2025-02-10", 8, "refunded"),    # refunded counts
        (5, 8, "2024-06-05", 9, "paid"),
        (6, 9, "2024-07-02", 3, "paid"),
        (7, 6, "2025-04-01", 1, "paid"),        # sets the data end
    ])
    tables = dict(users=users, orders=orders)
    if with_sharing:
        tables.update(shares=shares, share_visits=visits)
    return make_con(**tables)


def test_segment_viral_lower_tier_hand_computed():
    df = segment_viral(_con(), "lower_tier", 2025).set_index(["in_segment", "mechanism"])
    # in segment (tier ≥ 3), fully observed 2025 signups: users 1, 3, 6. Shares in window:
    # 1 (coupon → user 3), 2 (group buy → user 4), 6 (group buy, no visit); share 3 is late.
    ic, gb, al = df.loc[(True, "invite_coupon")], df.loc[(True, "group_buy")], df.loc[(True, "all")]
    assert (al.cohort_size, al.shares, al.signups) == (3, 3, 2)
    assert al.k_factor == pytest.approx(2 / 3) and al.invites_per_user == 1
    assert (ic.shares, ic.signups, ic.k_factor, ic.invite_conversion) == (1, 1, pytest.approx(1 / 3), 1)
    assert (gb.shares, gb.signups, gb.invite_conversion) == (2, 1, 0.5)
    assert al.segment == "三线及以下城市"
    # the rest: users 2, 4, 5; user 2's shares 4 (→ user 5) and 5 (no signup)
    out = df.loc[(False, "all")]
    assert (out.cohort_size, out.shares, out.signups) == (3, 2, 1)
    assert out.k_factor == pytest.approx(1 / 3) and out.segment == "一二线城市"
    assert df.loc[(False, "live"), "k_factor"] == 0
    assert pd.isna(df.loc[(False, "live"), "invite_conversion"])


def test_segment_viral_adds_up_to_viral_k_overall():
    seg = segment_viral(_con(), "age_18_30", 2025)
    allk = viral_k_overall(_con()).set_index("mechanism")
    per_mech = seg.groupby("mechanism")[["cohort_size", "signups", "shares"]].sum()
    # only 2025 signups shared, so the two sides partition viral_k_overall's shares and signups
    for m in ("all", "invite_coupon", "group_buy"):
        assert per_mech.loc[m, "signups"] == allk.loc[m, "signups"]
        assert per_mech.loc[m, "shares"] == allk.loc[m, "shares"]
    # viral_k_overall's cohort also holds the 2024 signups 8, 9, 10
    assert per_mech.loc["all", "cohort_size"] == allk.loc["all", "cohort_size"] - 3 == 6
    # 18–30: users 1, 3, 5 (7 not observed)
    ins = seg[(seg.in_segment) & (seg.mechanism == "all")].iloc[0]
    assert ins.cohort_size == 3 and ins.segment == "18–30 岁"


def test_segment_profile_hand_computed():
    df = segment_profile(_con(), "lower_tier", 2025, 2024).set_index("in_segment")
    assert list(df.index) == [True, False]
    i, o = df.loc[True], df.loc[False]
    # new users 2025: in 1, 3, 6, 7; out 2, 4, 5. 2024: in 8; out 9, 10
    assert (i.new_users, i.new_users_prev, o.new_users, o.new_users_prev) == (4, 1, 3, 2)
    assert i.new_users_growth == 3.0 and o.new_users_growth == pytest.approx(0.5)
    assert i.new_user_share == pytest.approx(4 / 7)
    assert i.referred_share == 0.25 and o.referred_share == pytest.approx(2 / 3)
    # first order within 30 days among observed: in user 1 of (1, 3, 6); out user 5 of (2, 4, 5)
    assert (i.observed, i.first_orders, o.observed, o.first_orders) == (3, 1, 3, 1)
    assert i.first_order_rate == pytest.approx(1 / 3) and o.first_order_rate == pytest.approx(1 / 3)
    # buyers: 2025 in 1, 3, 6 / out 5 (user 2 cancelled); 2024 in 8 / out 9
    assert (i.buyers, i.buyers_prev, o.buyers, o.buyers_prev) == (3, 1, 1, 1)
    assert i.buyers_growth == 2.0 and o.buyers_growth == 0.0
    assert i.k_factor == pytest.approx(2 / 3) and o.k_factor == pytest.approx(1 / 3)


def test_segment_profile_without_sharing_tables_and_bad_segment():
    df = segment_profile(_con(with_sharing=False), "lower_tier", 2025, 2024, data_end="2025-04-01")
    assert df["k_factor"].isna().all() and df["new_users"].tolist() == [4, 3]
    with pytest.raises(ValueError):
        segment_profile(_con(), "vip; DROP TABLE users", 2025, 2024)
    with pytest.raises(MissingTableError):
        segment_viral(_con(with_sharing=False), "lower_tier", 2025)


def test_viral_amplification():
    assert viral_amplification(0) == 1
    assert viral_amplification(0.5) == 2
    assert viral_amplification(0.75) == 4
    assert viral_amplification(1.0) == np.inf
    assert list(viral_amplification([0.2, 1.5])) == [1.25, np.inf]


def test_sv_reference_matches_star_and_chain_trees():
    star = cascade_stats([2, 3, 4, 5], [1, 1, 1, 1]).iloc[0]
    chain = cascade_stats([12, 13, 14, 15], [11, 12, 13, 14]).iloc[0]
    ref = sv_reference([5]).iloc[0]
    assert star.structural_virality == pytest.approx(ref.star) == pytest.approx(1.6)
    assert chain.structural_virality == pytest.approx(ref.chain) == pytest.approx(2.0)
    assert sv_reference([2]).iloc[0][["star", "chain"]].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError):
        sv_reference([1])


def _stats():
    return pd.DataFrame({
        "root_user_id": [1, 2, 3, 4, 5, 6],
        "size": [2, 2, 3, 3, 3, 12],
        "depth": [1, 1, 1, 2, 1, 3],
        "structural_virality": [1.0, 1.0, 4 / 3, 4 / 3, 4 / 3, 2.5],
        "root_month": pd.to_datetime(["2024-01-01", "2025-03-01", "2024-05-01", "2025-01-01",
                                      "2025-07-01", "2025-12-01"]),
    })


def test_virality_by_size_drops_small_sizes():
    out = virality_by_size(_stats(), min_trees=2)
    assert out["size"].tolist() == [2, 3] and out["trees"].tolist() == [2, 3]
    assert out["users"].tolist() == [4, 9]
    assert out["sv_mean"].tolist() == pytest.approx([1.0, 4 / 3])
    assert out.attrs["dropped_trees"] == 1


def test_cascade_summary_by_root_year():
    out = cascade_summary(_stats(), years=[2023, 2024, 2025], large=10).set_index("root_year")
    assert out.loc[2023, "trees"] == 0 and pd.isna(out.loc[2023, "mean_size"])
    y24, y25 = out.loc[2024], out.loc[2025]
    assert (y24.trees, y24.users, y24.large_users, y24.deep) == (2, 5, 0, 0)
    assert y24.mean_size == 2.5 and y24.share_users_large == 0
    # 2025: sizes 2, 3, 3, 12 → 20 users, 12 in the tree of ≥ 10; depths 1, 2, 1, 3
    assert (y25.trees, y25.users, y25.large_users, y25.deep) == (4, 20, 12, 2)
    assert y25.share_users_large == pytest.approx(0.6) and y25.share_deep == 0.5
    assert y25.mean_depth == 1.75
    assert y25.sv_mean == pytest.approx((1 + 4 / 3 + 4 / 3 + 2.5) / 4)
    with pytest.raises(KeyError):
        cascade_summary(_stats().drop(columns="root_month"))


def test_annual_growth_sums_a_year_of_growth_accounting():
    # user 1: active Dec 24, Jan 25, Mar 25; user 2: Jan 25; user 3: Dec 24, Feb 25
    orders = orders_df([
        (1, 1, "2024-12-05", 10, "paid"), (2, 1, "2025-01-05", 10, "paid"),
        (3, 1, "2025-03-05", 10, "paid"), (4, 2, "2025-01-20", 10, "paid"),
        (5, 3, "2024-12-10", 10, "paid"), (6, 3, "2025-02-10", 10, "paid"),
        (7, 2, "2025-02-11", 10, "cancelled"),
    ])
    ga = growth_accounting(make_con(orders=orders))
    # Jan: active 1 (retained), 2 (new); 3 churned → QR 1. Feb: 3 resurrected; 1, 2 churned
    # → QR 0.5. Mar: 1 resurrected; 3 churned → QR 1
    s = annual_growth(ga, 2025)
    assert s.periods == 3 and (s.new, s.retained, s.resurrected, s.churned) == (1, 1, 2, 4)
    assert s.quick_ratio == pytest.approx(3 / 4)
    # Σ previous-period active over Jan–Mar = 2 + 2 + 1
    assert s.retention_rate == pytest.approx(1 / 5)
    assert s.mean_active == pytest.approx(4 / 3)
    assert s.periods_qr_above_1 == 2
    s24 = annual_growth(ga, 2024)
    assert s24.periods == 1 and s24.new == 2 and pd.isna(s24.quick_ratio)


def _uplift():
    base = dict(name="x", platform="douyin", metric="signups", baseline_per_day=10.0,
                campaign_per_day=11.0, abs_diff=1.0)
    rows = [
        # two ads campaigns in the same window: one window
        dict(campaign_id=1, type="ads", start="2025-02-01", end="2025-02-28", days=28,
             rel_lift=0.10, rel_lo=0.02, rel_hi=0.18),
        dict(campaign_id=2, type="ads", start="2025-02-01", end="2025-02-28", days=28,
             rel_lift=0.10, rel_lo=0.02, rel_hi=0.18),
        dict(campaign_id=3, type="ads", start="2025-03-01", end="2025-03-31", days=31,
             rel_lift=-0.20, rel_lo=-0.30, rel_hi=-0.10),
        dict(campaign_id=4, type="kol", start="2025-03-03", end="2025-03-08", days=6,
             rel_lift=0.30, rel_lo=-0.05, rel_hi=0.65),
        dict(campaign_id=5, type="kol", start="2024-03-03", end="2024-03-08", days=6,
             rel_lift=0.50, rel_lo=0.10, rel_hi=0.90),
    ]
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["start"], df["end"] = pd.to_datetime(df["start"]), pd.to_datetime(df["end"])
    other = df.assign(metric="orders", rel_lift=9.0)
    return pd.concat([df, other], ignore_index=True)


def test_uplift_by_type():
    out = uplift_by_type(_uplift(), "signups", year=2025).set_index("type")
    assert list(out.index) == ["kol", "ads"]            # sorted by mean lift
    ads, kol = out.loc["ads"], out.loc["kol"]
    assert (ads.campaigns, ads.windows, ads.mean_days) == (3, 2, 29.5)
    assert ads.mean_rel_lift == pytest.approx(-0.05)
    se = np.std([0.10, -0.20], ddof=1) / np.sqrt(2)
    # two windows: Student t with 1 degree of freedom (12.706), not the normal 1.96
    assert ads.ci_lo == pytest.approx(-0.05 - 12.7062 * se, abs=1e-4)
    assert ads.ci_hi == pytest.approx(-0.05 + 12.7062 * se, abs=1e-4)
    assert (ads.share_sig_pos, ads.share_sig_neg) == (0.5, 0.5)
    assert (kol.campaigns, kol.windows, kol.mean_rel_lift) == (1, 1, 0.30)
    assert pd.isna(kol.ci_lo) and kol.share_sig_pos == 0
    both = uplift_by_type(_uplift(), "signups").set_index("type")
    assert both.loc["kol", "windows"] == 2 and both.loc["kol", "mean_rel_lift"] == pytest.approx(0.4)


def test_campaign_kol_tier():
    camps = pd.DataFrame({"campaign_id": [1, 2, 3], "kol_id": pd.array([7, None, 8], dtype="Int64")})
    kols = pd.DataFrame({"kol_id": [7, 8], "tier": ["head", "tail"]})
    out = campaign_kol_tier(make_con(campaigns=camps, kols=kols))
    assert out.to_dict("list") == {"campaign_id": [1, 3], "kol_tier": ["head", "tail"]}


def _truncated_orders():
    """Installed-base users 1–4 (signed up 2023) and user 5 (2024); orders from 2024-01, so
    January 2024 is the baseline period. Active: Jan {1, 2, 3}; Feb {1, 4}; Mar {1, 2, 5};
    Jan 2025 {2, 5}."""
    users = users_df([(u, "2023-01-01", None, "organic") for u in (1, 2, 3, 4)]
                     + [(5, "2024-03-01", None, "organic")])
    orders = orders_df([
        (1, 1, "2024-01-03", 10, "paid"), (2, 2, "2024-01-04", 10, "paid"),
        (3, 3, "2024-01-05", 10, "paid"),
        (4, 1, "2024-02-03", 10, "paid"), (5, 4, "2024-02-04", 10, "paid"),
        (6, 1, "2024-03-03", 10, "paid"), (7, 2, "2024-03-04", 10, "paid"),
        (8, 5, "2024-03-05", 10, "paid"),
        (9, 2, "2025-01-04", 10, "paid"), (10, 5, "2025-01-05", 10, "paid"),
    ])
    return make_con(users=users, orders=orders)


def test_annual_growth_truncated_history_counts_the_baseline_actives():
    ga = growth_accounting(_truncated_orders())
    assert ga["period"].iloc[0] == pd.Timestamp("2024-02-01") and ga.attrs["baseline_active"] == 3
    s = annual_growth(ga, 2024)
    # retained: Feb {1} + Mar {1} = 2, out of the previous months' actives of Feb–Dec:
    # Jan 3 + Feb 2 + Mar 3 (April's previous month) + 0 = 8 (before the fix the baseline
    # January's 3 were left out: 2 / 5 = 40 %)
    assert s.retained == 2 and s.retention_rate == pytest.approx(2 / 8)
    # Apr–Dec 2024 are empty months: Mar's 3 churn in Apr; Jan 2025: 2, 5 resurrected
    s25 = annual_growth(ga, 2025)
    assert s25.retained == 0 and s25.resurrected == 2 and pd.isna(s25.retention_rate)


def test_cascade_summary_and_change_use_complete_trees_only():
    st = _stats().assign(complete=[True, True, True, True, True, False])
    out = cascade_summary(st, years=[2024, 2025], large=10).set_index("root_year")
    # the December 2025 tree of 12 is incomplete: 2025 keeps sizes 2, 3, 3
    assert out.loc[2025, "trees"] == 3 and out.loc[2025, "users"] == 8
    assert out.loc[2025, "share_users_large"] == 0 and out.attrs["incomplete_trees"] == 1
    ch = cascade_change(st, 2025, 2024, large=10).set_index("metric")
    assert ch.attrs["trees"] == 3 and ch.attrs["trees_prev"] == 2
    ms = ch.loc["mean_size"]
    assert (ms.value, ms.prev) == (pytest.approx(8 / 3), 2.5)
    # mean size by tree: 2025 sizes 2, 3, 3 (var 1/3), 2024 sizes 2, 3 (var 1/2);
    # se² = var/n for each: 1/9 + 1/4
    assert ms.se == pytest.approx(np.sqrt(1 / 9 + 1 / 4))
    assert ch.loc["share_deep", "value"] == pytest.approx(1 / 3) and not ch["significant"].any()
    with pytest.raises(KeyError):
        cascade_change(_stats().drop(columns="root_month"), 2025, 2024)


def test_segment_compare_and_k_gaps():
    prof = segment_profile(_con(), "lower_tier", 2025, 2024)
    cmp_ = segment_compare(prof).set_index("metric")
    # from test_segment_profile_hand_computed: growth 3.0 vs 0.5, referred 1/4 vs 2/3,
    # first orders 1/3 vs 1/3, K 2/3 vs 1/3
    ng = cmp_.loc["new_users_growth"]
    assert (ng.segment, ng.rest, ng.gap) == (3.0, 0.5, 2.5)
    # Var(4/1) = 16 (1/4 + 1) = 20, Var(3/2) = 2.25 (1/3 + 1/2) = 1.875
    assert ng.se == pytest.approx(np.sqrt(20 + 1.875))
    assert cmp_.loc["referred_share", "gap"] == pytest.approx(0.25 - 2 / 3)
    assert cmp_.loc["first_order_rate", "gap"] == pytest.approx(0)
    k = cmp_.loc["k_factor"]
    assert k.gap == pytest.approx(1 / 3) and not cmp_["significant"].any()   # 3 users a side
    # K's se: in-segment users 1, 3, 6 brought 2, 0, 0 → var 4/3, se² = 4/9
    assert prof.set_index("in_segment").loc[True, "k_se"] == pytest.approx(2 / 3)
    gaps = segment_k_gaps(segment_viral(_con(), "lower_tier", 2025)).set_index("mechanism")
    assert gaps.loc["all", "gap"] == pytest.approx(1 / 3)
    assert gaps.loc["invite_coupon", "k_segment"] == pytest.approx(1 / 3)
    assert gaps.loc["invite_coupon", "k_rest"] == pytest.approx(1 / 3)


def test_uplift_by_type_skips_campaigns_without_estimate():
    u = _uplift()
    u.loc[u["type"] == "ads", "rel_lift"] = np.nan
    out = uplift_by_type(u, "signups", year=2025)
    assert out["type"].tolist() == ["kol"]
