"""Chapter 1's facts on a simulated platform: numbers against independent computations and
the simulator's truth, the decisions behind the words, and the words in both languages."""
import json
from pathlib import Path

import pytest

simulate_mod = pytest.importorskip("fission.data.simulate")

import words_check  # noqa: E402
from fission.chapters import industry  # noqa: E402
from fission.data.load import connect  # noqa: E402
from fission.metrics import incentives  # noqa: E402
from fission.notebook import jsonable  # noqa: E402

TABLES = {"tbl-ch1-kpi": "kpi.rows", "tbl-ch1-age": "ages.rows",
          "tbl-ch1-channel": "acquisition.rows"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory, small_platform):
    out = small_platform[0]
    con = connect(out)
    truth = json.loads((Path(out) / "truth.json").read_text(encoding="utf-8"))
    yield {"con": con, "truth": truth, "facts": industry.facts(con, 2025, 2024, min_group_size=50)}
    con.close()


def test_census_totals_match_the_tables(sim):
    f, con = sim["facts"], sim["con"]
    gmv, orders = con.execute("SELECT sum(gmv), count(*) FROM orders WHERE status <> 'cancelled' "
                              "AND year(order_ts) = 2025").fetchone()
    assert f["kpi"]["gmv"]["value"] == pytest.approx(gmv) and f["kpi"]["orders"]["value"] == orders
    assert f["kpi"]["census"] and f["acquisition"]["census"]
    ids = {k["id"] for k in f["keyfigures"]}
    census = [k for k in f["keyfigures"] if k["id"] in ("gmv", "orders", "new_users", "buyers")]
    assert all(k["lo"] is None and k["significant"] is None for k in census)   # no invented CI
    assert ids == {"gmv", "orders", "new_users", "buyers", "fission_share", "fission_cac",
                   "low_tier_share"}


def test_acquisition_cost_is_the_full_cost_of_the_truth(sim):
    f = sim["facts"]["acquisition"]
    truth = sim["truth"]["acquisition_cost"]["by_year"]["2025"]
    for r in f["rows"].itertuples():
        if truth[r.channel]["users"]:
            assert r.cac == pytest.approx(truth[r.channel]["cac_full"], rel=0.005), r.channel
    # chapter 1's fission cost is chapter 2's mechanism cost: one ledger
    mech = incentives.acquisition_cost(sim["con"], 2025, by="mechanism")
    assert f["fission_cost"] == pytest.approx(mech.total_cost.sum())
    assert f["fission_incentives"] > 0
    assert f["cheapest"]["cac"] <= f["dearest"]["cac"]


def test_decisions_follow_the_intervals(sim):
    f = sim["facts"]
    low = f["tiers"]["low_share_change"]
    assert low["significant"] == (low["lo"] > 0 or low["hi"] < 0)
    assert low["lo"] < low["diff"] < low["hi"]
    best = f["mechanisms"]["best_rate"]
    rates = {r.mechanism: r.signup_rate for r in f["mechanisms"]["rows"].itertuples()}
    assert best["rate"] == max(rates.values())
    assert best["significant"] == (best["lo"] > 0)
    k = f["kpi"]
    assert f["kpi"]["driver"] == ("buyers" if k["buyers"]["yoy"] > k["aov"]["yoy"] else "aov")


def test_small_groups_are_suppressed(sim):
    f = industry.facts(sim["con"], 2025, 2024, min_group_size=3000)
    kept = {r["channel"] for r in jsonable(f["acquisition"]["rows"])}
    assert f["acquisition"]["hidden"] > 0 and all(
        r["new_users"] >= 3000 for r in jsonable(f["acquisition"]["rows"]))
    assert kept


def test_words_render_in_both_languages(sim):
    out = words_check.render_all("01_industry_background", sim["facts"], tables=TABLES,
                                 edition=dict(edition="2025", year=2025, compare_year=2024,
                                              min_group_size=50, simulated=True))
    zh = "\n".join(out["zh"])
    assert "几乎不产生" not in zh and "全口径" in zh and "普查" in zh
    assert "census" in "\n".join(out["en"])
