"""Comparisons of rates and shares (chapters 1 and 2): intervals, p-values, significance, and
naming a highest/lowest group only when it stands apart."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from fission.metrics import overview


def test_diff_proportions_matches_newcombe_1998():
    # Newcombe (1998), Stat Med 17:873, table II example (a): 56/70 vs 48/80,
    # hybrid score interval (method 10) 0.0524 to 0.3339
    d = overview.diff_proportions(56, 70, 48, 80)
    assert d["diff"] == pytest.approx(0.2)
    assert (d["lo"], d["hi"]) == (pytest.approx(0.0524, abs=1e-4), pytest.approx(0.3339, abs=1e-4))
    # the score test is the uncorrected chi-square test of the 2×2 table, up to n/(n-1)
    p = chi2_contingency([[56, 14], [48, 32]], correction=False)[1]
    assert d["p_value"] == pytest.approx(p, rel=0.05) and d["significant"]


def test_diff_proportions_edge_cases():
    same = overview.diff_proportions(0, 100, 0, 100)
    assert same["diff"] == 0 and same["p_value"] == 1.0 and not same["significant"]
    empty = overview.diff_proportions(3, 10, 0, 0)
    assert math.isnan(empty["diff"]) and not empty["significant"]
    small = overview.diff_proportions(3, 10, 2, 10)
    assert small["lo"] < 0 < small["hi"] and not small["significant"]


def test_proportion_ci_is_wilson():
    lo, hi = overview.proportion_ci(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)   # Wilson, not Wald's 0–0
    assert all(math.isnan(v) for v in overview.proportion_ci(0, 0))


def test_share_change_false_positive_rate_is_nominal():
    """Two channels' shares of the same new users, no true change: the ranking test of their
    changes says 'significant' ~5% of the time (the multinomial covariance is kept; an
    independent-samples test would be too narrow here)."""
    rng = np.random.default_rng(3)
    p = [0.3, 0.25, 0.45]
    hits = naive = 0
    reps = 2000
    for _ in range(reps):
        cur, prev = rng.multinomial(2000, p), rng.multinomial(1500, p)
        a = pd.Series({"x": cur[0], "n": 2000, "xp": prev[0], "np": 1500})
        b = pd.Series({"x": cur[1], "n": 2000, "xp": prev[1], "np": 1500})
        hits += overview.diff_share_changes(a, b, "x", "n", "xp", "np")["significant"]
        # independent-samples variance of each change, no covariance between the shares
        pa, pb, qa, qb = cur[0] / 2000, cur[1] / 2000, prev[0] / 1500, prev[1] / 1500
        se = math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / 2000 + (qa * (1 - qa) + qb * (1 - qb)) / 1500)
        naive += abs((pa - qa) - (pb - qb)) > 1.96 * se
    assert 0.035 <= hits / reps <= 0.065
    assert naive / reps > hits / reps


def test_leaders_names_a_top_group_only_when_it_stands_apart():
    df = pd.DataFrame({"g": ["a", "b", "c"], "x": [120, 115, 40], "n": [1000, 1000, 1000]})
    df["rate"] = df.x / df.n
    r = overview.leaders(df, "g", "rate", overview.proportion_compare("x", "n"))
    assert r["order"] == ["a", "b", "c"] and r["top"] == "a" and r["bottom"] == "c"
    assert not r["top_significant"]                 # 12.0% vs 11.5%: noise
    assert r["bottom_significant"]                  # 11.5% vs 4.0%
    assert r["top_vs_next"]["lo"] < 0 < r["top_vs_next"]["hi"]
    one = overview.leaders(df.head(1), "g", "rate", overview.proportion_compare("x", "n"))
    assert one["top"] == "a" and not one["top_significant"]


def test_acquisition_changes_year_on_year():
    cur = pd.DataFrame({"channel": ["ads", "kol"], "new_users": [600, 400],
                        "converted": [150, 100], "complete_users": [500, 400]})
    prev = pd.DataFrame({"channel": ["ads", "kol", "live"], "new_users": [300, 500, 200],
                         "converted": [100, 100, 50], "complete_users": [300, 500, 200]})
    ch = overview.acquisition_changes(cur, prev).set_index("channel")
    assert list(ch.index) == ["ads", "kol"]
    ads = ch.loc["ads"]
    assert ads.conversion_30d == 0.3 and ads.conversion_30d_prev == pytest.approx(1 / 3)
    assert not ads.conv_significant and ads.conv_lo < 0 < ads.conv_hi
    # ads' share of new users went from 30% to 60% on 1,000 users a year: significant
    assert ads.share_diff == pytest.approx(0.3) and ads.share_significant


def test_diff_changes_compares_two_groups_changes():
    a = pd.Series({"diff": 0.03, "diff_lo": 0.01, "diff_hi": 0.05})
    b = pd.Series({"diff": 0.0, "diff_lo": -0.02, "diff_hi": 0.02})
    d = overview.diff_changes(a, b)
    # each se = 0.02 / 1.96; together 0.0144; z = 2.08
    assert d["diff"] == pytest.approx(0.03) and d["p_value"] == pytest.approx(0.0376, abs=5e-4)
    assert d["significant"]
