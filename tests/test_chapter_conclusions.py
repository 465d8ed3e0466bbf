"""Chapter 10's facts on a simulated platform with some of the other chapters, and with none:
the scorecard holds every key figure read, recommendations come only from present chapters,
the viral scenarios reproduce the observed referral users, the forecasts carry their
back-tests, and the words render in both languages in both cases."""
import json

import pytest

pytest.importorskip("fission.data.simulate")

import words_check  # noqa: E402
from fission.chapters import conclusions, industry, platforms, service  # noqa: E402
from fission.data.load import connect  # noqa: E402
from fission.notebook import jsonable  # noqa: E402

TABLES = {"tbl-ch10-scorecard": "scorecard.rows", "tbl-ch10-backtest": "forecast.backtest_rows",
          "tbl-ch10-viral": "viral.scenarios", "tbl-ch10-recommendations": "recommendations.rows"}
EDITION = dict(edition="2025", year=2025, compare_year=2024, min_group_size=50, simulated=True)


@pytest.fixture(scope="module")
def sim(small_platform):
    folder, truth = small_platform
    con = connect(folder)
    others = {"01_industry_background": jsonable(industry.facts(con, 2025, 2024)),
              "04_social_platforms": jsonable(platforms.facts(con, 2025, 2024)),
              "07_customer_service": jsonable(service.facts(con, 2025, 2024))}
    names = conclusions.chapter_names(list(others), others, "en", EDITION)
    f = jsonable(conclusions.facts(con, 2025, 2024, chapter_facts=others, names=names, n_boot=50))
    empty = jsonable(conclusions.facts(con, 2025, 2024, chapter_facts={}, n_boot=50))
    yield {"con": con, "truth": truth, "others": others, "f": f, "empty": empty}
    con.close()


def test_scorecard_holds_every_key_figure_of_the_chapters_read(sim):
    f, others = sim["f"], sim["others"]
    assert f["chapters"] == sorted(others) and f["n_chapters"] == 3
    ids = [(r["chapter"], r["id"]) for r in f["scorecard"]["rows"]]
    assert ids == [(c, k["id"]) for c in sorted(others) for k in others[c]["keyfigures"]]
    r = {x["id"]: x for x in f["scorecard"]["rows"]}
    assert r["gmv"]["name"] == "Platform GMV"          # from chapter 1's English words
    s = f["scorecard"]
    assert s["significant"] + s["not_significant"] + sum(
        1 for x in s["rows"] if x["significant"] is None) == s["n"]
    for m in f["messages"]:
        row = r[m["id"]]
        assert row["significant"] is True or row["census"]
        assert m["chapter"] in others


def test_recommendations_only_from_present_chapters_and_on_evidence(sim):
    f, others = sim["f"], sim["others"]
    recs = f["recommendations"]["rows"]
    assert {x["chapter"] for x in recs} <= set(others)
    b = others["04_social_platforms"]["budget"]
    ids = [x["id"] for x in recs]
    assert ("budget_reallocation" in ids) == bool(b["significant"] and b["gain_lo"] > 0)
    q = [x["impact"] for x in recs if x["impact"] is not None]
    assert q == sorted(q, reverse=True)
    assert [x["rank"] for x in recs] == list(range(1, len(recs) + 1))
    assert f["base"]["new_buyer_value"] > 0 and f["base"]["value_year"] == 2024
    e = sim["empty"]
    assert e["scorecard"]["n"] == 0 and e["messages"] == [] and e["recommendations"]["n"] == 0


def test_viral_scenarios_reproduce_the_observed_referrals(sim):
    v = sim["f"]["viral"]
    assert v["source"] == "computed"
    assert abs(v["referral_modelled"] / v["referral_observed"] - 1) < 0.05
    assert v["k"] == pytest.approx(v["invites_per_user"] * v["conversion"])
    sc = v["scenarios"]
    assert sc[0]["current"] and sc[0]["extra_users"] == pytest.approx(0)
    assert all(a["referral_users"] < b["referral_users"] for a, b in zip(sc, sc[1:]))
    # chapter 3's K is used when chapter 3 is in the edition
    f3 = conclusions.facts(sim["con"], 2025, 2024, n_boot=20,
                           chapter_facts={"03_growth_strategy": {"viral": {"k": 0.3}, "keyfigures": []}})
    assert f3["viral"]["source"] == "chapter" and f3["viral"]["k"] == 0.3


def test_forecast_facts_and_keyfigures(sim):
    f = sim["f"]
    fc = f["forecast"]
    assert len(fc["backtest_rows"]) == fc["holdout"] == 6
    assert fc["backtest_rows"][0]["month"] == fc["backtest_from"] == "2025-07"
    assert fc["next_year"] == 2026 and len(fc["users"]["future"]) == 12
    yb = fc["year_backtest"]                 # learn from 2024 alone, forecast all of 2025
    assert set(yb) == {"users", "gmv"} and set(yb["users"]["beats_naive"]) == {"bass", "trend"}
    assert yb["gmv"]["beats_naive"]["trend"] == (yb["gmv"]["trend"] < yb["gmv"]["naive"])
    k = {x["id"]: x for x in f["keyfigures"]}
    assert list(k) == ["next_new_users", "next_gmv", "users_backtest_wape", "gmv_backtest_wape"]
    u = fc["users"]
    assert k["next_new_users"]["value"] == pytest.approx(u["total"])
    assert k["next_new_users"]["significant"] == (u["growth_lo"] > 0 or u["growth_hi"] < 0)
    assert k["users_backtest_wape"]["value"] == pytest.approx(u["backtest"]["wape"])
    text = json.dumps(f)
    assert "user_id" not in text and "device_hash" not in text


def test_words_render_in_both_languages_with_and_without_chapters(sim):
    out = words_check.render_all("10_conclusions", sim["f"], tables=TABLES, edition=EDITION)
    en = "\n".join(out["en"])
    assert "@sec-industry" in en and "Bass" in en
    out = words_check.render_all("10_conclusions", sim["empty"], tables=TABLES, edition=EDITION)
    assert "no recommendation" in "\n".join(out["en"])
    assert "不提出建议" in "\n".join(out["zh"])


def test_brief_recommendations_render_for_the_executive_brief(sim):
    from fission.words import Words
    for lang in ("zh", "en"):
        w = Words("10_conclusions", lang, {**EDITION, "language": lang})
        full = w.render("brief.recommendations", sim["f"])
        assert full.count("@sec-") >= sim["f"]["recommendations"]["n"]
        none = w.render("brief.recommendations", sim["empty"])
        assert "@sec-" not in none
        if lang == "en":
            assert not words_check.CJK.search(full + none)


def test_forecasts_are_not_key_messages(sim):
    from fission import scorecard
    f = sim["f"]
    rows = scorecard.scorecard({**sim["others"], "10_conclusions": f})
    assert [r["id"] for r in rows if r["forecast"]] == ["next_new_users", "next_gmv"]
    assert all(m["chapter"] != "10_conclusions" for m in scorecard.key_messages(rows))


def test_a_rule_whose_section_its_chapter_could_not_build_is_skipped():
    """Chapter 8 built on data without inventory: its facts say so (``missing``), so the
    reorder rule gives nothing (even if stale inventory facts were there), the supplier rule
    still applies, and nothing crashes."""
    from fission import scorecard as S
    base = {"gmv": 1e7, "new_buyer_value": 100.0}
    ch8 = {"missing": {"inventory": ["inventory"], "forecast": ["inventory"]},
           "suppliers": {"both_flagged": 2, "n": 40, "late_rate": 0.1}}
    assert [r["id"] for r in S.recommendations({"08_supply_chain": ch8}, base)] == ["supplier_action"]
    ch8["inventory"] = {"fill_current": 0.90, "fill_recommended": 0.95, "replay_error": 0.0}
    assert [r["id"] for r in S.recommendations({"08_supply_chain": ch8}, base)] == ["supplier_action"]
    ch8["missing"] = {}
    assert [r["id"] for r in S.recommendations({"08_supply_chain": ch8}, base)] == \
        ["reorder_policy", "supplier_action"]
    # a chapter with no section at all: no rule, no crash
    assert S.recommendations({"08_supply_chain": {"missing": {"suppliers": ["suppliers"]}}}, base) == []


def test_without_shares_the_viral_section_is_missing_and_the_rest_builds(sim, small_platform):
    from fission.words import Words
    con = connect(small_platform[0])
    con.execute('DROP VIEW "shares"')
    f = jsonable(conclusions.facts(con, 2025, 2024, chapter_facts={}, n_boot=50))
    con.close()
    assert f["missing"] == {"viral": ["shares"]} and sim["empty"]["missing"] == {}
    assert "viral" not in f
    for key in ("forecast", "recommendations", "keyfigures", "scorecard"):
        assert f[key] == sim["empty"][key]
    for lang in ("zh", "en"):
        w = Words("10_conclusions", lang, {**EDITION, "language": lang})
        assert w.render("finding", f) and w.render("brief.recommendations", f)
        # without the recommendations section (no orders): the brief says why there are none
        g = {k: v for k, v in f.items() if k not in ("recommendations", "base")}
        g["missing"] = {"recommendations": ["orders"]}
        assert "conclusions-recommendations" in w.render("brief.recommendations", g)
