"""Years the data cover in part: which years are complete, what the chapters then compare (nothing),
and how the book says so — on small hand-made tables."""
import pandas as pd
import pytest

from fission import fmt
from fission.metrics import periods
from fission.metrics.retention import cohort_retention, year_retention
from fission.words import Words
from metrics_fixtures import make_con, orders_df, users_df


def test_a_year_is_complete_only_from_1_january_to_31_december():
    start, end = pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2011-12-09 20:50")
    assert periods.year_span(start, end, 2011) == {"year": 2011, "start": "2011-01-01",
                                                   "end": "2011-12-09", "days": 343, "complete": False}
    assert periods.year_span(start, end, 2010) == {"year": 2010, "start": "2010-12-01",
                                                   "end": "2010-12-31", "days": 31, "complete": False}
    assert periods.year_span(start, end, 2009)["start"] is None
    full = periods.year_span(pd.Timestamp("2024-01-01 00:03"), pd.Timestamp("2025-12-31 23:59"), 2024)
    assert full["complete"] and full["days"] == 366
    months = pd.Series(pd.to_datetime(["2010-12-01", "2011-11-01", "2011-12-01"]))
    assert periods.complete_months(start, end, months).tolist() == [True, True, False]
    # data starting on the 2nd of a month do not cover that month
    assert not periods.complete_months(pd.Timestamp("2011-01-02"), end, months[:1].replace(
        {months[0]: pd.Timestamp("2011-01-01")})).iloc[0]


def _con():
    users = users_df([(1, "2010-12-05", None, "organic"), (2, "2011-01-10", None, "organic"),
                      (3, "2011-01-20", None, "organic"), (4, "2011-02-02", None, "organic")])
    orders = orders_df([
        (1, 1, "2010-12-05", 10, "paid"), (2, 1, "2011-01-07", 5, "paid"),
        (3, 2, "2011-01-10", 7, "paid"), (4, 2, "2011-02-11", 3, "paid"),
        (5, 3, "2011-01-20", 4, "paid"), (6, 3, "2011-02-21", 4, "cancelled"),
        (7, 4, "2011-02-02", 6, "paid"), (8, 4, "2011-03-03", 6, "paid"),
        (9, 4, "2011-04-20", 6, "paid")])
    return make_con(users=users, orders=orders)


def test_edition_periods_from_the_activity():
    p = periods.edition_periods(_con(), 2011, 2010)
    assert (p["start"], p["end"]) == ("2010-12-05", "2011-04-20")
    assert not p["comparable"] and not p["year"]["complete"] and p["compare_year"]["days"] == 27


def test_year_retention_pools_the_observed_cohorts_with_a_wilson_interval():
    long = cohort_retention(_con(), "month")          # data end 2011-04-20
    r = year_retention(long, 2011, period_numbers=(1, 2, 3)).set_index("period_number")
    # month 1 is observed for the Jan and Feb cohorts (users 2, 3 | 4): 2 (paid) and 4 bought again
    assert r.loc[1, "cohort_months"] == [1, 2] and r.loc[1, "users"] == 3
    assert r.loc[1, "retention"] == pytest.approx(2 / 3)
    # month 2 only for January (ends 1 April): nobody of users 2, 3 bought in March
    assert r.loc[2, "cohort_months"] == [1] and r.loc[2, "retention"] == 0
    assert 3 not in r.index                            # January's month 3 (April) is not over
    assert r.loc[1, "ci_lo"] < 2 / 3 < r.loc[1, "ci_hi"]


def test_money_in_the_data_currency():
    assert fmt.yuan(83_400.0, "zh") == "8.3 万元"
    assert fmt.yuan(83_400.0, "zh", currency="GBP") == "8.3 万 GBP"
    assert fmt.yuan(8_340_000.0, "en", currency="GBP") == "GBP 8.34 m"
    assert fmt.yuan(12.5, "zh", currency="GBP") == "12.5 GBP"
    assert fmt.value(1e6, "yuan", lang="en", currency="USD") == "USD 1.00 m"
    f = fmt.filters("en", "GBP")
    assert f["yuan"](2e4) == "GBP 20.0k" and f["money"] == "GBP"
    assert fmt.filters("zh")["money"] == "元"


@pytest.mark.parametrize("lang, expect", [("en", "users.signup_ts over at least 12 complete months (the data has 11)"),
                                          ("zh", "users.signup_ts 至少 12 个完整月份（现有 11 个）")])
def test_a_short_history_is_named_in_the_notice(lang, expect):
    w = Words(None, lang, {"year": 2011, "compare_year": 2010})
    text = w.missing_notice(["shares", {"history": "users.signup_ts", "have": 11, "need": 12}])
    assert expect in text and "shares" in text
    assert w.missing_notice(["users.acquisition_channel"], part=True) != \
        w.missing_notice(["users.acquisition_channel"])
