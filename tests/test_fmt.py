"""The number and trend words every text uses (fission.fmt), in both languages."""
import math

import pytest

from fission import fmt


@pytest.mark.parametrize("x, zh, en", [
    (0.123, "增长 12.3%", "up 12.3%"), (-0.05, "下降 5.0%", "down 5.0%"),
    (0.0004, "持平", "flat")])
def test_change_direction_is_relative(x, zh, en):
    assert fmt.change(x, lang="zh") == zh and fmt.change(x, lang="en") == en


@pytest.mark.parametrize("x, zh, en", [
    (0.012, "提高 1.2 个百分点", "up 1.2 pp"), (-0.031, "下降 3.1 个百分点", "down 3.1 pp"),
    (0.0, "持平", "unchanged")])
def test_change_pp_is_absolute(x, zh, en):
    assert fmt.change_pp(x, lang="zh") == zh and fmt.change_pp(x, lang="en") == en


def test_not_significant_change_names_no_direction():
    assert fmt.change(0.05, lang="zh", significant=False) == "无显著变化（+5.0%）"
    assert fmt.change_pp(-0.004, lang="en", significant=False) == "no significant change (-0.4 pp)"
    assert "增长" not in fmt.change(0.05, significant=False)
    # significant=True words it like a plain change
    assert fmt.change(0.05, significant=True) == "增长 5.0%"


def test_pp_vs_relative_change_of_a_rate():
    # 20% → 25%: +5 percentage points, +25% relative
    assert fmt.pp(0.25 - 0.20) == "+5.0 个百分点" and fmt.signed_pct(0.25 / 0.20 - 1) == "+25.0%"
    assert fmt.value_change(0.25, 0.20, "rate", lang="en") == "+5.0 pp"
    assert fmt.value_change(250, 200, "count") == "+25.0%"
    assert fmt.value_change(250, 0, "count") == "—" and fmt.value_change(None, 1, "num") == "—"


def test_intervals_and_significance_words():
    assert fmt.ci(-0.012, 0.034, "pct") == "95% 置信区间 -1.2%～+3.4%"
    assert fmt.ci(-0.012, 0.034, "pp", lang="en") == "95% CI -1.2 pp to +3.4 pp"
    assert fmt.ci(0.8, 1.25, "ratio", lang="en") == "95% CI 0.80 to 1.25"
    assert fmt.ci(None, 1.0) == ""
    assert fmt.ci(-0.0004, 0.003, "pp", short=True) == "+0.0～+0.3"
    assert fmt.pp(-0.0004) == "+0.0 个百分点" and fmt.signed_pct(-0.0004) == "+0.0%"
    assert fmt.sig(True) == "显著" and fmt.sig(False, lang="en") == "not significant"


@pytest.mark.parametrize("x, zh, en", [
    (9_999.5, "9,999.5 元", "CNY 9,999.5"), (143_700, "14.4 万元", "CNY 143.7k"),
    (2.5e8, "2.50 亿元", "CNY 250.00 m"), (1.2e12, "1.20 万亿元", "CNY 1.20 tn")])
def test_money_units(x, zh, en):
    assert fmt.yuan(x) == zh and fmt.yuan(x, lang="en") == en


def test_counts_switch_to_wan_from_100k_only():
    assert fmt.count(12_345) == "12,345" and fmt.count(123_456) == "12.3 万"
    assert fmt.count(123_456, lang="en") == "123.5k" and fmt.count(2.5e8) == "2.50 亿"


def test_missing_values_print_a_dash():
    for f in (fmt.pct, fmt.pp, fmt.yuan, fmt.count, fmt.ratio, fmt.days, fmt.change):
        assert f(math.nan) == "—" and f(None) == "—"


def test_filters_bind_the_language_and_refuse_others():
    assert fmt.filters("en")["days"](3) == "3 days" and fmt.filters("zh")["join"](["a", "b"]) == "a和b"
    with pytest.raises(ValueError, match="language"):
        fmt.filters("fr")
