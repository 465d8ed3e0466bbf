import pandas as pd
import pytest

from fission import cover, keyfigures, params
from fission.metrics import privacy

ZH = {"findings": "主要发现", "none": "无", "columns": ["章节", "指标", "本期", "上期", "同比变化"]}
EN = {"findings": "Key findings", "none": "none", "columns": ["Chapter", "Figure", "This year", "Last year", "Change"]}


def test_summary_table_formats_by_unit_and_marks_significance():
    figs = [dict(keyfigures.figure("gmv", 2.5e8, "yuan", 2.0e8), name="平台 GMV"),
            dict(keyfigures.figure("share", 0.31, "rate", 0.285, lo=-0.005, hi=0.055,
                                   significant=False), name="裂变占比"),
            dict(keyfigures.figure("new", 123456, "count"), name="新增用户")]
    text = keyfigures.summary_markdown([{"title": "行业背景", "finding": "GMV 增长。", "figures": figs}],
                                       ZH, "zh")
    assert "| 行业背景 | 平台 GMV | 2.50 亿元 | 2.00 亿元 | +25.0% |" in text
    assert "|  | 裂变占比 | 31.0% | 28.5% | +2.5 个百分点（-0.5～+5.5） 不显著 |" in text
    assert "| 12.3 万 | — | — |" in text
    assert text.startswith("**主要发现**") and "- **行业背景**：GMV 增长。" in text
    en = keyfigures.summary_markdown([{"title": "Background", "finding": "", "figures": figs}], EN, "en")
    assert "CNY 250.00 m" in en and "+2.5 pp (-0.5 to +5.5) not significant" in en
    assert keyfigures.summary_markdown([], EN, "en") == "*none*\n"


def test_figure_refuses_unknown_units_and_cleans_nan():
    with pytest.raises(ValueError, match="unit"):
        keyfigures.figure("a", 1.0, "%")
    assert keyfigures.figure("a", float("nan"), "num", 1.0)["value"] is None


def test_suppress_small_groups():
    df = pd.DataFrame({"tier": ["a", "b", "c"], "users": [100, 49, 50]})
    kept, n = privacy.suppress_small(df, "users", 50)
    assert kept["tier"].tolist() == ["a", "c"] and n == 1


def test_identifiers_are_refused():
    with pytest.raises(privacy.PrivacyError, match="user_id"):
        privacy.assert_publishable(pd.DataFrame({"user_id": [1], "gmv": [2.0]}))


@pytest.mark.parametrize("lang, notice, edition", [("zh", "模拟数据", "2025 年版"),
                                                   ("en", "simulated data", "2025 edition")])
def test_cover_says_simulated_in_the_edition_language(lang, notice, edition):
    ed = params.load("params/default.yaml", [f"language={lang}"])
    c = cover.cover(ed, {"simulated": True, "seed": 7, "fingerprint": "abcdef0123456789"})
    assert c["simulated"] and c["fingerprint"] == "abcdef012345" and notice in c["notice"]
    md = cover.cover_markdown(c)
    assert notice in md and "abcdef012345" in md and edition in md and "7" in c["source"]
    own = cover.cover(ed, {"simulated": False, "source": "/data/x", "fingerprint": "ab" * 8})
    assert own["notice"] == "" and own["source"] == "/data/x"
