"""The scorecard, the key messages and the recommendation rules on hand-made key figures and
facts: the changes by hand, the selection rule (no message from noise), rules that fire only
on their evidence, absent chapters skipped, and the ranking by impact."""
import pytest

from fission import keyfigures as K
from fission import scorecard as S

F1 = {"keyfigures": [K.figure("gmv", 120.0, "yuan", 100.0),                   # census +20%
                     K.figure("share", 0.30, "rate", 0.25, lo=0.03, hi=0.07, significant=True),
                     K.figure("noise", 0.50, "rate", 0.49, lo=-0.01, hi=0.03, significant=False)]}
F3 = {"keyfigures": [K.figure("k", 0.30, "num", 0.25, lo=0.10, hi=0.30, significant=True),
                     K.figure("csat", 4.2, "num", 4.1, significant=True),
                     K.figure("one_year", 7.0, "count")]}


def test_scorecard_rows_by_hand():
    rows = S.scorecard({"03_growth_strategy": F3, "01_industry_background": F1},
                       names={("01_industry_background", "gmv"): "GMV"})
    assert [r["id"] for r in rows] == ["gmv", "share", "noise", "k", "csat", "one_year"]  # book order
    r = {x["id"]: x for x in rows}
    assert r["gmv"]["name"] == "GMV" and r["share"]["name"] == "share"
    assert r["gmv"]["change"] == pytest.approx(0.2) and r["gmv"]["change_kind"] == "relative"
    assert r["share"]["change"] == pytest.approx(0.05) and r["share"]["change_kind"] == "pp"
    assert r["k"]["change"] == pytest.approx(0.2)
    assert r["one_year"]["change"] is None and r["one_year"]["census"]
    assert r["gmv"]["census"] and not r["share"]["census"] and not r["csat"]["census"]
    assert r["share"]["slug"] == "industry"
    names = S.scorecard({"01_industry_background": F1}, names=lambda ch, i: f"{ch[:2]}:{i}")
    assert names[0]["name"] == "01:gmv"
    assert S.scorecard({}) == []


def test_key_messages_follow_the_stated_rule():
    rows = S.scorecard({"01_industry_background": F1, "03_growth_strategy": F3})
    m = S.key_messages(rows)
    # interval ones by |change| / half-width: share 0.05/0.02 = 2.5 > k 0.2/0.1 = 2.0; then the
    # flagged one without interval (csat); then census totals; never the not-significant one
    assert [x["id"] for x in m] == ["share", "k", "csat", "gmv"]
    assert m[0]["score"] == pytest.approx(2.5) and m[1]["score"] == pytest.approx(2.0)
    assert [x["basis"] for x in m] == ["interval", "interval", "flag", "census"]
    assert all(x["direction"] == "up" for x in m)
    assert "noise" not in {x["id"] for x in m}
    assert [x["id"] for x in S.key_messages(rows, n_max=2)] == ["share", "k"]
    one = S.key_messages(rows, per_chapter=1)
    assert [x["id"] for x in one] == ["share", "k"]
    assert S.key_messages([]) == []


def test_a_flag_that_contradicts_its_interval_is_not_a_message():
    f = {"keyfigures": [K.figure("odd", 0.3, "rate", 0.2, lo=-0.01, hi=0.2, significant=True),
                        K.figure("down", 0.1, "rate", 0.2, lo=-0.15, hi=-0.05, significant=True)]}
    m = S.key_messages(S.scorecard({"07_customer_service": f}))
    assert [(x["id"], x["direction"]) for x in m] == [("down", "down")]


BASE = {"new_buyer_value": 1000.0, "gmv": 1e7}


def ch4(gain=10.0, lo=5.0, hi=15.0):
    return {"budget": {"gain": gain, "gain_lo": lo, "gain_hi": hi, "significant": lo > 0,
                       "gain_rel": 0.05, "up": ["ads"], "down": ["group_buy"], "bound": 0.3}}


def ch8(fc=0.90, fr=0.92, err=-0.01, both=3):
    return {"inventory": {"fill_current": fc, "fill_recommended": fr, "replay_error": err,
                          "all": {"cur_stockout": 0.1, "rec_stockout": 0.06}, "stock_change": 0.1},
            "suppliers": {"both_flagged": both, "n": 40, "late_rate": 0.18}}


def test_budget_rule_in_yuan_and_only_on_evidence():
    r = S.recommendations({"04_social_platforms": ch4()}, BASE)
    assert len(r) == 1 and r[0]["id"] == "budget_reallocation"
    # 10 new buyers a month × 12 months × 1,000 yuan
    assert (r[0]["impact"], r[0]["lo"], r[0]["hi"]) == pytest.approx((120_000, 60_000, 180_000))
    assert r[0]["section"] == "budget" and r[0]["slug"] == "platforms" and r[0]["rank"] == 1
    assert S.recommendations({"04_social_platforms": ch4(lo=-1.0)}, BASE) == []


def test_supply_rules_and_ranking():
    cf = {"04_social_platforms": ch4(), "08_supply_chain": ch8()}
    r = S.recommendations(cf, BASE)
    assert [x["id"] for x in r] == ["reorder_policy", "budget_reallocation", "supplier_action"]
    ro = r[0]
    assert ro["impact"] == pytest.approx(1e7 * 0.02 / 0.9)
    assert ro["lo"] == pytest.approx(1e7 * 0.01 / 0.9) and ro["hi"] == pytest.approx(1e7 * 0.03 / 0.9)
    assert ro["separated"] is False          # its lo (111k) is below the budget's hi (180k)
    assert r[2]["impact"] is None and r[2]["unquantified"] == "no_sales_link"
    assert [x["rank"] for x in r] == [1, 2, 3]
    # no gain from the policy, no flagged supplier: no recommendation from chapter 8
    assert S.recommendations({"08_supply_chain": ch8(fr=0.89, both=0)}, BASE) == []


def test_absent_chapters_are_skipped_and_other_rules_need_their_evidence():
    assert S.recommendations({}, BASE) == []
    ch6 = {"membership": {"orders": {"abs_lo": 0.5, "ratio": 1.5, "ratio_lo": 1.3, "ratio_hi": 1.7}},
           "cox": {"member": {"significant": True, "hazard_ratio": 0.85, "hr_lower": 0.8, "hr_upper": 0.9}}}
    assert [x["id"] for x in S.recommendations({"06_retention": ch6}, BASE)] == ["membership_test"]
    ch6["cox"]["member"]["significant"] = False
    assert S.recommendations({"06_retention": ch6}, BASE) == []
    ch7 = {"tickets": {"peaks": [{"significant": True, "diff": -0.2}, {"significant": False, "diff": -0.1}]},
           "staffing": {"events": [{"max_agents": 6, "agent_hours": 90, "ratio": 3.0}], "mae": 0.08}}
    r = S.recommendations({"07_customer_service": ch7}, BASE)
    assert r[0]["id"] == "peak_staffing" and r[0]["evidence"]["peaks_slower"] == 1
    ch7["tickets"]["peaks"][0]["significant"] = False
    assert S.recommendations({"07_customer_service": ch7}, BASE) == []
    ch3 = {"uplift": {"rows": [{"type": "kol", "signups": 0.14, "signups_lo": 0.05},
                               {"type": "ads", "signups": 0.02, "signups_lo": -0.03}],
                      "placebo": {"rate": 0.04}}}
    r = S.recommendations({"03_growth_strategy": ch3}, BASE)
    assert r[0]["evidence"]["types"] == ["kol"]


def test_a_rank_is_separated_only_when_the_intervals_do_not_overlap():
    budget = ch4(gain=10, lo=9, hi=11)                       # 120k (108k to 132k)
    r = S.recommendations({"04_social_platforms": budget,
                           "08_supply_chain": ch8(fr=0.901, err=-0.01, both=0)}, BASE)
    assert r[0]["id"] == "budget_reallocation" and r[0]["separated"] is False   # reorder hi 122k
    r = S.recommendations({"04_social_platforms": budget,
                           "08_supply_chain": ch8(fr=0.901, err=0.0, both=0)}, BASE)
    assert r[0]["separated"] is True and r[1]["separated"] is False             # reorder 11k


def test_recommender_rule_needs_a_significant_leader_other_than_the_control():
    ch5 = {"online": {"control": "popularity", "orders_differ": [],
                      "lead": {"top": "als", "second": "itemknn", "top_value": 0.058, "significant": True},
                      "rows": [{"algo": "popularity", "ctr": 0.035}, {"algo": "als", "ctr": 0.058}]}}
    r = S.recommendations({"05_recommendation": ch5}, BASE)
    assert r[0]["id"] == "rec_algorithm" and r[0]["unquantified"] == "clicks_only"
    assert r[0]["evidence"]["control_ctr"] == 0.035 and r[0]["section"] == "online"
    ch5["online"]["lead"]["significant"] = False
    assert S.recommendations({"05_recommendation": ch5}, BASE) == []
    ch5["online"]["lead"].update(significant=True, top="popularity")
    assert S.recommendations({"05_recommendation": ch5}, BASE) == []


def test_forecasts_are_in_the_scorecard_but_never_messages():
    fc = K.figure("next_users", 120.0, "count", 100.0, lo=0.1, hi=0.3, significant=True)
    fc["forecast"] = True
    rows = S.scorecard({"10_conclusions": {"keyfigures": [fc, K.figure("wape", 0.05, "rate")]}})
    assert rows[0]["forecast"] and rows[0]["change"] == pytest.approx(0.2)
    assert S.key_messages(rows) == []
