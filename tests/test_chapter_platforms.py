"""Chapter 4's facts on a simulated platform: numbers against the tables and the simulator's
truth, the decisions behind the words, and the words in both languages."""
import json
import time
from pathlib import Path

import pytest

simulate_mod = pytest.importorskip("fission.data.simulate")

import words_check  # noqa: E402
from fission.chapters import platforms  # noqa: E402
from fission.data.load import connect  # noqa: E402
from fission.metrics import incentives  # noqa: E402
from fission.notebook import jsonable  # noqa: E402

TABLES = {"tbl-ch4-platforms": "platforms.rows", "tbl-ch4-kol": "kol.tiers",
          "tbl-ch4-kol-platform": "kol.platforms", "tbl-ch4-live": "live.tiers",
          "tbl-ch4-budget": "budget.plan"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory, small_platform):
    out = small_platform[0]
    con = connect(out)
    truth = json.loads((Path(out) / "truth.json").read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    f = jsonable(platforms.facts(con, 2025, 2024, min_group_size=50))
    yield {"con": con, "truth": truth, "facts": f, "seconds": time.perf_counter() - t0}
    con.close()


def test_platform_costs_and_gmv_are_the_census(sim):
    p, con = sim["facts"]["platforms"], sim["con"]
    assert p["cost_total"] == pytest.approx(
        incentives.acquisition_cost(con, 2025, by="channel").total_cost.sum())
    assert sum(r["total_cost"] for r in p["rows"]) + p["cost_unattributed"] <= p["cost_total"] + 1e-6
    live_gmv = con.execute("SELECT sum(gmv) FROM orders WHERE live_id IS NOT NULL AND status <> 'cancelled' "
                           "AND year(order_ts) = 2025").fetchone()[0]
    assert sim["facts"]["live"]["gmv"] == pytest.approx(live_gmv, rel=1e-6)
    for r in p["rows"]:         # a YoY change is significant exactly when its interval excludes 0
        if r["diff"] is not None:
            assert r["significant"] == (r["lo"] > 0 or r["hi"] < 0)
    listed = {r["platform"] for r in p["up"] + p["down"]}
    assert listed == {r["platform"] for r in p["rows"] if r["significant"]}


def test_kol_decisions_follow_the_intervals(sim):
    k = sim["facts"]["kol"]
    truth = sim["truth"]["kol_live"]["kol_incremental_users"]["campaigns"]
    year_truth = {r["campaign_id"]: r["users"] for r in truth}
    ids = [r["campaign_id"] for r in k["campaigns"]]
    true_total = sum(year_truth[i] for i in ids)
    t = k["total"]
    assert t["lo"] <= true_total <= t["hi"] or t["inc_users"] == pytest.approx(true_total, rel=0.15)
    assert t["window"] >= t["tagged"]                        # windows count overlaps twice
    for r in k["tiers"]:
        assert r["significant"] == (r["inc_users_lo"] > 0 or r["inc_users_hi"] < 0)
    L = k["cpa_lead"]
    assert L["bottom_significant"] == bool(L["bottom_gap"]["significant"])
    e = k["elasticity"]
    assert e["diminishing"] == (e["b_hi"] < 1)


def test_live_and_budget_decisions(sim):
    lv, b = sim["facts"]["live"], sim["facts"]["budget"]
    t = sim["truth"]["kol_live"]["live"]
    assert lv["signup_to_order"]["lo"] <= t["first_order_rate"] <= lv["signup_to_order"]["hi"]
    d = lv["deciles"]
    assert d["best"]["value"] >= d["worst"]["value"]
    assert b["significant"] == (b["gain_lo"] > 0)
    assert sum(r["proposed"] for r in b["plan"]) == pytest.approx(sum(r["current"] for r in b["plan"]))
    assert set(b["concave"]) | set(b["linear"]) == {r["channel"] for r in b["curves"]}


def test_keyfigures_and_speed(sim):
    ids = [k["id"] for k in sim["facts"]["keyfigures"]]
    assert ids == ["social_gmv", "kol_incremental", "kol_cpa", "live_gmv", "budget_gain"]
    assert sim["seconds"] < 60


def test_words_render_in_both_languages(sim):
    out = words_check.render_all("04_social_platforms", sim["facts"], tables=TABLES,
                                 edition=dict(edition="2025", year=2025, compare_year=2024,
                                              min_group_size=50, simulated=True))
    zh = "\n".join(out["zh"])
    assert "增量" in zh and "置信区间" in zh


# section → (its facts keys, its texts): the words of the other sections, the intro, the
# summary and the finding must render without the section's facts (partial data)
SECTIONS = {"platforms": (["platforms"], ["platforms"]),
            "kol": (["kol"], ["kol", "kol_tiers"]),
            "live": (["live"], ["live"]),
            "budget": (["budget"], ["budget"])}


def test_full_data_builds_every_section(sim):
    assert sim["facts"]["missing"] == {}
    assert set(SECTIONS) == set(platforms.NEEDS)
    assert [k["id"] for k in sim["facts"]["keyfigures"]] == ["social_gmv", "kol_incremental", "kol_cpa",
                                                              "live_gmv", "budget_gain"]


@pytest.mark.parametrize("section", list(SECTIONS))
def test_words_render_without_a_section(sim, section):
    words_check.render_without_section("04_social_platforms", sim["facts"], SECTIONS, section)
