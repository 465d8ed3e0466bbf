"""Chapter 2 (裂变营销策略的关键要素): every number, table and decision the chapter publishes.

Funnel rates are compared with intervals clustered by sharer (:mod:`fission.metrics.funnel`);
a mechanism or platform is named as leading (or trailing) only when it is significantly apart
from the runner-up, and a year-on-year change is reported as a change only when significant.
The incentive cost is the full acquisition cost of :mod:`fission.metrics.incentives` per
mechanism — the same ledger as chapter 1's CAC per channel. Costs and user counts are a census.
"""
from __future__ import annotations

import pandas as pd

from .. import coverage, keyfigures
from ..metrics import content, funnel, incentives, overview, privacy

WINDOW_DAYS = 7          # days after a share in which visits, sign-ups and first orders count
PRIVATE_DOMAIN = ("wechat_moments", "wechat_group", "mini_program", "official_account")
_RATES = ("visits_per_share", "visit_to_signup", "signup_to_order", "overall_conversion")


def _period(year: int) -> dict:
    return {"start": f"{year}-01-01", "end": f"{year + 1}-01-01"}


def _gap(d: dict | None) -> dict:
    d = d or {}
    return {k: d.get(k) for k in ("diff", "lo", "hi", "p_value", "significant")}


def _leader(df: pd.DataFrame, key: str, rate: str) -> dict:
    """Top and bottom group by ``rate`` and whether each is significantly apart."""
    r = overview.leaders(df, key, rate, funnel.rate_compare(rate))
    order = r["order"]
    return {"top": r["top"], "top_value": r["top_value"], "top_significant": r["top_significant"],
            "second": order[1] if len(order) > 1 else None, "top_gap": _gap(r["top_vs_next"]),
            "bottom": r["bottom"], "bottom_value": r["bottom_value"],
            "bottom_significant": r["bottom_significant"],
            "second_last": order[-2] if len(order) > 1 else None,
            "bottom_gap": _gap(r["bottom_vs_next"]), "order": order}


def _changes(cur: pd.DataFrame, prev: pd.DataFrame, key: str) -> dict:
    """Year-on-year change of the share→first-order rate per group, and the significant ones."""
    ch = funnel.funnel_changes(cur, prev, key, rates=("overall_conversion",))
    sig = ch[ch.significant].sort_values("diff", ascending=False)
    return {"rows": ch[[key, "value", "previous", "diff", "lo", "hi", "p_value", "significant"]],
            "significant": sig[[key, "diff", "lo", "hi"]]}


def _funnel(con, year, compare_year, min_group_size) -> dict:
    cur, prev = _period(year), _period(compare_year)
    tot = funnel.funnel(con, by=(), window_days=WINDOW_DAYS, **cur).iloc[0]
    tot_prev = funnel.funnel(con, by=(), window_days=WINDOW_DAYS, **prev).iloc[0]
    steps = funnel.funnel_steps(tot)
    weak = steps.iloc[2:].astype({"step_conversion": float}).sort_values("step_conversion").iloc[0]
    fm = funnel.funnel(con, by=("mechanism",), window_days=WINDOW_DAYS, **cur)
    fm_prev = funnel.funnel(con, by=("mechanism",), window_days=WINDOW_DAYS, **prev)
    fm, hidden = privacy.suppress_small(fm, "signups", min_group_size)
    fm_prev, _ = privacy.suppress_small(fm_prev, "signups", min_group_size)
    changes = _changes(fm, fm_prev, "mechanism")
    lead = {r: _leader(fm, "mechanism", r) for r in _RATES}
    reach = fm.set_index("mechanism").loc[lead["visits_per_share"]["top"]]
    rows = fm.merge(changes["rows"][["mechanism", "diff", "lo", "hi", "significant"]],
                    on="mechanism", how="left").sort_values("overall_conversion", ascending=False)
    return {
        "window_days": WINDOW_DAYS,
        "total": {k: float(tot[k]) for k in ("shares", "visits", "signups", "first_orders",
                                             *_RATES)},
        "total_prev": {k: float(tot_prev[k]) for k in _RATES},
        "total_change": {r: _gap(funnel.diff_rates(tot, tot_prev, r))
                         for r in ("visit_to_signup", "signup_to_order", "overall_conversion")},
        "weak_step": weak.step, "weak_rate": float(weak.step_conversion),
        "rows": rows[["mechanism", "shares", "visits", "signups", "first_orders",
                      *_RATES, "diff", "significant"]],
        "hidden": hidden,
        "lead": lead, "reach_visit_to_signup": float(reach.visit_to_signup),
        "changes": changes["significant"],
    }


def _platforms(con, year, compare_year, min_group_size) -> dict:
    fp = funnel.funnel(con, by=("platform",), window_days=WINDOW_DAYS, **_period(year))
    fp_prev = funnel.funnel(con, by=("platform",), window_days=WINDOW_DAYS, **_period(compare_year))
    fp, hidden = privacy.suppress_small(fp, "signups", min_group_size)
    fp_prev, _ = privacy.suppress_small(fp_prev, "signups", min_group_size)
    conv = _leader(fp, "platform", "overall_conversion")
    reach = _leader(fp, "platform", "visits_per_share")
    vol = fp.sort_values("shares").iloc[-1]
    by = fp.set_index("platform")
    order = conv["order"]
    # "the two leaders": only when the second is significantly ahead of the third
    top2 = len(order) > 2 and funnel.diff_rates(by.loc[order[1]], by.loc[order[2]],
                                                "overall_conversion")["significant"]
    reach_row = fp.set_index("platform").loc[reach["top"]]
    return {
        "rows": fp.sort_values("overall_conversion")[["platform", "shares", "visits_per_share",
                                                      "overall_conversion", "visit_to_signup"]],
        "hidden": hidden, "conversion": conv, "reach": reach,
        "most_shares": {"platform": vol.platform, "shares": int(vol.shares),
                        "share": float(vol.shares / fp.shares.sum())},
        "changes": _changes(fp, fp_prev, "platform")["significant"],
        "top2_private": bool(top2 and set(order[:2]) <= set(PRIVATE_DOMAIN)),
        "reach_below_median": bool(reach_row.overall_conversion < fp.overall_conversion.median()),
    }


def _content(con, year, compare_year) -> dict:
    cv = content.content_vs_other(con, window_days=WINDOW_DAYS, **_period(year))
    cv_prev = content.content_vs_other(con, window_days=WINDOW_DAYS, **_period(compare_year))
    gaps = content.content_gaps(cv).set_index("rate")
    ugc = content.review_media_effect(con, year)
    g = content.media_gap(ugc)
    vps, v2s = gaps.loc["visits_per_share"], gaps.loc["visit_to_signup"]
    by = cv.set_index("group")
    return {
        "rows": cv[["group", "shares", *_RATES]],
        "content": {r: float(by.loc["content", r]) for r in _RATES},
        "other": {r: float(by.loc["other", r]) for r in _RATES},
        "content_prev": float(cv_prev.set_index("group").loc["content", "overall_conversion"]),
        "other_prev": float(cv_prev.set_index("group").loc["other", "overall_conversion"]),
        "gaps": {r: {**_gap(gaps.loc[r].to_dict()), "ratio": float(gaps.loc[r, "ratio"])}
                 for r in gaps.index},
        # content amplifies (more visits per share) but converts worse, both significantly
        "amplifier": bool(vps.significant and vps["diff"] > 0 and v2s.significant and v2s["diff"] < 0),
        "ugc": {"rows": ugc[["group", "items", "view_to_buy"]],
                "high": float(g["high"]), "low": float(g["low"]),
                "high_items": int(ugc.set_index("group").loc["high", "items"]),
                "low_items": int(ugc.set_index("group").loc["low", "items"]),
                "threshold": float(ugc.attrs["threshold"]), "min_reviews": int(ugc.attrs["min_reviews"]),
                **_gap(g), "rel": g["rel"]},
    }


def _channels(con, year, compare_year, min_group_size) -> dict:
    mix = incentives.channel_mix(con, [compare_year, year])
    acq = overview.acquisition_by_channel(con, year)
    acq_prev = overview.acquisition_by_channel(con, compare_year)
    ach = overview.acquisition_changes(acq, acq_prev)
    fis = list(incentives.FISSION_CHANNELS)
    cur_f, prev_f = acq[acq.channel.isin(fis)], acq_prev[acq_prev.channel.isin(fis)]
    fs = overview.diff_proportions(cur_f.new_users.sum(), acq.new_users.sum(),
                                   prev_f.new_users.sum(), acq_prev.new_users.sum())
    sig = ach[ach.share_significant]
    month = mix[(mix.year == year)].assign(fission=lambda d: d.channel.isin(fis) * d.new_users)
    month = month.groupby("month", as_index=False).agg(x=("fission", "sum"), n=("new_users", "sum"))
    month["share"] = month.x / month.n
    month["month"] = month["month"].dt.month
    lead = overview.leaders(month, "month", "share", overview.proportion_compare("x", "n"))
    ads = acq.set_index("channel").total_cost.get("ads", 0.0)
    return {
        "mix": mix[["month", "channel", "share"]],
        "order": acq.sort_values("new_users", ascending=False).channel.tolist(),
        "fission_share": float(fs["p1"]), "fission_share_prev": float(fs["p2"]),
        "fission_change": _gap(fs),
        "up": sig[sig.share_diff > 0].sort_values("share_diff", ascending=False)[
            ["channel", "share_diff", "share_lo", "share_hi"]],
        "down": sig[sig.share_diff < 0].sort_values("share_diff")[
            ["channel", "share_diff", "share_lo", "share_hi"]],
        "month_top": {"month": int(lead["top"]), "share": lead["top_value"],
                      "significant": lead["top_significant"]},
        "month_bottom": {"month": int(lead["bottom"]), "share": lead["bottom_value"],
                         "significant": lead["bottom_significant"]},
        "fission_cost": float(cur_f.total_cost.sum()), "fission_incentives": float(cur_f.incentives.sum()),
        "ads_cost": float(ads),
        "cac": {c: float(v) for c, v in acq.set_index("channel").cac.items()},
    }


def _incentives(con, year, compare_year, min_group_size) -> dict:
    ic = incentives.incentive_cost(con, year)
    ic_prev = incentives.incentive_cost(con, compare_year).set_index("mechanism")
    tot, tot_prev = incentives.incentive_total(ic), incentives.incentive_total(ic_prev.reset_index())
    ic, hidden = privacy.suppress_small(ic, "acquired_users", min_group_size)
    ic = ic.dropna(subset=["cost_per_user"]).sort_values("cost_per_user", ascending=False)
    ic["cost_per_user_prev"] = ic.mechanism.map(ic_prev.cost_per_user)
    for c in ("first_order_discount", "group_discount", "campaign_spend"):
        ic[f"{c}_per_user"] = ic[c] / ic.acquired_users
    per_order = (ic.set_index("mechanism").total_cost / ic.set_index("mechanism").first_orders).sort_values()
    big = ic.sort_values("acquired_users").iloc[-1]
    gb = ic.set_index("mechanism").loc["group_buy"] if (ic.mechanism == "group_buy").any() else None
    return {
        "rows": ic[["mechanism", "acquired_users", "first_order_rate", "first_order_discount",
                    "group_discount", "campaign_spend", "total_cost", "cost_per_user",
                    "cost_per_user_prev", "first_order_discount_per_user",
                    "group_discount_per_user", "campaign_spend_per_user"]],
        "hidden": hidden, "window_days": 30, "census": True,
        "total": tot, "total_prev": tot_prev,
        "cost_change": tot["cost_per_user"] / tot_prev["cost_per_user"] - 1
        if tot_prev["cost_per_user"] else None,
        "highest": {"mechanism": ic.mechanism.iloc[0], "cost": float(ic.cost_per_user.iloc[0]),
                    "prev": ic.cost_per_user_prev.iloc[0]},
        "lowest": {"mechanism": ic.mechanism.iloc[-1], "cost": float(ic.cost_per_user.iloc[-1])},
        "largest": {"mechanism": big.mechanism, "cost": float(big.cost_per_user),
                    "first_order_rate": float(big.first_order_rate)},
        "per_first_order": {"cheapest": per_order.index[0], "cheapest_cost": float(per_order.iloc[0]),
                            "dearest": per_order.index[-1], "dearest_cost": float(per_order.iloc[-1])},
        "group_discount_share": None if gb is None or not gb.total_cost else
        float(gb.group_discount / gb.total_cost),
    }


_SHARES = ["share_id", "user_id", "share_ts"]
_VISITS = ["share_id", "visit_ts", "signup_user_id", "first_order_id"]
_LEDGER = {"users": ["user_id", "signup_ts", "acquisition_channel"],      # the cost ledger
           "orders": ["order_id", "user_id", "order_ts", "status", "discount", "group_id"]}
#: the tables and columns each section needs (fission.coverage); campaigns and group_members
#: are optional to the cost ledger (read only when present), shares and share_visits are
#: optional to the ledger by channel but needed by mechanism
NEEDS = {
    "funnel": {"shares": [*_SHARES, "mechanism"], "share_visits": _VISITS,
               "users": ["user_id", "signup_ts"], "orders": ["order_id", "order_ts"]},
    "platform": {"shares": [*_SHARES, "platform"], "share_visits": _VISITS,
                 "users": ["user_id", "signup_ts"], "orders": ["order_id", "order_ts"]},
    "content": {"shares": [*_SHARES, "mechanism"], "share_visits": _VISITS,
                "users": ["user_id", "signup_ts"],
                "orders": ["order_id", "user_id", "order_ts", "status"],
                "order_items": ["order_id", "item_id"],
                "events": ["user_id", "ts", "event_type", "item_id"],
                "reviews": ["item_id", "rating", "has_media", "review_ts"]},
    "channels": _LEDGER,
    "incentives": {**_LEDGER, "shares": ["share_id", "mechanism"],
                   "share_visits": ["visit_id", "share_id", "visit_ts", "signup_user_id"]},
}


def facts(con, year: int, compare_year: int, min_group_size: int = 50) -> dict:
    """Every number, table and decision of chapter 2 for ``year`` against ``compare_year``
    (of the sections the data can build: ``missing`` names the others)."""
    missing = coverage.gaps(con, NEEDS)
    f = {"year": int(year), "missing": missing}
    figs = []
    if "funnel" not in missing:
        f["funnel"] = fu = _funnel(con, year, compare_year, min_group_size)
        t, tp, tc = fu["total"], fu["total_prev"], fu["total_change"]
        figs += [keyfigures.figure(r, t[r], "rate", tp[r], lo=tc[r]["lo"], hi=tc[r]["hi"],
                                   significant=tc[r]["significant"])
                 for r in ("overall_conversion", "visit_to_signup")]
    if "platform" not in missing:
        f["platforms"] = _platforms(con, year, compare_year, min_group_size)
    if "content" not in missing:
        f["content"] = _content(con, year, compare_year)
    if "channels" not in missing:
        f["channels"] = c = _channels(con, year, compare_year, min_group_size)
        figs.append(keyfigures.figure("fission_share", c["fission_share"], "rate",
                                      c["fission_share_prev"], lo=c["fission_change"]["lo"],
                                      hi=c["fission_change"]["hi"],
                                      significant=c["fission_change"]["significant"]))
    if "incentives" not in missing:
        f["incentives"] = inc = _incentives(con, year, compare_year, min_group_size)
        figs += [keyfigures.figure("acquired_users", inc["total"]["acquired_users"], "count",
                                   inc["total_prev"]["acquired_users"]),
                 keyfigures.figure("cost_per_user", inc["total"]["cost_per_user"], "yuan",
                                   inc["total_prev"]["cost_per_user"])]
    f["keyfigures"] = figs
    return f
