"""Chapter 6 facts on the simulated platform (default scale): numbers against truth.json and
independent computations, the decisions, and the words in both languages."""
import json
from pathlib import Path

import numpy as np
import pytest

simulate_mod = pytest.importorskip("fission.data.simulate")

from fission.chapters import retention  # noqa: E402
from fission.data.load import connect  # noqa: E402
from fission.notebook import jsonable  # noqa: E402
from words_check import render_all  # noqa: E402

TABLES = {"tbl-ch6-channel": "channels.rows", "tbl-ch6-funnel": "survival.funnel",
          "tbl-ch6-km": "survival.rows", "tbl-ch6-member": "membership.rows",
          "tbl-ch6-backtest": "ltv.backtest.rows", "tbl-ch6-ltv": "ltv.rows", "tbl-ch6-ab": "ab.rows"}
EDITION = dict(edition="2025", year=2025, compare_year=2024, min_group_size=50, simulated=True)


@pytest.fixture(scope="module")
def sim(tmp_path_factory, default_platform):
    out = default_platform[0]
    truth = json.loads(Path(out, "truth.json").read_text(encoding="utf-8"))
    con = connect(out)
    f = jsonable(retention.facts(con, 2025, 2024, 50))
    yield con, truth, f
    con.close()


def test_survival_recovers_the_true_churn_times(sim):
    _, truth, f = sim
    t = truth["churn"]["first_order_within_30d"]["by_channel"]
    for r in f["survival"]["rows"]:
        tc = t[r["channel"]]
        # 3 days: whole-day life table (≤ 1 day) + ~2 s.e. of the smallest channel's median
        assert r["median_days"] == pytest.approx(tc["median_days"], abs=3.0), r["channel"]
        assert r["survival_90d"] == pytest.approx(tc["survival_90d"], abs=0.02), r["channel"]
    # the funnel multiplies what it says it multiplies, on the same buyers
    for r in f["survival"]["funnel"]:
        assert r["per_signup_90d"] == pytest.approx(r["buyer_share"] * r["survival_90d"])
        assert 0 < r["buyer_share"] <= 1
    assert sum(r["buyers"] for r in f["survival"]["funnel"]) == f["cox"]["population"]
    d0 = f["survival"]["day0"]
    assert d0["ordered_again"] + d0["never_again"] == pytest.approx(1.0)
    assert 0 < d0["ordered_again"] < 1


def test_cox_population_and_time_varying_membership(sim):
    _, _, f = sim
    x = f["cox"]
    assert not x["subsampled"] and x["users"] == x["population"]
    assert sum(r["users"] for r in f["survival"]["rows"]) == x["population"]
    assert x["member"]["kind"] == "is_member"
    # every proportional-hazards violator is listed, none cut off
    assert len(x["violations"]) == sum(r["violates"] for r in x["rows"])
    for r in x["protective"]:
        assert r["significant"] and r["hazard_ratio"] < 1


def test_decisions_follow_the_intervals(sim):
    _, _, f = sim
    for key in ("m1", "m3"):
        c = f["cohort"][key]
        assert c["diff"] == pytest.approx(c["retention"] - c["compare_retention"])
        assert c["significant"] == (c["diff_lo"] > 0 or c["diff_hi"] < 0)
    rows = {r["channel"]: r for r in f["channels"]["rows"]}
    L = f["channels"]["lead"]
    assert L["top_significant"] == (rows[L["top"]]["m3_lo"] > rows[L["second"]]["m3_hi"])
    assert L["bottom_significant"] == (rows[L["bottom"]]["m3_hi"] < rows[L["second_last"]]["m3_lo"])
    g = f["survival"]["gap"]
    a, b = g["rows"]
    assert g["trend"]["absolute"] == ("widens" if abs(b["abs_diff"]) > abs(a["abs_diff"]) else "narrows")
    assert g["trend"]["relative"] == ("widens" if abs(np.log(b["ratio"])) > abs(np.log(a["ratio"])) else "narrows")


def test_clv_is_published_with_an_honest_back_test(sim):
    _, truth, f = sim
    bt = f["ltv"]["backtest"]
    assert abs(bt["total"]["purchases_error"]) <= 0.10
    assert bt["old_error"] > 0.15                       # the former BG/NBD design
    rows = {r["bin"]: r for r in bt["rows"]}
    assert rows["all"]["actual_purchases"] == sum(rows[b]["actual_purchases"] for b in rows if b != "all")
    assert f["ltv"]["median"] < f["ltv"]["mean"]        # the skew the words describe
    assert {k["id"] for k in f["keyfigures"]} == {"m3", "clv_median", "clv_error", "member_ratio",
                                                  "ab_significant"}


def test_words_render_in_both_languages(sim):
    _, _, f = sim
    out = render_all("06_retention", f, TABLES, EDITION)
    zh = "\n".join(out["zh"])
    assert "9 个变量" not in zh or len(f["cox"]["violations"]) == 9
    assert "再未购买" not in zh.replace("不等于“再未购买”", "")
    en = "\n".join(out["en"])
    assert "Group buying" in en and "back-test" in en


def test_without_a_survival_column_the_cohort_section_stays_whole(small_platform, tmp_path):
    """users.gender feeds only the survival section (its Cox model): the cohort section, which
    shows the survival section's sign-up → buyer funnel and cites its facts, is still built,
    without that table and those sentences, and everything it shows resolves."""
    import coverage_check
    f = coverage_check.without("06_retention", small_platform[0], tmp_path, "users", column="gender")
    assert set(f["missing"]) == {"survival"} and f["missing"]["survival"] == ["users.gender"]
    assert "cohort" in f and "membership" in f and "survival" not in f and "cox" not in f
    assert [k["id"] for k in f["keyfigures"]] == ["m3", "clv_median", "clv_error", "member_ratio",
                                                  "ab_significant"]


def test_the_driver_sample_caps_the_fits_and_is_stated(small_platform):
    """engine.driver_sample (what a cluster edition sets): the Cox and CLV fits read a seeded
    sample of at most that many users, and the words say so."""
    con = connect(small_platform[0])
    f = jsonable(retention.facts(con, 2025, 2024, 50, driver_sample=1_000))
    assert f["cox"]["subsampled"] and f["cox"]["users"] <= 1_000 < f["cox"]["population"]
    assert f["ltv"]["subsampled"] and f["ltv"]["customers"] <= 1_000
    text = "\n".join(render_all("06_retention", f, TABLES, EDITION)["en"])
    assert f"a seeded sample of {f['cox']['users']:,} of the {f['cox']['population']:,}" in text
    assert f"a seeded sample of {f['ltv']['customers']:,}" in text
