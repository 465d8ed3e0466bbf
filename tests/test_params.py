"""Edition parameters: the default is valid; wrong keys, types and values stop with the key named."""
import pytest

from fission import params
from fission.params import ParamsError


def test_default_edition_is_valid():
    ed = params.load("params/default.yaml")
    assert ed.year == 2025 and ed.compare_year == 2024
    assert ed.full_title() == "基于大数据的2025年社交电商裂变营销策略与用户增长洞察报告"
    assert params.load("params/default.yaml", ["title=Report {year}"]).full_title() == "Report 2025"
    assert ed.simulated and ed.privacy.min_group_size >= 1
    assert ed.chapters[0].startswith("01_")


def _write(tmp_path, text):
    p = tmp_path / "ed.yaml"
    p.write_text(text, encoding="utf-8")
    return p


BASE = "edition: t\nyear: 2025\ncompare_year: 2024\nseed: 1\nchapters: [01_industry_background]\n"


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ParamsError, match=r"scale\.userz: unknown key"):
        params.load(_write(tmp_path, BASE + "scale:\n  userz: 5\n"))


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(ParamsError, match=r"seed: .*integer"):
        params.load(_write(tmp_path, BASE.replace("seed: 1", "seed: many")))


def test_impossible_values_are_named(tmp_path):
    with pytest.raises(ParamsError, match=r"privacy\.min_group_size"):
        params.load(_write(tmp_path, BASE + "privacy:\n  min_group_size: 0\n"))
    with pytest.raises(ParamsError, match="compare_year"):
        params.load(_write(tmp_path, BASE.replace("compare_year: 2024", "compare_year: 2026")))
    with pytest.raises(ParamsError, match="chapters.*no notebook"):
        params.load(_write(tmp_path, BASE.replace("01_industry_background", "99_nothing")))


def test_override_sets_nested_value_and_is_validated():
    ed = params.load("params/default.yaml", ["scale.users=20000", "privacy.min_group_size=10"])
    assert ed.scale.users == 20000 and ed.privacy.min_group_size == 10
    with pytest.raises(ParamsError, match=r"scale\.users"):
        params.load("params/default.yaml", ["scale.users=-3"])
    with pytest.raises(ParamsError, match="key=value"):
        params.load("params/default.yaml", ["scale.users"])


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ParamsError, match="copy params/default.yaml"):
        params.load(tmp_path / "nope.yaml")
