import json

import pandas as pd
import pytest

from fission import cover, keyfigures
from fission.metrics import privacy


def test_record_and_summary(tmp_path):
    keyfigures.record(tmp_path, "01_a", "行业背景", [
        keyfigures.figure("平台 GMV", 2.5e8, "元", 2.0e8),
        keyfigures.figure("裂变占比", 31.0, "%", 28.5),
        keyfigures.figure("新增用户", 12345, "人", None)], finding="GMV 翻番。")
    got = keyfigures.load(tmp_path, ["01_a", "02_missing"])
    assert [c["chapter"] for c in got] == ["01_a"]
    text = keyfigures.summary_markdown(got)
    assert "| 行业背景 | 平台 GMV | 2.5 亿元 | 2.0 亿元 | +25.0% |" in text
    assert "|  | 裂变占比 | 31.0% | 28.5% | +2.5 pp |" in text
    assert "1.2 万人" in text and "| — | — |" in text
    assert text.startswith("**主要发现**") and "- **行业背景**：GMV 翻番。" in text


def test_record_refuses_incomplete_figures(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        keyfigures.record(tmp_path, "x", "t", [{"name": "a", "value": 1}])


def test_nan_value_recorded_as_missing(tmp_path):
    f = keyfigures.figure("a", float("nan"), "", 1.0)
    assert f["value"] is None
    keyfigures.record(tmp_path, "x", "t", [f])
    assert json.loads((tmp_path / "x.keyfigures.json").read_text())["figures"][0]["value"] is None


def test_suppress_small_groups():
    df = pd.DataFrame({"tier": ["a", "b", "c"], "users": [100, 49, 50]})
    kept, n = privacy.suppress_small(df, "users", 50)
    assert kept["tier"].tolist() == ["a", "c"] and n == 1
    assert "1 个人数少于 50" in privacy.suppression_note(n, 50)
    assert privacy.suppression_note(0, 50) == ""


def test_identifiers_are_refused():
    with pytest.raises(privacy.PrivacyError, match="user_id"):
        privacy.assert_publishable(pd.DataFrame({"user_id": [1], "gmv": [2.0]}))


def test_cover_says_simulated():
    from fission import params
    ed = params.load("params/default.yaml")
    c = cover.cover(ed, {"simulated": True, "seed": 7, "fingerprint": "abcdef0123456789"})
    assert c["simulated"] and c["fingerprint"] == "abcdef012345" and "模拟数据" in c["notice"]
    md = cover.cover_markdown(c)
    assert "模拟数据" in md and "abcdef012345" in md and "2025 年版" in md
