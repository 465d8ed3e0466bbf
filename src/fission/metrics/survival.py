"""Survival of users until churn (chapter 6): Kaplan–Meier curves and a Cox model.

Churn definition (fixed inactivity gap of ``churn_days``, 90 by default). The population is
the buyers: users with at least one order with ``status != 'cancelled'`` (users who never
ordered were never active and would pile up at duration 0). A buyer **churns** at the first
order followed by a gap of at least ``churn_days`` with no order (the gap to the data end
counts, so a buyer whose last order is ≥ ``churn_days`` before the data end has churned at
it). Duration = days from ``signup_ts`` to that order. Buyers with no such gap yet (last
order within ``churn_days`` of the data end) are **censored** at their last order. A buyer
who comes back after a long gap keeps the first churn time (we model time to first churn).

Only buyers who signed up on or after the data start (:func:`fission.metrics._sql.data_start`,
the first observed order/share/visit) are included: for users who signed up earlier the
orders between signup and the data start are not in the data, so their durations from signup
would be wrong (left truncation).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pandas as pd

from ._sql import data_end as _data_end
from ._sql import interval_days, observed_signup_sql, query, require, ts_literal

GROUPS = ("acquisition_channel", "city_tier", "age_band", "gender", "is_member")
COX_COVARIATES = {"acquisition_channel": "organic", "city_tier": "1", "age_band": "25-30",
                  "gender": "F", "is_member": "false"}  # DuckDB spells booleans as VARCHAR in lower case


def _durations_sql(con, churn_days: float, data_end) -> str:
    require(con, "users", "orders", needed_for="survival / churn analysis (chapter 6)")
    dend = _data_end(con) if data_end is None else pd.Timestamp(data_end)
    gap = interval_days(churn_days)
    return f"""
    WITH ev AS (
        SELECT user_id, order_ts::TIMESTAMP AS ts FROM orders WHERE status <> 'cancelled'
    ), g AS (
        SELECT user_id, ts, lead(ts) OVER (PARTITION BY user_id ORDER BY ts) AS nxt FROM ev
    ), c AS (
        SELECT user_id,
               min(ts) FILTER (WHERE coalesce(nxt, {ts_literal(dend)}) - ts >= {gap}) AS churn_ts,
               max(ts) AS last_ts
        FROM g GROUP BY user_id
    )
    SELECT u.user_id, u.acquisition_channel, u.city_tier::VARCHAR AS city_tier, u.age_band,
           u.gender, u.is_member::VARCHAR AS is_member,
           greatest(epoch(coalesce(c.churn_ts, c.last_ts)) - epoch(u.signup_ts), 0) / 86400.0
               AS duration_days,
           (c.churn_ts IS NOT NULL)::INTEGER AS event
    FROM users u JOIN c ON c.user_id = u.user_id
    WHERE {observed_signup_sql(con, 'u.signup_ts')}
    """


def churn_durations(con: duckdb.DuckDBPyConnection, churn_days: float = 90, data_end=None,
                    max_users: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Per user: covariates, ``duration_days`` and ``event`` (1 churned, 0 censored) under the
    module's churn definition. With ``max_users`` a deterministic pseudo-random subsample
    (ordered by a seeded hash of user_id) of at most that many users."""
    sql = _durations_sql(con, churn_days, data_end)
    if max_users is not None:
        sql = f"SELECT * FROM ({sql}) ORDER BY hash(user_id + {int(seed)}), user_id LIMIT {int(max_users)}"
    return query(con, sql)


def survival_table(con: duckdb.DuckDBPyConnection, group: str | None = "acquisition_channel",
                   churn_days: float = 90, data_end=None) -> pd.DataFrame:
    """Aggregated life table: group, whole ``duration_days`` (floored), event, n users — the
    input of :func:`km_curves` (small, whatever the number of users)."""
    if group is not None and group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}")
    gsel = f"{group} AS grp" if group else "'all' AS grp"
    return query(con, f"""SELECT {gsel}, floor(duration_days)::INTEGER AS duration_days, event,
                                 count(*) AS n
                          FROM ({_durations_sql(con, churn_days, data_end)}) GROUP BY ALL
                          ORDER BY 1, 2, 3""")


@dataclass
class KMResult:
    curves: pd.DataFrame    # group, timeline, survival, ci_lower, ci_upper
    medians: pd.DataFrame   # group, users, events, median_days (+ CI), survival at days
    churn_days: float = 90
    fitters: dict = field(default_factory=dict, repr=False)


def km_curves(table: pd.DataFrame, at_days=(30, 90, 180, 365)) -> KMResult:
    """Kaplan–Meier fits (lifelines) per group of a :func:`survival_table`: the curves with 95 %
    confidence bands, median survival per group (inf when the curve never drops to 0.5) and
    survival at ``at_days``."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    curves, meds, fitters = [], [], {}
    for grp, g in table.groupby("grp", sort=True):
        k = KaplanMeierFitter(label=str(grp))
        k.fit(g["duration_days"], g["event"], weights=g["n"])
        sf = k.survival_function_.iloc[:, 0]
        ci = k.confidence_interval_survival_function_
        curves.append(pd.DataFrame({"group": grp, "timeline": sf.index.to_numpy(),
                                    "survival": sf.to_numpy(), "ci_lower": ci.iloc[:, 0].to_numpy(),
                                    "ci_upper": ci.iloc[:, 1].to_numpy()}))
        mci = median_survival_times(k.confidence_interval_)
        row = {"group": grp, "users": int(g["n"].sum()),
               "events": int(g.loc[g["event"] == 1, "n"].sum()),
               "median_days": float(k.median_survival_time_),
               "median_lower": float(mci.iloc[0, 0]), "median_upper": float(mci.iloc[0, 1])}
        for d in at_days:
            row[f"survival_{d}d"] = float(k.predict(d))
        meds.append(row)
        fitters[grp] = k
    return KMResult(pd.concat(curves, ignore_index=True), pd.DataFrame(meds), fitters=fitters)


def kaplan_meier(con: duckdb.DuckDBPyConnection, group: str | None = "acquisition_channel",
                 churn_days: float = 90, data_end=None, at_days=(30, 90, 180, 365)) -> KMResult:
    """Kaplan–Meier survival until churn per ``group`` (see module docstring)."""
    r = km_curves(survival_table(con, group, churn_days, data_end), at_days)
    r.churn_days = churn_days
    return r


@dataclass
class CoxResult:
    hazard_ratios: pd.DataFrame   # covariate, coef, hazard_ratio, hr_lower, hr_upper, p
    ph_test: pd.DataFrame         # covariate, test_statistic, p (proportional-hazards check)
    users: int
    events: int
    population: int
    subsampled: bool
    concordance: float
    penalizer: float
    reference: dict
    model: object = field(default=None, repr=False)


def cox_design(d: pd.DataFrame, covariates=tuple(COX_COVARIATES)) -> pd.DataFrame:
    """One-hot design matrix (reference levels in ``COX_COVARIATES`` left out; constant columns
    dropped) plus duration_days and event."""
    parts = []
    for c in covariates:
        dummies = pd.get_dummies(d[c].astype(str), prefix=c, prefix_sep="=", dtype=float)
        ref = f"{c}={COX_COVARIATES[c]}"
        if ref in dummies.columns:
            dummies = dummies.drop(columns=ref)
        else:                                   # reference absent: drop the first level
            dummies = dummies.iloc[:, 1:]
        parts.append(dummies)
    x = pd.concat(parts, axis=1)
    x = x.loc[:, x.std() > 0]
    x["duration_days"] = d["duration_days"].astype(float).to_numpy()
    x["event"] = d["event"].astype(int).to_numpy()
    return x


def cox_churn(con: duckdb.DuckDBPyConnection, churn_days: float = 90, max_users: int = 50_000,
              seed: int = 0, penalizer: float = 0.01, data_end=None,
              covariates=tuple(COX_COVARIATES)) -> CoxResult:
    """Cox proportional-hazards model of churn on channel, city tier, age band, gender and
    membership (lifelines ``CoxPHFitter(penalizer=penalizer)``), fitted on at most
    ``max_users`` users (seeded hash subsample; ``subsampled`` says whether it happened).
    Reports hazard ratios with 95 % CIs and the Schoenfeld-residual proportional-hazards test
    (lifelines ``proportional_hazard_test``, rank time transform) per covariate.
    Membership is taken as of the data end (not time-varying)."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    population = int(con.execute("SELECT count(*) FROM users").fetchone()[0])
    d = churn_durations(con, churn_days, data_end, max_users=max_users, seed=seed)
    x = cox_design(d, covariates)
    cph = CoxPHFitter(penalizer=penalizer)
    cph.fit(x, duration_col="duration_days", event_col="event")
    s = cph.summary
    hr = pd.DataFrame({"covariate": s.index, "coef": s["coef"].to_numpy(),
                       "hazard_ratio": s["exp(coef)"].to_numpy(),
                       "hr_lower": s["exp(coef) lower 95%"].to_numpy(),
                       "hr_upper": s["exp(coef) upper 95%"].to_numpy(),
                       "p": s["p"].to_numpy()})
    ph = proportional_hazard_test(cph, x, time_transform="rank").summary
    ph = pd.DataFrame({"covariate": ph.index.get_level_values(0) if ph.index.nlevels == 1
                       else ph.index.get_level_values(0),
                       "test_statistic": ph["test_statistic"].to_numpy(), "p": ph["p"].to_numpy()})
    return CoxResult(hr, ph, users=len(x), events=int(x["event"].sum()), population=population,
                     subsampled=len(x) < population, concordance=float(cph.concordance_index_),
                     penalizer=penalizer, reference={c: COX_COVARIATES[c] for c in covariates},
                     model=cph)
