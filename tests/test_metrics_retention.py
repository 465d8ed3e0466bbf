import numpy as np
import pandas as pd
import pytest

from fission.metrics.retention import cohort_retention, retention_curve, retention_matrix
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
