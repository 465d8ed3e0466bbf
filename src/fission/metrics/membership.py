"""Membership effect (chapter 6): do members order and stay more than non-members?

Membership is **self-selected** (users choose to join, typically when they already buy a lot),
so every comparison here is descriptive, not causal. Two views:

* :func:`membership_summary` — the naive comparison by *current* status (``users.is_member`` at
  the data end) over a fixed horizon after signup. It mixes the membership effect with
  selection and with immortal-time bias (a user must still be around to join).
* :func:`membership_landmark` — a landmark comparison that removes the immortal-time bias:
  status is fixed at ``landmark_days`` after signup (member = ``member_since`` before the
  landmark), the population is restricted to users who already ordered before the landmark,
  and outcomes are counted only after it. The pre-landmark order count per group is reported
  so the remaining selection is visible.
* :func:`membership_effect` — member − non-member differences with (1−alpha) confidence
  intervals (Welch / delta method, :func:`fission.metrics.experiments.lift_ci`) from the
  landmark table.

Conventions (as in :mod:`fission.metrics.retention`): an *order* is an order with
``status != 'cancelled'``; GMV counts ``status = 'paid'`` orders only; windows are half-open
``[start, end)`` in days from ``signup_ts``; only users whose whole window ends on or before the
data end (:func:`fission.metrics._sql.data_end`) and that signed up on or after the data start
(:func:`fission.metrics._sql.data_start`, the first observed order/share/visit) are included, so
every user is fully observed (an installed base that signed up before the data starts would
otherwise count zero orders in windows lying before the data).
"""
from __future__ import annotations

import duckdb
import pandas as pd

from ._sql import data_end as _data_end
from ._sql import interval_days, observed_signup_sql, query, require, ts_literal
from .experiments import lift_ci


def _year_filter(cohort_year) -> str:
    return "" if cohort_year is None else f"AND year(signup_ts) = {int(cohort_year)}"


def membership_summary(con: duckdb.DuckDBPyConnection, horizon_days: float = 180,
                       active_days: float = 30, cohort_year: int | None = None,
                       data_end=None) -> pd.DataFrame:
    """Naive comparison by current membership status (``is_member`` at the data end).

    Population: users (signed up in ``cohort_year`` if given) with
    ``signup_ts + horizon_days <= data end``. Per group (``member`` True/False), over the window
    ``[signup_ts, signup_ts + horizon_days)``:

    * ``users`` — users in the group;
    * ``buyer_rate`` — share with ≥ 1 order;
    * ``repeat_rate`` — share with ≥ 2 orders;
    * ``orders_per_user`` / ``orders_sd`` — mean / sample s.d. of the order count (0 included);
    * ``gmv_per_user`` — mean paid GMV;
    * ``active_end_rate`` — share with ≥ 1 order in the window's last ``active_days`` days
      (retention at the horizon).
    """
    require(con, "users", "orders", needed_for="the membership effect (chapter 6)")
    if active_days > horizon_days:
        raise ValueError("active_days must not exceed horizon_days")
    dend = _data_end(con) if data_end is None else pd.Timestamp(data_end)
    h, a = interval_days(horizon_days), interval_days(horizon_days - active_days)
    return query(con, f"""
    WITH u AS (
        SELECT user_id, signup_ts::TIMESTAMP AS t0, coalesce(is_member, false) AS member
        FROM users
        WHERE signup_ts::TIMESTAMP + {h} <= {ts_literal(dend)} AND {observed_signup_sql(con)}
              {_year_filter(cohort_year)}
    ), o AS (
        SELECT u.user_id,
               count(*) FILTER (WHERE o.status <> 'cancelled') AS orders,
               coalesce(sum(o.gmv::DECIMAL(38, 4)) FILTER (WHERE o.status = 'paid'), 0) AS gmv,
               count(*) FILTER (WHERE o.status <> 'cancelled' AND o.order_ts >= u.t0 + {a}) AS late
        FROM u JOIN orders o ON o.user_id = u.user_id
             AND o.order_ts >= u.t0 AND o.order_ts < u.t0 + {h}
        GROUP BY u.user_id
    ), x AS (
        SELECT u.member, coalesce(o.orders, 0)::DOUBLE AS orders, coalesce(o.gmv, 0)::DOUBLE AS gmv,
               coalesce(o.late, 0) AS late
        FROM u LEFT JOIN o ON o.user_id = u.user_id
    )
    SELECT member, count(*) AS users, avg((orders >= 1)::DOUBLE) AS buyer_rate,
           avg((orders >= 2)::DOUBLE) AS repeat_rate, avg(orders) AS orders_per_user,
           coalesce(stddev_samp(orders), 0) AS orders_sd, avg(gmv) AS gmv_per_user,
           avg((late >= 1)::DOUBLE) AS active_end_rate
    FROM x GROUP BY member ORDER BY member DESC""")


def membership_landmark(con: duckdb.DuckDBPyConnection, landmark_days: float = 30,
                        window_days: float = 180, cohort_year: int | None = None,
                        require_order: bool = True, data_end=None) -> pd.DataFrame:
    """Landmark comparison (status fixed at the landmark; outcomes after it).

    Population: users (signed up in ``cohort_year`` if given) with
    ``signup_ts + landmark_days + window_days <= data end`` and, when ``require_order``, ≥ 1
    order in ``[signup_ts, signup_ts + landmark_days)``. ``member`` is True when the user
    joined before the landmark (``member_since < signup_ts + landmark_days``); users who join
    later count as non-members. Per group:

    * ``users``;
    * ``pre_orders_per_user`` — mean orders before the landmark (shows the selection);
    * ``active_rate`` — share with ≥ 1 order in ``[landmark, landmark + window_days)``;
    * ``orders_per_user`` / ``orders_sd`` — mean / sample s.d. of orders in that window;
    * ``gmv_per_user`` — mean paid GMV in that window.
    """
    require(con, "users", "orders", needed_for="the membership effect (chapter 6)")
    dend = _data_end(con) if data_end is None else pd.Timestamp(data_end)
    lm, end = interval_days(landmark_days), interval_days(landmark_days + window_days)
    keep = "WHERE pre_orders >= 1" if require_order else ""
    return query(con, f"""
    WITH u AS (
        SELECT user_id, signup_ts::TIMESTAMP AS t0,
               (coalesce(is_member, false) AND member_since IS NOT NULL
                AND member_since::TIMESTAMP < signup_ts::TIMESTAMP + {lm}) AS member
        FROM users
        WHERE signup_ts::TIMESTAMP + {end} <= {ts_literal(dend)} AND {observed_signup_sql(con)}
              {_year_filter(cohort_year)}
    ), o AS (
        SELECT u.user_id,
               count(*) FILTER (WHERE o.order_ts < u.t0 + {lm}) AS pre_orders,
               count(*) FILTER (WHERE o.order_ts >= u.t0 + {lm}) AS orders,
               coalesce(sum(o.gmv::DECIMAL(38, 4)) FILTER (WHERE o.order_ts >= u.t0 + {lm} AND o.status = 'paid'), 0)
                   AS gmv
        FROM u JOIN orders o ON o.user_id = u.user_id AND o.status <> 'cancelled'
             AND o.order_ts >= u.t0 AND o.order_ts < u.t0 + {end}
        GROUP BY u.user_id
    ), x AS (
        SELECT u.member, coalesce(o.pre_orders, 0)::DOUBLE AS pre_orders,
               coalesce(o.orders, 0)::DOUBLE AS orders, coalesce(o.gmv, 0)::DOUBLE AS gmv
        FROM u LEFT JOIN o ON o.user_id = u.user_id
    )
    SELECT member, count(*) AS users, avg(pre_orders) AS pre_orders_per_user,
           avg((orders >= 1)::DOUBLE) AS active_rate, avg(orders) AS orders_per_user,
           coalesce(stddev_samp(orders), 0) AS orders_sd, avg(gmv) AS gmv_per_user
    FROM x {keep} GROUP BY member ORDER BY member DESC""")


def membership_effect(landmark: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Member − non-member difference per metric of a :func:`membership_landmark` table, with
    (1−alpha) CIs: ``active_rate`` (variance p(1−p) per user) and ``orders_per_user``
    (variance ``orders_sd``²). Columns: metric, member, non_member, abs_diff, abs_lo, abs_hi,
    ratio (member / non-member) with ratio_lo, ratio_hi (delta-method CI of the ratio), p_value. Descriptive:
    membership is self-selected."""
    g = landmark.set_index("member")
    if not {True, False} <= set(g.index):
        raise ValueError("membership_effect needs both a member and a non-member row")
    m, n = g.loc[True], g.loc[False]
    rows = []
    for metric, vm, vn in (
            ("active_rate", m.active_rate * (1 - m.active_rate), n.active_rate * (1 - n.active_rate)),
            ("orders_per_user", m.orders_sd ** 2, n.orders_sd ** 2)):
        r = lift_ci(float(m[metric]), float(vm), float(m.users), float(n[metric]), float(vn),
                    float(n.users), alpha)
        rows.append({"metric": metric, "member": float(m[metric]), "non_member": float(n[metric]),
                     "abs_diff": r["abs_diff"], "abs_lo": r["abs_lo"], "abs_hi": r["abs_hi"],
                     "ratio": 1 + r["rel_lift"], "ratio_lo": 1 + r["rel_lo"],
                     "ratio_hi": 1 + r["rel_hi"], "p_value": r["p_value"]})
    return pd.DataFrame(rows)
