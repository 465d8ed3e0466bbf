"""Chapter 9's facts on the default simulated platform: the rules against the planted rings,
the reward ledger against the truth, chapter 7's 7-day rule, no identifier in the facts, the
words in both languages — and the chapter without the optional rewards and register tables."""
import json

import pytest

pytest.importorskip("fission.data.simulate")

import words_check  # noqa: E402
from fission.chapters import risk  # noqa: E402
from fission.data.load import connect  # noqa: E402
from fission.metrics import service as S  # noqa: E402
from fission.notebook import jsonable  # noqa: E402

TABLES = {"tbl-ch9-rules": "fraud.rules", "tbl-ch9-rewards": "rewards.by_level",
          "tbl-ch9-register": "register.risks"}
EDITION = dict(edition="2025", year=2025, compare_year=2024, min_group_size=50, simulated=True)


@pytest.fixture(scope="module")
def sim(default_platform):
    folder, truth = default_platform
    con = connect(folder)
    yield {"con": con, "truth": truth, "folder": folder,
           "facts": jsonable(risk.facts(con, 2025, 2024, min_group_size=50))}
    con.close()


def test_fraud_facts_match_the_planted_rings(sim):
    F, truth = sim["facts"]["fraud"], sim["truth"]
    planted = [len(r["user_ids"]) for r in truth["fraud_rings"]]
    assert F["n_rings"] == len(planted) and sorted(F["ring_sizes"]) == sorted(planted)
    assert F["flagged"] == sum(planted) and F["flagged_paid"] == 0 and F["flagged_prev"] == 0
    assert F["loss"]["amount"] == pytest.approx(truth["rewards"]["to_fraud_accounts"])
    assert F["single_rule"] == F["candidates"] - F["flagged"] > 0
    assert {r["rule"] for r in F["rules"]} == {"shared_device", "invite_burst", "reward_no_order", "loop"}


def test_no_identifier_reaches_the_facts(sim):
    text = json.dumps(sim["facts"], ensure_ascii=False)
    for col in ("user_id", "device_hash", "members", "beneficiary", "_flagged"):
        assert col not in text
    for ring in sim["truth"]["fraud_rings"]:
        for d in ring["device_hashes"]:
            assert d not in text


def test_rewards_and_the_two_level_cap(sim):
    W, truth = sim["facts"]["rewards"], sim["truth"]["rewards"]
    assert W["available"] and W["violation"]
    assert W["beyond"]["rewards"] == truth["violation"]["rewards"]
    assert W["beyond"]["amount"] == pytest.approx(truth["violation"]["amount"])
    assert all(r["beneficiaries"] >= 50 for r in W["by_level"])
    assert W["hidden"] == sim["facts"]["privacy"]["suppressed"] >= 1   # the few level-3 beneficiaries
    assert sum(r["amount"] for r in W["monthly"]) == pytest.approx(W["total"])


def test_consumer_checks_use_chapter_7s_population(sim):
    sd = sim["facts"]["seven_day"]
    rule = S.seven_day_rule(sim["con"], 2025)
    assert sd["rate"] == pytest.approx(rule["compliance"]) and sd["rejected"] == rule["rejected"]
    assert sd["change"]["significant"] == (sd["change"]["lo"] > 0 or sd["change"]["hi"] < 0)
    assert sim["facts"]["refund"]["tickets"] > 0 and sim["facts"]["refund_time_recorded"] is False


def test_register_facts(sim):
    G = sim["facts"]["register"]
    assert G["available"] and G["changes_known"]
    assert G["n"] == len(G["risks"]) == sum(G["by_status"].values())
    assert sum(map(sum, G["matrix"])) == G["open"]
    assert G["changes"]["new"] >= 1 and G["high"] == sum(
        1 for r in G["risks"] if r["status"] != "closed" and r["score"] >= G["high_score"])


def test_keyfigures(sim):
    k = {x["id"]: x for x in sim["facts"]["keyfigures"]}
    assert list(k) == ["flagged_accounts", "fraud_loss", "seven_day_rule", "beyond_cap", "high_risks"]
    assert k["seven_day_rule"]["lo"] is not None and k["seven_day_rule"]["significant"] is not None


def test_words_render_in_both_languages(sim):
    out = words_check.render_all("09_risk_compliance", sim["facts"], tables=TABLES, edition=EDITION)
    en = "\n".join(out["en"])
    assert "networkx" in en and "beyond level 2" in en


def test_without_rewards_and_register_the_chapter_says_so(sim):
    con = connect(sim["folder"])
    con.execute('DROP VIEW "rewards"')
    con.execute('DROP VIEW "risk_register"')
    f = jsonable(risk.facts(con, 2025, 2024, min_group_size=50))
    con.close()
    assert f["rewards"]["available"] is False and f["register"]["available"] is False
    assert f["fraud"]["loss"]["basis"] == "coupon_cost"
    assert f["fraud"]["flagged"] == sim["facts"]["fraud"]["flagged"]
    assert [k["id"] for k in f["keyfigures"]] == ["flagged_accounts", "fraud_loss", "seven_day_rule"]
    out = words_check.render_all("09_risk_compliance", f, tables=TABLES, edition=EDITION)
    assert "could not be made" in "\n".join(out["en"])
    assert "无法检查奖励是否超过两级" in "\n".join(out["zh"])


def test_without_returns_the_consumer_section_is_missing_and_the_rest_builds(sim):
    from fission.words import Words
    con = connect(sim["folder"])
    con.execute('DROP VIEW "returns"')
    f = jsonable(risk.facts(con, 2025, 2024, min_group_size=50))
    con.close()
    assert f["missing"] == {"consumer": ["returns"]} and sim["facts"]["missing"] == {}
    assert "seven_day" not in f and "refund" not in f
    for key in ("fraud", "rewards", "privacy", "register"):
        assert f[key] == sim["facts"][key]
    assert [k["id"] for k in f["keyfigures"]] == ["flagged_accounts", "fraud_loss", "beyond_cap", "high_risks"]
    w = Words("09_risk_compliance", "en", {**EDITION, "language": "en"})
    assert "7-day" not in w.render("finding", f) and "**Consumers**" not in w.render("text.summary", f)
