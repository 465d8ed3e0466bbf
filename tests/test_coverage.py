"""Partial data: what each chapter section needs, what is missing, and the chapters built on
data without one table (every section that does not need it is still built)."""
import duckdb
import pandas as pd
import pytest

import coverage_check
from fission import coverage
from fission.chapters import OUTLINE


def test_gaps_name_absent_tables_and_columns_per_section():
    con = duckdb.connect()
    con.register("orders", pd.DataFrame({"order_id": [1], "gmv": [2.0]}))
    needs = {"a": {"orders": ["order_id", "gmv"]}, "b": {"orders": ["order_id", "status"]},
             "c": {"orders": ["gmv"], "users": ["user_id"]}}
    assert coverage.gaps(con, needs) == {"b": ["orders.status"], "c": ["users"]}
    rows = coverage.matrix(con, ["01_industry_background"])
    assert [r["section"] for r in rows] == list(coverage.chapter_needs("01_industry_background"))
    text = coverage.format_matrix(rows)
    assert "01_industry_background  (0/4 sections)" in text and "missing market" in text


def test_every_chapter_declares_its_sections_needs():
    from fission.words import read_words
    for ch in OUTLINE:
        needs = coverage.chapter_needs(ch)
        if not needs:
            continue
        sections = set(read_words(ch, "zh").get("sections") or {})
        assert {s.split(".")[0] for s in needs} <= sections, \
            f"{ch}: NEEDS names sections the words do not have"


# every chapter that declares its needs, without each table it needs (chapter 10 reads the
# other chapters' facts as well: its data-only needs are tested here)
CASES = [(ch, t) for ch in OUTLINE for t in coverage_check.tables_needed(ch)]


@pytest.mark.parametrize("chapter, table", CASES, ids=[f"{c[:2]}-without-{t}" for c, t in CASES])
def test_a_chapter_without_one_table_builds_the_rest(small_platform, tmp_path, chapter, table):
    facts = coverage_check.without(chapter, small_platform[0], tmp_path, table)
    assert facts["missing"], "the table is needed by some section"


def test_placeholders_of_a_mapping_are_not_data(tmp_path):
    """A column the mapping filled with a placeholder (or left empty) is there for the
    contract, not for the analyses: a section needing it is not built."""
    import json

    from fission.data.load import connect
    pd.DataFrame({"user_id": [1], "signup_ts": pd.to_datetime(["2025-01-01"]), "city_tier": [1],
                  "age_band": ["31-40"]}).to_parquet(tmp_path / "users.parquet")
    (tmp_path / "manifest.json").write_text(json.dumps({"mapping": {"tables": {"users": {
        "columns": {"filled": {"city_tier": 1}, "absent": ["age_band"]}}}}}))
    con = connect(tmp_path)
    assert coverage.columns(con, "users") == {"user_id", "signup_ts"}
    assert coverage.gaps(con, {"s": {"users": ["user_id", "city_tier", "age_band"]}}) == \
        {"s": ["users.city_tier", "users.age_band"]}
    assert coverage.columns(connect(tmp_path.parent), "users") is None


def test_a_part_of_a_section_is_left_out_alone(small_platform, tmp_path):
    """Without the acquisition channel, chapter 6 still shows cohort retention and CLV; only
    their channel splits (the parts ``cohort.channels``, ``ltv.channels``) give way to a notice."""
    facts = coverage_check.without("06_retention", small_platform[0], tmp_path, "users",
                                   column="acquisition_channel")
    assert "cohort" in facts and "channels" not in facts
    assert set(facts["missing"]) == {"cohort.channels", "survival", "ltv.channels"}
    assert facts["ltv"]["rows"] == [] and facts["ltv"]["backtest"]["rows"]
