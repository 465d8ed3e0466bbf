"""Chapter 3 (用户增长策略与案例分析): every number, table and decision the chapter publishes.

* K-factor per signup cohort, its change on the previous year and whether the months differ
  (:mod:`fission.metrics.viral`); a mechanism is named as leading only when significantly ahead.
* Referral cascades: described for the year's roots; compared with the previous year only on
  complete observation windows (trees cut at ``cascade_window`` days after the root's signup,
  roots with the whole window observed), with intervals clustered by tree.
* Growth accounting: the month-on-month retention rate and quick ratio with intervals
  clustered by user; the baseline month of a truncated history is in the retention denominator.
* Segments (lower-tier cities, 18–30) against the rest with intervals; no ranking on noise.
* Campaign uplift from the daily model with placebo-calibrated intervals, and the measured
  false-positive rate of those intervals.
Counts of people and money are a census; rates and means carry a 95% interval.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import coverage, keyfigures
from ..metrics import cascades, experiments, growth, periods, privacy, segments, viral

WINDOW = 30             # days after signup in which a user's shares and first order count
CASCADE_WINDOW = 60     # days after a root's signup in which its cascade is observed
LARGE = 10              # a "large" cascade has at least this many users
SEGMENTS = ("lower_tier", "age_18_30")


def _v(d: dict) -> dict:
    """A comparison as stored in the facts."""
    return {k: (None if d.get(k) is None or (isinstance(d.get(k), float) and np.isnan(d[k]))
                else (bool(d[k]) if k == "significant" else float(d[k])))
            for k in ("value", "prev", "change", "ci_lo", "ci_hi", "p_value", "significant")
            if k in d}


def _month(ts) -> str:
    return f"{pd.Timestamp(ts):%Y-%m}"


# ------------------------------------------------------------------ K-factor
def _poisson_leader(rows: pd.DataFrame, num: str, den: str, key: str = "mechanism") -> dict:
    """Which mechanism leads on num/den (per share), counts read as Poisson."""
    est = rows[num] / rows[den]
    se = np.sqrt(rows[num]) / rows[den]
    lead = experiments.significant_leader(est, se, rows[key])
    top = rows.set_index(key).loc[lead["top"]]
    return {**lead, "value": float(top[num] / top[den])}


def _viral(con, year, compare_year, min_group_size) -> dict:
    km = viral.viral_k(con, window_days=WINDOW, period="month")
    dend = pd.Timestamp(km.attrs["data_end"])
    complete = (km.cohort + pd.DateOffset(months=1) + pd.Timedelta(days=WINDOW)
                <= dend + pd.Timedelta(days=1))
    km = km[complete]
    ky = viral.viral_k(con, window_days=WINDOW, period="year")
    ky["y"] = pd.to_datetime(ky.cohort).dt.year
    kc = ky[ky.y == year].set_index("mechanism")
    kp = ky[ky.y == compare_year].set_index("mechanism")
    yoy = viral.k_change(ky, f"{year}-01-01", f"{compare_year}-01-01").set_index("mechanism")
    spread = viral.k_spread(km[pd.to_datetime(km.cohort).dt.year == year])
    mech = kc.drop("all").join(kp[["k_factor"]], rsuffix="_prev").join(
        yoy[["change", "ci_lo", "ci_hi", "significant"]]).reset_index()
    mech, hidden = privacy.suppress_small(mech, "signups", min_group_size)
    top = mech.sort_values("k_factor", ascending=False)
    k_lead = experiments.significant_leader(top.k_factor, top.k_se, top.mechanism)
    cyc = mech.dropna(subset=["cycle_days_median"]).sort_values("cycle_days_median")
    k, kprev = float(kc.loc["all", "k_factor"]), float(kp.loc["all", "k_factor"])
    return {
        "window_days": WINDOW,
        "k": k, "k_prev": kprev, "change": _v(yoy.loc["all"].to_dict()),
        "amplification": float(segments.viral_amplification(k)),
        "amplification_prev": float(segments.viral_amplification(kprev)),
        "months": {"differ": spread["differ"], "p_value": spread["p_value"],
                   "high": _month(spread["high"]), "k_high": spread["k_high"],
                   "low": _month(spread["low"]), "k_low": spread["k_low"],
                   "cohorts": spread["cohorts"]},
        "top2": top.mechanism.iloc[:2].tolist(), "top2_k": top.k_factor.iloc[:2].tolist(),
        "top2_share": float(top.k_factor.iloc[:2].sum() / k), "k_leader": k_lead,
        "reach": _poisson_leader(mech, "visits", "shares"),
        "conversion": _poisson_leader(mech, "signups", "shares"),
        "reach_invites": float(mech.set_index("mechanism").loc[
            _poisson_leader(mech, "visits", "shares")["top"], "invites_per_user"]),
        "cycle": float(kc.loc["all", "cycle_days_median"]),
        "cycle_prev": float(kp.loc["all", "cycle_days_median"]),
        "cycle_fast": {"mechanism": cyc.mechanism.iloc[0], "days": float(cyc.cycle_days_median.iloc[0])},
        "cycle_slow": {"mechanism": cyc.mechanism.iloc[-1], "days": float(cyc.cycle_days_median.iloc[-1])},
        "changed": int(mech.significant.sum()),
        "rows": mech[["mechanism", "invites_per_user", "visits_per_share", "invite_conversion",
                      "k_factor", "k_factor_prev", "change", "ci_lo", "ci_hi", "significant",
                      "cycle_days_median"]],
        "hidden": hidden,
        "monthly": km[["cohort", "mechanism", "k_factor"]].assign(
            cohort=lambda d: pd.to_datetime(d.cohort).dt.strftime("%Y-%m")),
    }


# ------------------------------------------------------------------ cascades
def _cascades(con, year, compare_year, min_group_size, driver_sample=None) -> dict:
    # the edges once for both views (all trees and the windowed comparison); with the edition's
    # driver_sample only whole trees sampled in the database reach pandas
    edges = cascades.referral_edges(con, max_users=driver_sample)
    cs_all = cascades.referral_cascades(con, with_root_info=True, edges=edges)
    cs = cs_all[pd.to_datetime(cs_all.root_month).dt.year == year]
    desc = segments.cascade_summary(cs_all, years=[year], large=LARGE).iloc[0]
    vs = segments.virality_by_size(cs, min_trees=10)
    size_cap = 2
    while size_cap in set(vs["size"]):
        size_cap += 1
    size_dist = cascades.cascade_distribution(cs, by="size", buckets=tuple(range(2, size_cap + 1)))
    depth_counts = cascades.cascade_distribution(cs, by="depth")
    depth_cap = (int(depth_counts.depth[depth_counts.trees < 10].min()) - 1
                 if (depth_counts.trees < 10).any() else int(cs.depth.max()))
    depth_dist = cascades.cascade_distribution(cs.assign(depth=cs.depth.clip(upper=depth_cap)), by="depth")
    ref = segments.sv_reference(vs["size"])
    big = vs["size"] >= LARGE
    win = cascades.referral_cascades(con, window_days=CASCADE_WINDOW, edges=edges)
    chg = segments.cascade_change(win, year, compare_year, large=LARGE).set_index("metric")
    size_tbl = cascades.cascade_distribution(cs, by="size", buckets=(2, 3, 5, 10, 20))
    size_tbl["share_of_users"] = size_tbl.users / desc.users
    size_tbl, hidden = privacy.suppress_small(size_tbl, "users", min_group_size)
    mid = size_tbl[size_tbl.size_bucket.astype(str).isin(["5-9", "10-19", "20+"])]
    return {
        "trees": int(desc.trees), "users": int(desc.users), "mean_depth": float(desc.mean_depth),
        "pairs_share": float(size_dist.share_of_trees.iloc[0]),
        "size_dist": size_dist.assign(size_bucket=size_dist.size_bucket.astype(str))[
            ["size_bucket", "trees"]],
        "depth_dist": depth_dist[["depth", "trees"]], "depth_cap": depth_cap,
        "virality": vs[["size", "sv_mean", "sv_lo", "sv_hi"]].assign(star=ref.star.to_numpy(),
                                                                   chain=ref.chain.to_numpy()),
        "min_trees": int(vs.attrs["min_trees"]), "dropped_trees": int(vs.attrs["dropped_trees"]),
        "gap_star": float((vs.sv_mean[big] - ref.star[big]).mean()) if big.any() else None,
        "gap_chain": float((ref.chain[big] - vs.sv_mean[big]).mean()) if big.any() else None,
        "window_days": CASCADE_WINDOW, "large": LARGE,
        "compare": {m: _v(chg.loc[m].to_dict()) for m in chg.index},
        "compare_trees": int(chg.attrs["trees"]), "compare_trees_prev": int(chg.attrs["trees_prev"]),
        "rows": size_tbl.assign(size_bucket=size_tbl.size_bucket.astype(str))[
            ["size_bucket", "trees", "share_of_trees", "users", "share_of_users", "sv_mean"]],
        "hidden": hidden,
        "mid_tree_share": float(mid.share_of_trees.sum()), "mid_user_share": float(mid.share_of_users.sum()),
        "sample": _sample_facts(edges.attrs.get("sample")),
    }


def _sample_facts(sample: dict | None) -> dict | None:
    """What the words say of the cascade sample: None when every tree was analysed."""
    if sample is None or not sample["sampled"]:
        return None
    return {k: sample[k] for k in ("trees", "users", "trees_total", "users_total", "max_users")}


# ------------------------------------------------------------------ growth accounting
def _whole(ga: pd.DataFrame, span: tuple, period: str) -> pd.DataFrame:
    """The growth-accounting periods observed from start to end (``span``, from
    periods.observed_span): a part-period at either end of the data (its buyers not all seen
    yet) is not counted as churn."""
    start, end = span
    step = pd.DateOffset(months=1) if period == "month" else pd.Timedelta(days=7)
    p = pd.to_datetime(ga.period)
    keep = (p >= start.normalize()) & (p + step <= end.normalize() + pd.Timedelta(days=1))
    out = ga[keep.to_numpy()]
    out.attrs = dict(ga.attrs)
    return out


def _growth_year(ga, gw, year) -> dict:
    """Growth accounting of ``year`` alone, for data without a whole comparison year."""
    gc, wc = segments.annual_growth(ga, year), segments.annual_growth(gw, year)
    if not gc.periods:
        raise ValueError(f"table orders: no whole month of {year} is in the data; growth "
                         "accounting needs at least one")
    cur = ga[ga.period.dt.year == year].set_index("period")
    s = lambda g: {k: float(g[k]) for k in g.index}
    rows = [{"metric": m, "kind": "count", "cur": gc[m], "prev": None}
            for m in ("mean_active", "new", "retained", "resurrected", "churned")]
    rows += [{"metric": "quick_ratio", "kind": "ratio", "cur": gc.quick_ratio, "prev": None},
             {"metric": "retention_rate", "kind": "rate", "cur": gc.retention_rate, "prev": None},
             {"metric": "weekly_quick_ratio", "kind": "ratio", "cur": wc.quick_ratio, "prev": None},
             {"metric": "months_qr_above_1", "kind": "share", "cur": gc.periods_qr_above_1,
              "prev": None, "n": gc.periods, "n_prev": None}]
    return {"comparable": False, "cur": s(gc), "week": s(wc),
            "qr_high": {"month": int(cur.quick_ratio.idxmax().month), "value": float(cur.quick_ratio.max())},
            "qr_low": {"month": int(cur.quick_ratio.idxmin().month), "value": float(cur.quick_ratio.min())},
            "resurrected_share": gc.resurrected / (gc.new + gc.resurrected),
            "first_month": f"{cur.index.min():%Y-%m}", "last_month": f"{cur.index.max():%Y-%m}",
            "baseline_month": None,
            "monthly": ga[["period", "new", "resurrected", "churned", "quick_ratio"]].assign(
                period=lambda d: d.period.dt.strftime("%Y-%m")),
            "rows": pd.DataFrame(rows)}


def _growth(con, year, compare_year) -> dict:
    ga = growth.growth_accounting(con, period="month")
    if not growth.check_balance(ga):
        raise AssertionError("growth accounting does not balance")
    gw = growth.growth_accounting(con, period="week")
    span = periods.observed_span(con)
    if not periods.edition_periods(con, year, compare_year, span)["comparable"]:
        return _growth_year(_whole(ga, span, "month"), _whole(gw, span, "week"), year)
    gc, gp = segments.annual_growth(ga, year), segments.annual_growth(ga, compare_year)
    wc, wp = segments.annual_growth(gw, year), segments.annual_growth(gw, compare_year)
    chg = growth.annual_change(con, year, compare_year).set_index("metric")
    act = experiments.count_change(gc.mean_active * gc.periods, gp.mean_active * gp.periods,
                                   gc.periods, gp.periods)
    cur = ga[ga.period.dt.year == year].set_index("period")
    base = ga.attrs.get("baseline_active")
    s = lambda g: {k: float(g[k]) for k in g.index}
    qr, rr = _v(chg.loc["quick_ratio"].to_dict()), _v(chg.loc["retention_rate"].to_dict())
    rows = [
        {"metric": "mean_active", "kind": "count", "cur": gc.mean_active, "prev": gp.mean_active,
         "change": act["change"], "lo": act["ci_lo"], "hi": act["ci_hi"], "significant": act["significant"]},
        *({"metric": m, "kind": "count", "cur": gc[m], "prev": gp[m]}
          for m in ("new", "retained", "resurrected", "churned")),
        {"metric": "quick_ratio", "kind": "ratio", "cur": gc.quick_ratio, "prev": gp.quick_ratio,
         "change": qr["change"], "lo": qr["ci_lo"], "hi": qr["ci_hi"], "significant": qr["significant"]},
        {"metric": "retention_rate", "kind": "rate", "cur": gc.retention_rate, "prev": gp.retention_rate,
         "change": rr["change"], "lo": rr["ci_lo"], "hi": rr["ci_hi"], "significant": rr["significant"]},
        {"metric": "weekly_quick_ratio", "kind": "ratio", "cur": wc.quick_ratio, "prev": wp.quick_ratio},
        {"metric": "months_qr_above_1", "kind": "share", "cur": gc.periods_qr_above_1,
         "prev": gp.periods_qr_above_1, "n": gc.periods, "n_prev": gp.periods},
    ]
    return {
        "comparable": True, "cur": s(gc), "prev": s(gp), "week": s(wc), "week_prev": s(wp),
        "active_change": _v(act), "quick_ratio_change": qr, "retention_change": rr,
        "qr_high": {"month": int(cur.quick_ratio.idxmax().month), "value": float(cur.quick_ratio.max())},
        "qr_low": {"month": int(cur.quick_ratio.idxmin().month), "value": float(cur.quick_ratio.min())},
        "resurrected_share": gc.resurrected / (gc.new + gc.resurrected),
        "resurrected_share_prev": gp.resurrected / (gp.new + gp.resurrected),
        "baseline_month": (f"{ga.period.min() - pd.DateOffset(months=1):%Y-%m}"
                           if base is not None else None),
        "baseline_active": base,
        "monthly": ga[["period", "new", "resurrected", "churned", "quick_ratio"]].assign(
            period=lambda d: d.period.dt.strftime("%Y-%m")),
        "rows": pd.DataFrame(rows),
    }


# ------------------------------------------------------------------ segments
def _segments(con, year, compare_year, min_group_size) -> dict:
    out, rows = {}, []
    for seg in SEGMENTS:
        prof = segments.segment_profile(con, seg, year, compare_year, window_days=WINDOW)
        cmp_ = segments.segment_compare(prof).set_index("metric")
        out[seg] = {"compare": {m: {**_v({**cmp_.loc[m].to_dict(), "change": cmp_.loc[m, "gap"]}),
                                    "segment": float(cmp_.loc[m, "segment"]),
                                    "rest": float(cmp_.loc[m, "rest"])} for m in cmp_.index},
                    "share": float(prof.new_user_share.iloc[0]),
                    "new_users": int(prof.new_users.iloc[0])}
        rows.append(prof.assign(group=[f"{seg}", f"{seg}_rest"]))
    prof = pd.concat(rows, ignore_index=True)
    shown, hidden = privacy.suppress_small(prof, "new_users", min_group_size)
    gaps = segments.segment_k_gaps(segments.segment_viral(con, "lower_tier", year, window_days=WINDOW))
    mg = gaps[gaps.mechanism != "all"]
    lead = experiments.significant_leader(mg.gap.abs(), mg.se, mg.mechanism)
    return {**out, "rows": shown[["group", "new_users", "new_user_share", "new_users_growth",
                                  "referred_share", "k_factor", "first_order_rate", "buyers_growth"]],
            "hidden": hidden,
            "k_gaps": {"significant": mg[mg.significant].mechanism.tolist(), "mechanisms": len(mg),
                       "leader": lead["leader"]}}


# ------------------------------------------------------------------ campaign uplift
def _ci_row(r) -> dict:
    return {"mean": float(r.mean_rel_lift), "lo": None if pd.isna(r.ci_lo) else float(r.ci_lo),
            "hi": None if pd.isna(r.ci_hi) else float(r.ci_hi)}


def _uplift(con, year, compare_year) -> dict:
    up = experiments.campaign_uplift(con, min_days=3)
    up = up.merge(segments.campaign_kol_tier(con), on="campaign_id", how="left")
    bt = {m: segments.uplift_by_type(up, m, year=year).set_index("type") for m in ("signups", "orders")}
    prev = segments.uplift_by_type(up, "signups", year=compare_year).set_index("type")
    tiers = segments.uplift_by_type(up[up.type == "kol"], "signups", year=year, by="kol_tier").set_index("kol_tier")
    kol = up[(up.type == "kol") & (up.metric == "signups") & (up.start.dt.year == year)].sort_values("rel_lift")
    placebo = experiments.uplift_placebo_rate(con, metric="signups", n_windows=240, per_round=8)
    s, o = bt["signups"], bt["orders"].reindex(bt["signups"].index)
    rows = pd.DataFrame({"type": s.index, "campaigns": s.campaigns.to_numpy(),
                         "windows": s.windows.to_numpy(), "mean_days": s.mean_days.to_numpy(),
                         "signups": s.mean_rel_lift.to_numpy(), "signups_lo": s.ci_lo.to_numpy(),
                         "signups_hi": s.ci_hi.to_numpy(), "orders": o.mean_rel_lift.to_numpy(),
                         "orders_lo": o.ci_lo.to_numpy(), "orders_hi": o.ci_hi.to_numpy(),
                         "share_sig": s.share_sig_pos.to_numpy()})
    ks = s.loc["kol"] if "kol" in s.index else None
    kp = prev.loc["kol"] if "kol" in prev.index else None
    kol_change = None
    if ks is not None and kp is not None:
        se = lambda r: (r.ci_hi - r.ci_lo) / (2 * 1.959964)
        kol_change = _v(experiments.change_ci(ks.mean_rel_lift, se(ks), kp.mean_rel_lift, se(kp)))
    return {
        "rows": rows, "kol": None if ks is None else {
            **_ci_row(ks), "campaigns": int(ks.campaigns), "share_sig": float(ks.share_sig_pos),
            "prev": _ci_row(kp) if kp is not None else None, "change": kol_change,
            "orders": _ci_row(bt["orders"].loc["kol"]),
            "tiers": {t: _ci_row(tiers.loc[t]) for t in tiers.index}},
        "campaigns": kol[["rel_lift", "rel_lo", "rel_hi", "kol_tier"]],
        "not_estimable": sorted(up.loc[~up.estimable, "type"].unique().tolist()),
        "placebo": {"windows": placebo["windows"], "rate": placebo["rate"],
                    "false_positives": placebo["false_positives"]},
    }


_SHARING = {"shares": ["share_id", "user_id", "share_ts", "mechanism"],
            "share_visits": ["share_id", "visit_ts", "signup_user_id"]}
_VALID_ORDERS = ["user_id", "order_ts", "status"]
#: the tables and columns each section needs (fission.coverage); users is optional to growth
#: accounting (it only marks a truncated history)
NEEDS = {
    "k": {"users": ["user_id", "signup_ts"], **_SHARING},
    "cascades": {"users": ["user_id", "referrer_user_id", "signup_ts", "acquisition_channel"]},
    "growth": {"orders": [*_VALID_ORDERS, "gmv"]},
    "segments": {"users": ["user_id", "signup_ts", "city_tier", "age_band", "referrer_user_id"],
                 "orders": _VALID_ORDERS, **_SHARING},
    "uplift": {"users": ["user_id", "signup_ts"], "orders": _VALID_ORDERS,
               "campaigns": ["campaign_id", "name", "type", "platform", "kol_id", "start_ts", "end_ts"],
               "kols": ["kol_id", "tier"]},
}


def facts(con, year: int, compare_year: int, min_group_size: int = 50,
          driver_sample: int | None = None) -> dict:
    """Every number, table and decision of chapter 3 for ``year`` against ``compare_year``
    (of the sections the data can build: ``missing`` names the others). ``driver_sample``
    (the edition's engine.driver_sample): at most this many users' referral edges reach the
    driver, as whole trees sampled in the database (stated in the words)."""
    missing = coverage.gaps(con, NEEDS)
    f = {"year": int(year), "missing": missing}
    figs = []
    rel = lambda d, prev: (None if d is None or d.get("ci_lo") is None or not prev
                           else (d["ci_lo"] / prev, d["ci_hi"] / prev))
    if "k" not in missing:
        f["viral"] = v = _viral(con, year, compare_year, min_group_size)
        k_ci = rel(v["change"], v["k_prev"])
        figs.append(keyfigures.figure("k_factor", v["k"], "num", v["k_prev"], digits=3, lo=k_ci[0],
                                      hi=k_ci[1], significant=v["change"]["significant"]))
    if "cascades" not in missing:
        f["cascades"] = cs = _cascades(con, year, compare_year, min_group_size, driver_sample)
        c = cs["compare"]["share_users_large"]
        figs.append(keyfigures.figure("large_cascades", c["value"], "rate", c["prev"], lo=c["ci_lo"],
                                      hi=c["ci_hi"], significant=c["significant"]))
    if "growth" not in missing:
        f["growth"] = g = _growth(con, year, compare_year)
    if "growth" in f and not g["comparable"]:
        figs += [keyfigures.figure("quick_ratio", g["cur"]["quick_ratio"], "num", digits=2),
                 keyfigures.figure("retention_rate", g["cur"]["retention_rate"], "rate")]
    elif "growth" in f:
        qr = g["quick_ratio_change"]
        q_ci = rel(qr, qr["prev"])
        figs += [
            keyfigures.figure("quick_ratio", qr["value"], "num", qr["prev"], digits=2, lo=q_ci[0],
                              hi=q_ci[1], significant=qr["significant"]),
            keyfigures.figure("retention_rate", g["retention_change"]["value"], "rate",
                              g["retention_change"]["prev"], lo=g["retention_change"]["ci_lo"],
                              hi=g["retention_change"]["ci_hi"],
                              significant=g["retention_change"]["significant"])]
    if "segments" not in missing:
        f["segments"] = _segments(con, year, compare_year, min_group_size)
    if "uplift" not in missing:
        f["uplift"] = u = _uplift(con, year, compare_year)
        if u["kol"] is not None and u["kol"]["prev"] is not None and u["kol"]["change"]:
            ch = u["kol"]["change"]
            figs.append(keyfigures.figure(
                "kol_uplift", u["kol"]["mean"], "rate", u["kol"]["prev"]["mean"], lo=ch["ci_lo"],
                hi=ch["ci_hi"], significant=ch["significant"]))
    order = ["k_factor", "quick_ratio", "retention_rate", "large_cascades", "kol_uplift"]
    f["keyfigures"] = sorted(figs, key=lambda k: order.index(k["id"]))
    return f
