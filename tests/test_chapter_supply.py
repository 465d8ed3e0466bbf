"""Chapter 8's facts on a simulated platform: numbers against independent computations and
the simulator's truth, the decisions behind the words, and the words in both languages."""
import json
from pathlib import Path

import pytest

simulate_mod = pytest.importorskip("fission.data.simulate")

import words_check  # noqa: E402
from fission.chapters import supply  # noqa: E402
from fission.data.load import connect  # noqa: E402
from fission.notebook import jsonable  # noqa: E402

TABLES = {"tbl-ch8-suppliers": "suppliers.rows", "tbl-ch8-policy": "inventory.backtest",
          "tbl-ch8-forecast": "forecast.backtest", "tbl-ch8-carriers": "logistics.by_carrier"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory, small_platform):
    out = small_platform[0]
    con = connect(out)
    truth = json.loads((Path(out) / "truth.json").read_text(encoding="utf-8"))
    yield {"con": con, "truth": truth,
           "facts": jsonable(supply.facts(con, 2025, 2024, min_group_size=50))}
    con.close()


def test_supplier_totals_and_decisions(sim):
    s, con = sim["facts"]["suppliers"], sim["con"]
    n = con.execute("""SELECT count(*) FROM purchase_orders WHERE year(ordered_ts) = 2025
        AND promised_ts < (SELECT max(order_ts) FROM orders)""").fetchone()[0]
    assert s["pos"] == n and s["n"] == len(sim["truth"]["supply"]["suppliers"])
    assert s["both_flagged"] == len(s["priority"])
    rows = s["all"]
    assert s["act"] == sum(r["act"] for r in rows)
    # the ranked table is ordered by the shrunk late rate
    shrunk = [r["late_shrunk"] for r in s["rows"]]
    assert shrunk == sorted(shrunk, reverse=True)
    for k in ("late_change", "defect_change"):
        c = s[k]
        assert c["significant"] == (c["lo"] > 0 or c["hi"] < 0)


def test_flagged_suppliers_are_truly_worse(sim):
    t = sim["truth"]["supply"]["suppliers"]
    s = sim["facts"]["suppliers"]
    mean_late = sum(v["late_rate"] for v in t.values()) / len(t)
    flagged = [r for r in s["rows"] if r["late_flag"]]
    assert flagged and all(t[str(r["supplier_id"])]["late_rate"] > mean_late for r in flagged)


def test_inventory_and_forecast_facts(sim):
    i, fc = sim["facts"]["inventory"], sim["facts"]["forecast"]
    assert i["all"]["rec_stockout"] < i["all"]["cur_stockout"]     # the recommended policy helps
    assert abs(i["replay_error"]) < 0.05
    q = fc["next_quarter"]
    assert q["lo"] <= q["units"] <= q["hi"]
    assert fc["model_better_n"] == sum(r["model_better"] for r in fc["backtest"])
    assert fc["total"]["wape_model"] < fc["total"]["wape_naive"]


def test_logistics_recovers_the_truth(sim):
    lg, truth = sim["facts"]["logistics"], sim["truth"]["logistics"]
    days = truth["carrier_transit_days"]
    assert lg["fastest"] == min(days, key=days.get) and lg["slowest"] == max(days, key=days.get)
    assert lg["cross"]["coef"] == pytest.approx(truth["cross_region_multiplier"], rel=0.03)
    assert lg["tier5"]["coef"] == pytest.approx(1 + 4 * truth["tier_transit_step"], rel=0.03)


def test_keyfigures(sim):
    ids = [k["id"] for k in sim["facts"]["keyfigures"]]
    assert ids == ["supplier_late", "suppliers_priority", "stockout_rate", "forecast_wape", "late_delivery"]


def test_words_render_in_both_languages(sim):
    out = words_check.render_all("08_supply_chain", sim["facts"], tables=TABLES,
                                 edition=dict(edition="2025", year=2025, compare_year=2024,
                                              min_group_size=50, simulated=True))
    assert "SARIMAX" in "\n".join(out["en"]) and "WAPE" in "\n".join(out["zh"])


def test_without_inventory_the_other_sections_build_unchanged(sim, small_platform):
    """Partial data: no inventory snapshots means no stock and no demand calendar, so the
    inventory and forecast sections are missing; suppliers and logistics are as with all data."""
    from fission.words import Words
    con = connect(small_platform[0])
    con.execute('DROP VIEW "inventory"')
    f = jsonable(supply.facts(con, 2025, 2024, min_group_size=50))
    con.close()
    assert f["missing"] == {"inventory": ["inventory"], "forecast": ["inventory"]}
    assert "inventory" not in f and "forecast" not in f
    for section in ("suppliers", "logistics"):
        assert f[section] == sim["facts"][section]
    assert [k["id"] for k in f["keyfigures"]] == ["supplier_late", "suppliers_priority", "late_delivery"]
    assert sim["facts"]["missing"] == {}
    for lang in ("zh", "en"):
        w = Words("08_supply_chain", lang, {"edition": "2025", "year": 2025, "compare_year": 2024,
                                            "language": lang, "min_group_size": 50})
        summary, finding = w.render("text.summary", f), w.render("finding", f)
        assert summary.count("\n") == 1 and "SARIMAX" not in summary      # two bullets
        assert f"{f['suppliers']['both_flagged']}" in finding
