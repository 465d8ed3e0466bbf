"""Chapter 4 (社交媒体平台在裂变营销中的应用): every number, table and decision the chapter publishes.

Platform funnels compare conversion with intervals clustered by sharer; GMV and costs are a
census (the cost is the one full-cost ledger of :mod:`fission.metrics.incentives`, split by
platform). KOL campaigns are judged by their incremental sign-ups above the calendar baseline
(:func:`fission.metrics.platforms.kol_incrementality`), live sessions by session-clustered
ratios, and the budget by concave response curves with a month bootstrap. A group is named as
leading only when it is significantly ahead of the runner-up.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import coverage, keyfigures
from ..metrics import funnel, overview, privacy
from ..metrics import platforms as pm

WINDOW_DAYS = 7
BUDGET_BOUND = 0.3          # each channel's spend moves at most ±30 % (the range its curve saw)
N_BOOT = 200
#: b is bounded at 1, so a bootstrap interval reaching this close to 1 includes a straight line
CONCAVE_BELOW = 0.99


def _gap(d: dict | None) -> dict:
    d = d or {}
    return {k: d.get(k) for k in ("diff", "lo", "hi", "p_value", "significant")}


def _leader(df: pd.DataFrame, key: str, value: str, compare) -> dict:
    r = overview.leaders(df, key, value, compare)
    o = r["order"]
    return {"top": r["top"], "top_value": r["top_value"], "top_significant": r["top_significant"],
            "second": o[1] if len(o) > 1 else None, "top_gap": _gap(r["top_vs_next"]),
            "bottom": r["bottom"], "bottom_value": r["bottom_value"],
            "bottom_significant": r["bottom_significant"],
            "second_last": o[-2] if len(o) > 1 else None, "bottom_gap": _gap(r["bottom_vs_next"]),
            "order": o}


def _platforms(con, year, compare_year, min_group_size) -> dict:
    cur = pm.platform_funnel(con, year, WINDOW_DAYS)
    prev = pm.platform_funnel(con, compare_year, WINDOW_DAYS)
    cur, hidden = privacy.suppress_small(cur, "signups", min_group_size)
    prev, _ = privacy.suppress_small(prev, "signups", min_group_size)
    ch = funnel.funnel_changes(cur, prev, "platform", rates=("overall_conversion",))
    gmv, gmv_prev = pm.platform_gmv(con, year), pm.platform_gmv(con, compare_year)
    cost, cost_prev = pm.platform_cost(con, year), pm.platform_cost(con, compare_year)
    rows = cur.merge(ch[["platform", "previous", "diff", "lo", "hi", "significant"]], on="platform", how="left")
    rows = rows.merge(gmv[["platform", "gmv"]], on="platform", how="left").merge(
        gmv_prev[["platform", "gmv"]].rename(columns={"gmv": "gmv_prev"}), on="platform", how="left")
    rows = rows.merge(cost[["platform", "total_cost"]], on="platform", how="left").merge(
        cost_prev[["platform", "total_cost"]].rename(columns={"total_cost": "cost_prev"}), on="platform", how="left")
    rows[["gmv", "gmv_prev", "total_cost", "cost_prev"]] = rows[["gmv", "gmv_prev", "total_cost", "cost_prev"]].fillna(0.0)
    rows["gmv_yoy"] = rows.gmv / rows.gmv_prev.where(rows.gmv_prev > 0) - 1
    rows["gmv_per_cost"] = rows.gmv / rows.total_cost.where(rows.total_cost > 0)
    rows = rows.sort_values("gmv", ascending=False)
    conv = _leader(cur, "platform", "overall_conversion", funnel.rate_compare("overall_conversion"))
    sig = rows[rows.significant.eq(True)]
    unattributed = cost[cost.platform.isna()].total_cost.sum()
    top = rows.iloc[0]
    return {
        "rows": rows[["platform", "shares", "visits", "signups", "first_orders", "overall_conversion",
                      "previous", "diff", "lo", "hi", "significant", "gmv", "gmv_prev", "gmv_yoy",
                      "total_cost", "cost_prev", "gmv_per_cost"]],
        "hidden": hidden, "conversion": conv, "window_days": WINDOW_DAYS,
        "up": sig[sig["diff"] > 0][["platform", "diff", "lo", "hi"]],
        "down": sig[sig["diff"] < 0][["platform", "diff", "lo", "hi"]],
        "top_gmv": {"platform": top.platform, "gmv": float(top.gmv),
                    "share": float(top.gmv / rows.gmv.sum()) if rows.gmv.sum() else None},
        "gmv_total": float(gmv.gmv.sum()), "gmv_total_prev": float(gmv_prev.gmv.sum()),
        "cost_total": float(cost.total_cost.sum()), "cost_total_prev": float(cost_prev.total_cost.sum()),
        "cost_unattributed": float(unattributed), "census": True,
    }


def _cpa_leader(df: pd.DataFrame, key: str) -> dict:
    """Highest and lowest CPA and whether each stands apart from its neighbour; the CPA's
    standard error is read back from its interval (an unbounded one makes it infinite)."""
    se = (df.cpa_hi.astype(float).fillna(np.inf) - df.cpa_lo.astype(float)) / (2 * 1.96)
    return _leader(df.assign(cpa_se=se), key, "cpa", pm.se_compare("cpa"))


def _kol(con, year, min_group_size) -> dict:
    inc = pm.kol_incrementality(con)
    c = inc["campaigns"]
    cy = c[c.start_ts.dt.year == year].copy()
    yinc = {**inc, "campaigns": cy}
    # groups of fewer than min_group_size people (by their tagged sign-ups) are not shown
    tiers, tiers_hidden = privacy.suppress_small(pm.kol_groups(yinc, "tier"), "tagged", min_group_size)
    plats, plats_hidden = privacy.suppress_small(pm.kol_groups(yinc, "platform"), "tagged", min_group_size)
    el = pm.follower_elasticity(c)
    tot = pm.kol_groups({**yinc, "campaigns": cy.assign(all="all")}, "all").iloc[0]
    cy["roi"] = cy.inc_gmv / cy.cost.where(cy.cost > 0)
    cy["roi_lo"] = cy.inc_gmv_lo / cy.cost.where(cy.cost > 0)
    cy["roi_hi"] = cy.inc_gmv_hi / cy.cost.where(cy.cost > 0)
    th = inc["theta"]
    d = inc["daily"]
    d = d[d.day.dt.year == year]
    cpa_lead = _cpa_leader(tiers, "tier")
    cpa_platform = _cpa_leader(plats, "platform")
    return {
        "campaigns": cy[["campaign_id", "tier", "platform", "followers", "cost", "tagged", "window",
                         "inc_users", "inc_users_lo", "inc_users_hi", "inc_gmv", "roi", "roi_lo", "roi_hi"]],
        "n_campaigns": int(len(cy)), "cost": float(cy.cost.sum()),
        "tiers": tiers, "platforms": plats, "theta": th,
        "tiers_hidden": tiers_hidden, "platforms_hidden": plats_hidden,
        "theta_all_one": bool(((th.theta_users_lo <= 1) & (th.theta_users_hi >= 1)).all()),
        "total": {"inc_users": float(tot.inc_users), "lo": float(tot.inc_users_lo), "hi": float(tot.inc_users_hi),
                  "window": float(cy.window.sum()), "tagged": float(cy.tagged.sum()),
                  "cpa": tot.cpa, "cpa_lo": tot.cpa_lo, "cpa_hi": tot.cpa_hi,
                  "roi": tot.roi, "roi_lo": tot.roi_lo, "roi_hi": tot.roi_hi},
        "overcount": float(cy.window.sum() / tot.inc_users - 1) if tot.inc_users > 0 else None,
        "elasticity": el, "cpa_lead": cpa_lead, "cpa_platform": cpa_platform,
        "daily": d[["day", "signups", "tagged", "baseline"]], "r2": inc["r2"],
    }


def _live(con, year, min_group_size) -> dict:
    s = pm.live_sessions(con)
    s = s[s.start_ts.dt.year == year]
    # groups with fewer than min_group_size buyers (orders) are not shown
    by, hidden = {}, {}
    for k in ("tier", "platform", "hour"):
        by[k], hidden[k] = privacy.suppress_small(pm.live_by(s, k), "orders", min_group_size)
    lead = {k: _leader(v, k, "gmv_per_viewer_hour", pm.se_compare("gmv_per_viewer_hour"))
            for k, v in by.items()}
    conv = {k: _leader(v, k, "conversion", pm.se_compare("conversion")) for k, v in by.items()}
    total_c = pm.pooled_ratio(s, "orders", "viewers")
    total_v = pm.pooled_ratio(s, "gmv", "viewer_hours")
    buy = pm.pooled_ratio(s, "orders", "signups")
    by["hour"]["hour"] = by["hour"]["hour"].astype(int)
    return {"sessions": int(len(s)), "viewers": int(s.viewers.sum()), "orders": int(s.orders.sum()),
            "gmv": float(s.gmv.sum()), "signups": float(s.signups.sum()),
            "conversion": total_c, "gmv_per_viewer_hour": total_v, "signup_to_order": buy,
            "tiers": by["tier"], "platforms": by["platform"], "hours": by["hour"], "hidden": hidden,
            "lead": lead, "conv_lead": conv, "deciles": pm.live_deciles(s),
            "points": s[["tier", "viewers", "gmv_per_viewer_hour", "conversion"]]}


def _budget(con, year, compare_year) -> dict:
    m = pm.monthly_response(con, [compare_year, year])
    curves = pm.response_curves(m, n_boot=N_BOOT)
    cur = m[m.month.dt.year == year].groupby("channel").spend.mean().to_dict()
    r = pm.reallocate(curves, cur, BUDGET_BOUND)
    cv = pd.DataFrame([{"channel": k, "a": v["a"], "b": v["b"], "b_lo": v["b_lo"], "b_hi": v["b_hi"],
                        "months": v["months"], "spend_min": v["spend_min"], "spend_max": v["spend_max"],
                        "concave": bool(v["b_hi"] < CONCAVE_BELOW)} for k, v in curves.items()])
    bands = []
    for ch, v in curves.items():
        xs = np.linspace(v["spend_min"], v["spend_max"], 25) / 1e4
        ys = np.array([b[0] * xs ** b[1] for b in v["boot"]])
        bands += [{"channel": ch, "spend": float(x * 1e4), "buyers": float(v["a"] * x ** v["b"]),
                   "lo": float(lo), "hi": float(hi)}
                  for x, lo, hi in zip(xs, np.quantile(ys, 0.025, axis=0), np.quantile(ys, 0.975, axis=0))]
    plan = r["plan"].sort_values("change")
    return {"points": m[["month", "channel", "spend", "new_buyers"]], "curves": cv, "bands": bands,
            "plan": plan, "total": r["total"], "gain": r["gain"], "gain_lo": r["gain_lo"],
            "gain_hi": r["gain_hi"], "buyers_now": r["buyers_now"], "significant": r["significant"],
            "gain_rel": r["gain"] / r["buyers_now"] if r["buyers_now"] else None,
            "bound": BUDGET_BOUND, "n_boot": N_BOOT,
            "up": plan[plan.change > 0.01].channel.tolist()[::-1],
            "down": plan[plan.change < -0.01].channel.tolist(),
            "concave": cv[cv.concave].channel.tolist(), "linear": cv[~cv.concave].channel.tolist()}


_USERS = ["user_id", "signup_ts", "acquisition_channel"]
_ORDERS = ["order_id", "user_id", "order_ts", "status"]
_KOLS = ["kol_id", "tier", "followers"]
#: the tables and columns each section needs (fission.coverage); campaigns and group_members
#: are optional to the platform funnel and cost ledger (read only when present)
NEEDS = {
    "platforms": {"shares": ["share_id", "user_id", "share_ts", "platform", "mechanism"],
                  "share_visits": ["visit_id", "share_id", "visit_ts", "signup_user_id", "first_order_id"],
                  "users": _USERS,
                  "orders": [*_ORDERS, "gmv", "discount", "group_id", "campaign_id"]},
    "kol": {"campaigns": ["campaign_id", "type", "platform", "kol_id", "start_ts", "end_ts", "cost"],
            "kols": _KOLS, "users": _USERS, "orders": [*_ORDERS, "gmv", "campaign_id"]},
    "live": {"live_sessions": ["live_id", "kol_id", "platform", "start_ts", "end_ts", "viewers"],
             "kols": _KOLS, "users": _USERS, "orders": [*_ORDERS, "gmv", "live_id"]},
    "budget": {"campaigns": ["type", "start_ts", "cost"], "users": _USERS,
               "orders": [*_ORDERS, "discount", "group_id"]},
}


def facts(con, year: int, compare_year: int, min_group_size: int = 50) -> dict:
    """Every number, table and decision of chapter 4 for ``year`` against ``compare_year``
    (of the sections the data can build: ``missing`` names the others)."""
    missing = coverage.gaps(con, NEEDS)
    f = {"year": int(year), "missing": missing}
    figs = []
    if "platforms" not in missing:
        f["platforms"] = p = _platforms(con, year, compare_year, min_group_size)
        figs.append(keyfigures.figure("social_gmv", p["gmv_total"], "yuan", p["gmv_total_prev"]))
    if "kol" not in missing:
        f["kol"] = k = _kol(con, year, min_group_size)
        figs += [keyfigures.figure("kol_incremental", k["total"]["inc_users"], "count"),
                 keyfigures.figure("kol_cpa", k["total"]["cpa"], "yuan")]
    if "live" not in missing:
        f["live"] = lv = _live(con, year, min_group_size)
        figs.append(keyfigures.figure("live_gmv", lv["gmv"], "yuan"))
    if "budget" not in missing:
        f["budget"] = b = _budget(con, year, compare_year)
        figs.append(keyfigures.figure("budget_gain", b["gain_rel"], "rate"))
    f["keyfigures"] = figs
    return f
