"""Chapter 2's facts on a simulated platform: numbers against independent computations and
the simulator's truth, the decisions behind the words, and the words in both languages."""
import json
from pathlib import Path

import pytest

simulate_mod = pytest.importorskip("fission.data.simulate")

import words_check  # noqa: E402
from fission.chapters import elements  # noqa: E402
from fission.data.load import connect  # noqa: E402
from fission.metrics import funnel, incentives  # noqa: E402
from fission.notebook import jsonable  # noqa: E402

TABLES = {"tbl-ch2-funnel": "funnel.rows", "tbl-ch2-content": "content.rows",
          "tbl-ch2-incentive": "incentives.rows"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory, small_platform):
    out = small_platform[0]
    con = connect(out)
    truth = json.loads((Path(out) / "truth.json").read_text(encoding="utf-8"))
    yield {"con": con, "truth": truth,
           "facts": jsonable(elements.facts(con, 2025, 2024, min_group_size=50))}
    con.close()


def test_funnel_totals_match_the_tables(sim):
    f, con = sim["facts"]["funnel"], sim["con"]
    shares = con.execute("""SELECT count(*) FROM shares WHERE share_ts >= '2025-01-01'
        AND share_ts < '2026-01-01' AND share_ts + INTERVAL 7 DAY <= (SELECT max(order_ts) FROM orders)""").fetchone()[0]
    assert f["total"]["shares"] == shares
    assert sum(r["shares"] for r in f["rows"]) <= shares      # small groups may be hidden
    c = f["total_change"]["overall_conversion"]
    assert c["significant"] == (c["lo"] > 0 or c["hi"] < 0)


def test_leaders_are_named_only_when_significant(sim):
    f = sim["facts"]["funnel"]
    rows = {r["mechanism"]: r for r in f["rows"]}
    for rate, lead in f["lead"].items():
        ranked = sorted(rows, key=lambda m: rows[m][rate], reverse=True)
        assert lead["order"] == ranked and lead["top"] == ranked[0]
        g = lead["top_gap"]
        assert lead["top_significant"] == g["significant"] == (g["lo"] > 0), rate
    # the YoY changes listed are exactly the significant ones
    listed = {r["mechanism"] for r in f["changes"]}
    assert listed == {m for m, r in rows.items() if r["significant"]}


def test_incentive_cost_is_the_one_ledger(sim):
    f = sim["facts"]
    inc, ch = f["incentives"], f["channels"]
    mech = incentives.acquisition_cost(sim["con"], 2025, by="mechanism")
    assert inc["total"]["total_cost"] == pytest.approx(mech.total_cost.sum())
    # chapter 2's fission-channel cost and its mechanisms' cost are the same money
    assert ch["fission_cost"] == pytest.approx(inc["total"]["total_cost"])
    truth = sim["truth"]["acquisition_cost"]["by_year"]["2025"]
    assert ch["cac"]["group_buy"] == pytest.approx(truth["group_buy"]["cac_full"], rel=0.005)
    assert ch["fission_cost"] > ch["ads_cost"]          # fission is not "almost free"


def test_content_gap_and_ugc_decisions(sim):
    c = sim["facts"]["content"]
    vps, v2s = c["gaps"]["visits_per_share"], c["gaps"]["visit_to_signup"]
    assert c["amplifier"] == (vps["significant"] and vps["diff"] > 0
                              and v2s["significant"] and v2s["diff"] < 0)
    u = c["ugc"]
    assert u["significant"] == (u["lo"] > 0 or u["hi"] < 0)


def test_mechanism_rates_recover_the_simulated_signups_per_share(sim):
    """Sign-ups per share within 30 days against the simulator's true rate per mechanism
    (complete windows only); the cluster error bounds the check."""
    truth = sim["truth"]["sharing"]["mechanisms"]
    fm = funnel.funnel(sim["con"], by=("mechanism",), window_days=30).set_index("mechanism")
    for mech, t in truth.items():
        r = fm.loc[mech]
        assert abs(r.signups_per_share - t["signups_per_share"]) < 4 * r.signups_per_share_se, mech


def test_words_render_in_both_languages(sim):
    out = words_check.render_all("02_fission_elements", sim["facts"], tables=TABLES,
                                 edition=dict(edition="2025", year=2025, compare_year=2024,
                                              min_group_size=50, simulated=True))
    zh = "\n".join(out["zh"])
    assert "几乎不产生" not in zh and "全口径" in zh


# section → (its facts keys, its texts): the words of the other sections, the intro, the
# summary and the finding must render without the section's facts (partial data)
SECTIONS = {"funnel": (["funnel"], ["funnel", "mechanisms"]),
            "platform": (["platforms"], ["platform"]),
            "content": (["content"], ["content"]),
            "channels": (["channels"], ["channels"]),
            "incentives": (["incentives"], ["incentives"])}


def test_full_data_builds_every_section(sim):
    assert sim["facts"]["missing"] == {}
    assert set(SECTIONS) == set(elements.NEEDS)
    assert [k["id"] for k in sim["facts"]["keyfigures"]] == ["overall_conversion", "visit_to_signup", "fission_share",
                                                              "acquired_users", "cost_per_user"]


@pytest.mark.parametrize("section", list(SECTIONS))
def test_words_render_without_a_section(sim, section):
    words_check.render_without_section("02_fission_elements", sim["facts"], SECTIONS, section)
