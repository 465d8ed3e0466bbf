import math

import numpy as np
import pandas as pd
import pytest

from fission.metrics.retention import (cohort_retention, retention_comparison, retention_curve,
                                       retention_matrix)
from metrics_fixtures import make_con, orders_df, users_df


def _con():
    users = users_df([
        (1, "2025-01-03", None, "organic"), (2, "2025-01-10", None, "organic"),
        (3, "2025-01-20", None, "ads"), (4, "2025-01-25", None, "ads"),
        (5, "2025-02-02", None, "ads"), (6, "2025-02-15", None, "organic"),
    ])
    orders = orders_df([
        (1, 1, "2025-01-04", 1, "paid"), (2, 1, "2025-03-01", 1, "paid"),      # Jan: N0, N2
        (3, 2, "2025-02-11", 1, "paid"),                                       # N1
        (4, 3, "2025-01-21", 1, "paid"), (5, 3, "2025-02-21", 1, "paid"),
        (6, 3, "2025-03-21", 1, "cancelled"),                                  # N0, N1
        (7, 5, "2025-02-03", 1, "paid"), (8, 5, "2025-03-03", 1, "paid"),      # Feb: N0, N1
        (9, 6, "2025-03-30", 1, "refunded"),                                   # N1
    ])
    return make_con(users=users, orders=orders)


def test_bounded_retention_matrix():
    long = cohort_retention(_con(), "month")
    m = retention_matrix(long)
    jan, feb = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")
    # Jan cohort (4): N0 users {1,3}, N1 {2,3}, N2 {1}; Feb cohort (2): N0 {5}, N1 {5,6}
    assert m.loc[jan, "cohort_size"] == 4 and m.loc[feb, "cohort_size"] == 2
    assert m.loc[jan, [0, 1, 2]].tolist() == [0.5, 0.5, 0.25]
    assert m.loc[feb, [0, 1]].tolist() == [0.5, 1.0]
    assert np.isnan(m.loc[feb, 2])                       # March is the last observed month
    curve = retention_curve(long).set_index("period_number")
    assert curve.loc[1, "retention"] == pytest.approx(4 / 6) and curve.loc[2, "cohorts"] == 1


def test_unbounded_and_segment():
    m = retention_matrix(cohort_retention(_con(), "month", kind="unbounded"))
    jan = pd.Timestamp("2025-01-01")
    # Jan: max N per user: 1→2, 2→1, 3→1, 4→none: ≥0: 3, ≥1: 3, ≥2: 1
    assert m.loc[jan, [0, 1, 2]].tolist() == [0.75, 0.75, 0.25]
    long = cohort_retention(_con(), "month", segment="acquisition_channel")
    ads = retention_matrix(long[long["acquisition_channel"] == "ads"]
                           .pipe(lambda d: d.set_axis(d.columns, axis=1)))
    # ads Jan cohort {3,4}: N0 {3}, N1 {3}; Feb {5}: N0, N1
    assert ads.loc[(jan, "ads"), [0, 1, 2]].tolist() == [0.5, 0.5, 0.0]
    assert ads.loc[(pd.Timestamp("2025-02-01"), "ads"), [0, 1]].tolist() == [1.0, 1.0]
    w = cohort_retention(_con(), "week", max_periods=3)
    assert w["period_number"].max() == 3


def _yoy_con():
    users = users_df([(i, "2024-01-05", None, "organic") for i in range(1, 5)]        # Jan 2024: 4
                     + [(i, "2025-01-06", None, "organic") for i in range(5, 10)]     # Jan 2025: 5
                     + [(i, "2024-02-03", None, "ads") for i in (10, 11)]             # Feb 2024: 2
                     + [(i, "2025-02-03", None, "ads") for i in (12, 13)])            # Feb 2025: 2
    orders = orders_df([
        (1, 1, "2024-01-05", 1, "paid"), (2, 1, "2024-02-10", 1, "paid"),   # Jan 2024: month 1 {1, 2}
        (3, 2, "2024-02-20", 1, "refunded"), (4, 3, "2024-02-21", 1, "cancelled"),
        (5, 5, "2025-02-01", 1, "paid"),                                    # Jan 2025: month 1 {5}
        (6, 10, "2024-03-02", 1, "paid"), (7, 11, "2024-03-09", 1, "paid"),  # Feb 2024: month 1 {10, 11}
        (8, 12, "2025-03-02", 1, "paid"),                                   # Feb 2025: March incomplete
        (9, 13, "2025-03-15 10:00", 1, "paid"),                             # data end 2025-03-15
    ])
    return make_con(users=users, orders=orders)


def test_retention_comparison_same_cohort_months_with_interval_and_test():
    long = cohort_retention(_yoy_con(), "month")
    c = retention_comparison(long, 2025, 2024, period_numbers=(1,)).iloc[0]
    # Feb 2025's month 1 (March) is not complete by 2025-03-15: only January cohorts compared
    assert c.cohort_months == [1]
    assert (c.users, c.retained, c.compare_users, c.compare_retained) == (5, 1, 4, 2)
    d = 1 / 5 - 2 / 4
    se = math.sqrt(0.2 * 0.8 / 5 + 0.5 * 0.5 / 4)
    assert c["diff"] == pytest.approx(d)
    assert c.diff_lo == pytest.approx(d - 1.959964 * se, rel=1e-5)
    assert c.diff_hi == pytest.approx(d + 1.959964 * se, rel=1e-5)
    assert c.z == pytest.approx(d / se, rel=1e-6)
    assert c.p_value == pytest.approx(math.erfc(abs(d / se) / math.sqrt(2)), rel=1e-6)
    assert not c.significant                      # −30 points on 9 users is noise
    # month 0 is complete for both January and February cohorts
    c0 = retention_comparison(long, 2025, 2024, period_numbers=(0,)).iloc[0]
    assert c0.cohort_months == [1, 2] and (c0.users, c0.compare_users) == (7, 6)
    with pytest.raises(ValueError):
        retention_comparison(cohort_retention(_yoy_con(), "month", segment="acquisition_channel"), 2025, 2024)


def test_retention_comparison_flags_a_real_change_as_significant():
    # 2,000 users per year; 30 % vs 20 % retained in month 1: z ≈ 7.3
    rows, orders, oid = [], [], 0
    for y, share in ((2024, 0.2), (2025, 0.3)):
        for i in range(2000):
            uid = y * 10_000 + i
            rows.append((uid, f"{y}-01-10", None, "organic"))
            orders.append((oid, uid, f"{y}-01-11", 1, "paid")); oid += 1
            if i < share * 2000:
                orders.append((oid, uid, f"{y}-02-11", 1, "paid")); oid += 1
    orders.append((oid, 20250000, "2025-12-31", 1, "paid"))
    long = cohort_retention(make_con(users=users_df(rows), orders=orders_df(orders)), "month")
    c = retention_comparison(long, 2025, 2024, period_numbers=(1,)).iloc[0]
    assert c["diff"] == pytest.approx(0.1) and c.diff_lo > 0 and c.significant and c.p_value < 1e-6


def test_retention_curve_has_wilson_intervals():
    curve = retention_curve(cohort_retention(_con(), "month")).set_index("period_number")
    lo, hi = curve.loc[1, ["ci_lower", "ci_upper"]]
    # Wilson interval for 4 of 6
    p, n, z = 4 / 6, 6, 1.959964
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert lo == pytest.approx(centre - half, rel=1e-5) and hi == pytest.approx(centre + half, rel=1e-5)
