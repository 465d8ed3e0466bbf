"""Chapter 7's facts on a simulated platform: numbers against independent computations and
the simulator's truth, the decisions behind the words, and the words in both languages."""
import json
from pathlib import Path

import pytest

simulate_mod = pytest.importorskip("fission.data.simulate")

import words_check  # noqa: E402
from fission.chapters import service  # noqa: E402
from fission.data.load import connect  # noqa: E402
from fission.notebook import jsonable  # noqa: E402

TABLES = {"tbl-ch7-tickets": "tickets.by_category", "tbl-ch7-plan": "staffing.plan",
          "tbl-ch7-returns": "returns.by_category"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory, small_platform):
    out = small_platform[0]
    con = connect(out)
    truth = json.loads((Path(out) / "truth.json").read_text(encoding="utf-8"))
    yield {"con": con, "truth": truth,
           "facts": jsonable(service.facts(con, 2025, 2024, min_group_size=50))}
    con.close()


def test_ticket_totals_match_the_tables(sim):
    f, con = sim["facts"]["tickets"], sim["con"]
    n = con.execute("SELECT count(*) FROM tickets WHERE year(created_ts) = 2025").fetchone()[0]
    assert f["cur"]["tickets"] == n == sum(r["tickets"] for r in f["by_category"])
    assert sum(r["tickets"] for r in f["daily"]) == f["cur"]["observed"]
    for k, c in f["change"].items():
        assert c["significant"] == (c["lo"] > 0 or c["hi"] < 0) or c["diff"] == 0, k


def test_peak_days_are_compared_with_intervals(sim):
    peaks = {r["day_type"]: r for r in sim["facts"]["tickets"]["peaks"]}
    assert set(peaks) == {"618", "double11", "spring_festival"}
    for r in peaks.values():
        assert r["significant"] == (r["lo"] > 0 or r["hi"] < 0)


def test_staffing_plan_meets_its_target_and_costs_more_than_today(sim):
    s = sim["facts"]["staffing"]
    assert all(r["modelled"] >= s["target"] for r in s["plan"])
    ev = s["events"][-1]
    assert ev["agent_hours"] == sum(r["agents"] for r in s["plan"])
    assert ev["current_hours"] == pytest.approx(sum(r["current"] for r in s["plan"]))
    assert s["agents_now"] == sim["truth"]["service"]["agents"]
    # a stricter target needs at least as many agents
    strict = service.facts(sim["con"], 2025, 2024, target=0.9)["staffing"]["events"][-1]
    assert strict["agent_hours"] >= ev["agent_hours"]


def test_returns_recover_the_truth_and_decide_on_intervals(sim):
    R, truth = sim["facts"]["returns"], sim["truth"]["returns"]
    for r in R["by_category"]:
        assert abs(r["rate"] / truth["return_rate_by_category"][r["category"]] - 1) < 0.10
    assert R["top"] == max(truth["return_rate_by_category"], key=truth["return_rate_by_category"].get)
    for r in R["channels"]:
        assert r["adj_significant"] == (r["adj_lo"] > 0 or r["adj_hi"] < 0)
    assert R["any_channel_higher"] == any(r["adj_significant"] and r["adj_diff"] > 0 for r in R["channels"])
    assert R["change"]["significant"] == (R["change"]["lo"] > 0 or R["change"]["hi"] < 0)


def test_keyfigures(sim):
    ids = [k["id"] for k in sim["facts"]["keyfigures"]]
    assert ids == ["within_1h", "csat", "return_rate", "seven_day_compliance", "peak_agents"]
    k = {k["id"]: k for k in sim["facts"]["keyfigures"]}
    assert k["within_1h"]["significant"] is not None and k["csat"]["significant"] is not None


def test_words_render_in_both_languages(sim):
    out = words_check.render_all("07_customer_service", sim["facts"], tables=TABLES,
                                 edition=dict(edition="2025", year=2025, compare_year=2024,
                                              min_group_size=50, simulated=True))
    assert "Erlang C" in "\n".join(out["en"])
