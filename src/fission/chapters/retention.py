"""Chapter 6 (用户留存): every number, table and decision the chapter publishes.

- Cohort retention is bounded (active in month N); the year-on-year change compares the same
  cohort months with month N complete, with a 95% interval and a significance flag.
- Channels are compared per sign-up (cohort retention, Wilson intervals); a channel is named
  as leading or trailing only when its interval clears the runner-up's. The sign-up → buyer →
  survival funnel reconciles that view with the per-buyer survival analysis.
- Survival: buyers whose first order came within 30 days of signing up, censored at data end −
  90 days (:mod:`fission.metrics.survival`); the Cox model has membership as a time-varying
  covariate and is fitted on every eligible buyer.
- CLV: Pareto/NBD + Gamma–Gamma on the last year, published with its hold-out back-test.
- A/B experiments: SRM check, lift with CI, CUPED (:mod:`fission.metrics.experiments`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import coverage, keyfigures
from ..metrics import experiments, ltv, membership, periods, privacy, retention, survival

CHURN_DAYS = 90
KM_DAYS = (30, 90, 180, 365)
CHANNEL_MONTHS = (1, 3, 6, 12)
LTV_USERS, LTV_SEED, MONTHS, DISCOUNT = 30_000, 0, 12, 0.01
BACKTEST_DAYS = 365     # the CLV back-test's hold-out (ltv.clv_backtest's default horizon)


def _lead(rows: pd.DataFrame, key: str, value: str, lo: str, hi: str) -> dict:
    """Top and bottom of ``rows`` by ``value``; each named as such only when its interval
    clears the next one's."""
    r = rows.sort_values(value, ascending=False, ignore_index=True)
    if len(r) < 2:
        return {"top": None, "bottom": None}
    return {"top": r[key].iloc[0], "top_value": float(r[value].iloc[0]),
            "second": r[key].iloc[1], "top_significant": bool(r[lo].iloc[0] > r[hi].iloc[1]),
            "bottom": r[key].iloc[-1], "bottom_value": float(r[value].iloc[-1]),
            "second_last": r[key].iloc[-2], "bottom_significant": bool(r[hi].iloc[-1] < r[lo].iloc[-2])}


def _cohort(con, year, compare_year, min_group_size) -> dict:
    rb = retention.cohort_retention(con, period="month", kind="bounded")
    ru = retention.cohort_retention(con, period="month", kind="unbounded")
    sizes = rb.groupby("cohort", as_index=False).cohort_size.first()
    sizes = sizes[sizes.cohort.dt.year.isin([compare_year, year])]
    kept, hidden = privacy.suppress_small(sizes, "cohort_size", min_group_size)
    heat = rb[rb.cohort.isin(kept.cohort) & (rb.period_number <= 12)]
    m0 = heat[heat.period_number == 0].retention
    out = {"heat": heat.assign(cohort=heat.cohort.dt.strftime("%Y-%m"))[["cohort", "period_number", "retention"]],
           "hidden": hidden, "m0_min": float(m0.min()), "m0_max": float(m0.max())}
    yoy = retention.retention_comparison(rb, year, compare_year, period_numbers=(1, 3))
    if yoy.empty or set(yoy.period_number) != {1, 3}:
        # no sign-up months of the comparison year to set beside this year's (e.g. data that
        # start in its December): this year's pooled retention, with its interval, alone
        one = retention.year_retention(rb, year, period_numbers=(1, 3)).set_index("period_number")
        if 3 not in one.index:
            raise ValueError(f"table orders: no {year} sign-up month is observed for 3 months after "
                             "it, so cohort retention cannot be given; choose a year the data covers")
        by = {n: {"retention": float(one.loc[n, "retention"]), "lo": float(one.loc[n, "ci_lo"]),
                  "hi": float(one.loc[n, "ci_hi"]), "users": int(one.loc[n, "users"])}
              for n in (1, 3) if n in one.index}
        months = list(one.loc[3, "cohort_months"])
        return {**out, "comparable": False, "m1": by.get(1), "m3": by[3],
                "months": {"first": months[0], "last": months[-1]}}
    by = {int(r.period_number): {k: r[k] for k in ("retention", "compare_retention", "diff", "diff_lo",
                                                   "diff_hi", "p_value", "significant", "users",
                                                   "compare_users")}
          for _, r in yoy.iterrows()}
    months = list(yoy.set_index("period_number").loc[3, "cohort_months"])

    def unbounded(y):
        sub = ru[(ru.cohort.dt.year == y) & ru.cohort.dt.month.isin(months)]
        return float(retention.retention_curve(sub).set_index("period_number").retention.loc[3])
    return {**out, "comparable": True, "m1": by[1], "m3": by[3],
            "months": {"first": months[0], "last": months[-1]},
            "unbounded_m3": unbounded(year), "unbounded_m3_prev": unbounded(compare_year)}


def _channels(con, year, compare_year, min_group_size) -> dict:
    rs = retention.cohort_retention(con, period="month", segment="acquisition_channel", max_periods=12)
    rs = rs[rs.cohort.dt.year.isin([compare_year, year])]
    curve = retention.retention_curve(rs)
    wide = curve.pivot_table(index="acquisition_channel", columns="period_number", values="retention")
    c3 = curve[curve.period_number == 3].set_index("acquisition_channel")
    rows = pd.DataFrame({"channel": wide.index,
                         "users": curve[curve.period_number == 0].set_index("acquisition_channel")
                         .cohort_size.reindex(wide.index).to_numpy(),
                         **{f"m{n}": wide[n].to_numpy() for n in CHANNEL_MONTHS},
                         "m3_lo": c3.ci_lower.reindex(wide.index).to_numpy(),
                         "m3_hi": c3.ci_upper.reindex(wide.index).to_numpy()})
    rows, hidden = privacy.suppress_small(rows, "users", min_group_size)
    rows = rows.sort_values("m3", ascending=False, ignore_index=True)
    shown = curve[curve.acquisition_channel.isin(rows.channel) & (curve.period_number >= 1)]
    return {"rows": rows, "hidden": hidden, "lead": _lead(rows, "channel", "m3", "m3_lo", "m3_hi"),
            "curve": shown.rename(columns={"acquisition_channel": "channel"})[
                ["channel", "period_number", "retention"]]}


def _survival(con, min_group_size) -> dict:
    km = survival.kaplan_meier(con, "acquisition_channel", CHURN_DAYS, at_days=KM_DAYS)
    med, hidden = privacy.suppress_small(km.medians, "users", min_group_size)
    med = med.rename(columns={"group": "channel"}).sort_values("survival_90d", ascending=False,
                                                                ignore_index=True)
    funnel = survival.channel_funnel(con, km, CHURN_DAYS, at_days=(90, 180))
    funnel = funnel[funnel.group.isin(med.channel)].rename(columns={"group": "channel"})
    early = survival.early_churn(con).rename(columns={"grp": "channel"}).set_index("channel")
    d0 = med.loc[med.day0_churn.idxmax()]
    curves = km.curves[(km.curves.timeline <= 365) & km.curves.group.isin(med.channel)]
    out = {"rows": med, "hidden": hidden, "churn_days": CHURN_DAYS,
           "first_order_days": survival.FIRST_ORDER_WITHIN_DAYS,
           "curves": curves.rename(columns={"group": "channel"}),
           "s90_min": float(med.survival_90d.min()), "s90_max": float(med.survival_90d.max()),
           "s365_min": float(med.survival_365d.min()), "s365_max": float(med.survival_365d.max()),
           "median_min": float(med.median_days.min()), "median_max": float(med.median_days.max()),
           "day0": {"channel": d0.channel, "share": float(d0.day0_churn),
                    "ordered_again": float(early.loc[d0.channel, "ordered_again"]),
                    "never_again": float(early.loc[d0.channel, "never_again"])},
           "funnel": funnel}
    fb = funnel.set_index("channel")
    if {"group_buy", "organic"} <= set(fb.index):
        gap = survival.survival_gap(km, "group_buy", "organic", at_days=(30, 180))
        out["gap"] = {"rows": gap, "trend": survival.gap_trend(gap)}
        out["group_buy"] = fb.loc["group_buy"].to_dict()
        out["organic"] = fb.loc["organic"].to_dict()
    else:
        out["gap"] = None
    return out


def _covariate(c: str) -> dict:
    kind, _, code = c.partition("=")
    kind = {"acquisition_channel": "channel"}.get(kind, kind)
    return {"kind": kind, "code": code}


def _cox(con, max_users: int | None = None) -> dict:
    cox = survival.cox_churn(con, CHURN_DAYS, max_users=max_users, seed=LTV_SEED)
    hr = cox.hazard_ratios.merge(cox.ph_test.rename(columns={"p": "ph_p"})[["covariate", "ph_p"]],
                                 on="covariate", how="left")
    hr = pd.concat([hr, pd.DataFrame([_covariate(c) for c in hr.covariate])], axis=1)
    hr["significant"] = hr.p < 0.05
    hr["violates"] = hr.ph_p < 0.05
    cols = ["kind", "code", "hazard_ratio", "hr_lower", "hr_upper", "p", "significant", "violates"]
    sig = hr[hr.significant]
    m = hr[hr.kind == "is_member"]
    return {"rows": hr[cols], "users": cox.users, "population": cox.population,
            "events": cox.events, "subsampled": cox.subsampled, "concordance": cox.concordance,
            "protective": sig[sig.hazard_ratio < 1].sort_values("hazard_ratio").head(3)[cols],
            "risk": sig[sig.hazard_ratio > 1].sort_values("hazard_ratio", ascending=False).head(3)[cols],
            "violations": hr[hr.violates].sort_values("ph_p")[cols],
            "member": None if m.empty else m.iloc[0][cols].to_dict()}


def _membership(con, min_group_size) -> dict:
    naive = membership.membership_summary(con, horizon_days=180, active_days=30)
    landmark = membership.membership_landmark(con, landmark_days=60, window_days=180)
    effect = membership.membership_effect(landmark).set_index("metric")
    n, h1 = privacy.suppress_small(naive, "users", min_group_size)
    lm, h2 = privacy.suppress_small(landmark, "users", min_group_size)
    rows = ([{"basis": "current", "member": bool(r.member), "users": int(r.users),
              "orders_per_user": r.orders_per_user, "active_end_rate": r.active_end_rate,
              "gmv_per_user": r.gmv_per_user, "pre_orders_per_user": None} for r in n.itertuples()]
            + [{"basis": "landmark", "member": bool(r.member), "users": int(r.users),
                "orders_per_user": r.orders_per_user, "active_end_rate": None,
                "gmv_per_user": r.gmv_per_user, "pre_orders_per_user": r.pre_orders_per_user}
               for r in lm.itertuples()])
    nv, lmi = naive.set_index("member"), landmark.set_index("member")
    return {"rows": rows, "hidden": h1 + h2,
            "naive": {"member": float(nv.loc[True, "orders_per_user"]),
                      "non_member": float(nv.loc[False, "orders_per_user"])},
            "pre": {"member": float(lmi.loc[True, "pre_orders_per_user"]),
                    "non_member": float(lmi.loc[False, "pre_orders_per_user"])},
            "orders": effect.loc["orders_per_user"].to_dict(),
            "active": effect.loc["active_rate"].to_dict()}


def _ltv(con, min_group_size, max_users: int = LTV_USERS, by_channel: bool = True) -> dict:
    segment = "acquisition_channel" if by_channel else None
    lt = ltv.ltv_by_segment(con, segment, MONTHS, DISCOUNT, max_users=max_users, seed=LTV_SEED)
    bt = ltv.clv_backtest(con, max_users=max_users, seed=LTV_SEED)
    old = ltv.clv_backtest(con, model="bgnbd", calibration_days=None, max_users=max_users, seed=LTV_SEED)
    values = lt.customer_values.clv.to_numpy(float)
    pos = values[values > 0]
    edges = np.logspace(np.log10(max(pos.min(), 1.0)), np.log10(pos.max()), 41)
    edges[-1] = pos.max()          # 10**log10(x) may fall below x: the largest value would be lost
    counts, _ = np.histogram(pos, bins=edges)
    bins = bt.table[bt.table.bin != "all"]
    out = {"rows": [], "hidden": 0}
    if by_channel:
        seg, hidden = privacy.suppress_small(lt.by_segment, "customers", min_group_size)
        seg = seg.rename(columns={"acquisition_channel": "channel"}).sort_values(
            "clv", ascending=False, ignore_index=True)
        out = {"rows": seg, "hidden": hidden,
               "clv_min": float(seg.clv.min()), "clv_max": float(seg.clv.max()),
               "spend_min": float(seg.expected_spend.min()),
               "spend_max": float(seg.expected_spend.max())}
    return {**out, "customers": lt.customers, "subsampled": lt.subsampled,
            "months": MONTHS, "discount": DISCOUNT,
            "median": float(np.median(values)), "mean": float(values.mean()),
            "p90": float(np.quantile(values, 0.9)),
            "hist": {"edges": edges, "counts": counts},
            "converged": bool(lt.model.converged and lt.gamma_gamma.converged),
            "backtest": {"rows": bt.table, "cutoff": bt.cutoff.strftime("%Y-%m-%d"),
                         "total": bt.total.to_dict(),
                         "bin_error_min": float(bins.purchases_error.min()),
                         "bin_error_max": float(bins.purchases_error.max()),
                         "old_error": float(old.total["purchases_error"]),
                         "old_spend_error": float(old.total["spend_error"])}}


def _ab(con, min_group_size) -> dict:
    ab = experiments.experiment_results(con, planned_treatment_share=0.5, alpha=0.05, srm_alpha=0.001)
    ab["n_min"] = ab[["n_control", "n_treatment"]].min(axis=1)
    ab, hidden = privacy.suppress_small(ab, "n_min", min_group_size)
    ab["mde"] = [experiments.mde_proportion(r.rate_control, r.n_treatment, r.n_control) for r in ab.itertuples()]
    ab["significant"] = (ab.p_value < 0.05) & (ab.abs_diff > 0) & ~ab.srm
    cols = ["name", "n_control", "n_treatment", "treatment_share", "planned_treatment_share", "srm",
            "srm_p", "rate_control", "rate_treatment", "rel_lift", "rel_lo", "rel_hi", "p_value",
            "cuped_rel_lift", "cuped_rel_lo", "cuped_rel_hi", "mde", "significant"]
    return {"rows": ab[cols], "hidden": hidden, "n": len(ab), "significant": int(ab.significant.sum()),
            "vr_min": float(ab.variance_reduction.min()), "vr_max": float(ab.variance_reduction.max())}


def _short_history(con, days: float) -> dict | None:
    """The missing-history item (fission.words: ``missing_history``) when the orders span less
    than ``days``: counted in months, as the notice says."""
    start, end = periods.observed_span(con)
    if (end - start) >= pd.Timedelta(days=days):
        return None
    return {"history": "orders.order_ts", "have": int((end - start).days // 30.4375),
            "need": int(np.ceil(days / 30.4375))}


_ORDERS = ["user_id", "order_ts", "status"]
#: the tables and columns each section needs (fission.coverage): with partial data the sections
#: whose needs are met are built, the others replaced by a notice. The cohort section's
#: sign-up → buyer funnel table comes from the survival section and is shown only with it.
NEEDS = {
    "cohort": {"users": ["user_id", "signup_ts"], "orders": _ORDERS},
    "cohort.channels": {"users": ["user_id", "signup_ts", "acquisition_channel"], "orders": _ORDERS},
    "survival": {"users": ["user_id", "signup_ts", "acquisition_channel", "city_tier", "age_band",
                           "gender", "is_member", "member_since"], "orders": _ORDERS},
    "membership": {"users": ["user_id", "signup_ts", "is_member", "member_since"],
                   "orders": _ORDERS + ["gmv"]},
    "ltv": {"users": ["user_id"], "orders": _ORDERS + ["gmv"]},
    "ltv.channels": {"users": ["user_id", "acquisition_channel"], "orders": _ORDERS + ["gmv"]},
    "ab": {"experiments": ["experiment_id", "name", "primary_metric", "start_ts", "end_ts"],
           "assignments": ["experiment_id", "user_id", "variant"], "orders": _ORDERS},
}


def facts(con, year: int, compare_year: int, min_group_size: int = 50,
          driver_sample: int | None = None) -> dict:
    """Every number, table and decision of chapter 6 for ``year`` against ``compare_year``
    (of the sections the data can build: ``missing`` names the others). ``driver_sample``:
    at most this many users in the Cox and CLV fits (a seeded sample, stated in the words)."""
    missing = coverage.gaps(con, NEEDS)
    f = {"missing": missing}
    figs = []
    if "cohort" not in missing:
        f["cohort"] = _cohort(con, year, compare_year, min_group_size)
        if "cohort.channels" not in missing:
            f["channels"] = _channels(con, year, compare_year, min_group_size)
        m3 = f["cohort"]["m3"]
        figs.append(keyfigures.figure("m3", m3["retention"], "rate", m3.get("compare_retention"),
                                      lo=m3.get("diff_lo"), hi=m3.get("diff_hi"),
                                      significant=m3.get("significant")))
    if "survival" not in missing:
        f["survival"], f["cox"] = _survival(con, min_group_size), _cox(con, driver_sample)
    if "membership" not in missing:
        f["membership"] = _membership(con, min_group_size)
        figs.append(keyfigures.figure("member_ratio", f["membership"]["orders"]["ratio"], "ratio",
                                      digits=2))
    if "ltv" not in missing:
        short = _short_history(con, ltv.CALIBRATION_DAYS + BACKTEST_DAYS)
        if short:     # a CLV is published with its back-test, or not at all
            missing["ltv"] = [short]
    if "ltv" not in missing:
        f["ltv"] = _ltv(con, min_group_size, min(LTV_USERS, driver_sample or LTV_USERS),
                        by_channel="ltv.channels" not in missing)
        err = f["ltv"]["backtest"]["total"]["purchases_error"]
        figs += [keyfigures.figure("clv_median", f["ltv"]["median"], "yuan"),
                 keyfigures.figure("clv_error", err, "rate")]
    if "ab" not in missing:
        f["ab"] = _ab(con, min_group_size)
        figs.append(keyfigures.figure("ab_significant", f["ab"]["significant"], "count", digits=0))
    order = ["m3", "clv_median", "clv_error", "member_ratio", "ab_significant"]
    f["keyfigures"] = sorted(figs, key=lambda k: order.index(k["id"]))
    return f
