"""Chapter 7 (客服与售后服务优化): every number, table and decision the chapter publishes.

First-response shares are compared year on year with Newcombe intervals, CSAT with a Welch
interval; the staffing plan comes from the Erlang C model of :mod:`fission.metrics.service`,
fitted on the year's tickets and validated against the observed responses (its error is part
of the facts). Return rates are per delivered order with a complete 30-day window.
"""
from __future__ import annotations

from .. import coverage, keyfigures
from ..metrics import service as S
from ..metrics.overview import diff_proportions

SHARES = ("within_30m", "within_1h", "within_24h")


def _gap(d: dict) -> dict:
    return {k: d.get(k) for k in ("diff", "lo", "hi", "significant")}


def _tickets(con, year, compare_year) -> dict:
    cur = S.ticket_summary(con, year).iloc[0].to_dict()
    prev = S.ticket_summary(con, compare_year).iloc[0].to_dict()
    by_cat = S.ticket_summary(con, year, "category").sort_values("tickets", ascending=False)
    by_ch = S.ticket_summary(con, year, "channel").sort_values("tickets", ascending=False)
    days = S.ticket_summary(con, year, "day_type")
    daily = S.daily(con, year)
    normal = days.set_index("day_type").loc["normal"]
    peaks = []
    for _, r in days[days.day_type != "normal"].iterrows():
        g = diff_proportions(r.within_1h, r.observed, normal.within_1h, normal.observed)
        peaks.append({"day_type": r.day_type, "tickets": int(r.tickets),
                      "per_day": r.tickets / max(int((daily.day_type == r.day_type).sum()), 1),
                      "within_1h_rate": r.within_1h_rate,
                      "response_median_min": r.response_median_min, **_gap(g)})
    return {
        "cur": cur, "prev": prev, "growth": cur["tickets"] / prev["tickets"] - 1,
        "normal_per_day": float(normal.tickets) / max(int((daily.day_type == "normal").sum()), 1),
        "normal_within_1h": float(normal.within_1h_rate),
        "change": {k: _gap(S.compare_shares(cur, prev, k)) for k in SHARES},
        "csat_change": _gap(S.compare_means(cur["csat"], cur["csat_sd"], cur["csat_n"],
                                            prev["csat"], prev["csat_sd"], prev["csat_n"])),
        "by_category": by_cat, "by_channel": by_ch, "peaks": peaks,
        "hour_of_week": S.hour_of_week(con, year), "daily": daily,
    }


def _staffing(con, year, compare_year, target, target_minutes) -> dict:
    fit = S.fit_staffing(con, year, t_min=target_minutes)
    plan = S.peak_plan(con, year, compare_year, fit, target=target, t_min=target_minutes)
    events = []
    for ev, g in plan.groupby("event", sort=False):
        busy = g[g.arrivals_h == g.arrivals_h.max()].iloc[0]
        events.append({"event": ev, "day": g.day.iloc[0], "tickets": float(g.arrivals_h.sum()),
                       "agent_hours": int(g.agents.sum()), "current_hours": float(g.current.sum()),
                       "ratio": float(g.agents.sum() / g.current.sum()) if g.current.sum() else None,
                       "max_agents": int(g.agents.max()), "peak_hour": int(busy.hour),
                       "night_agents": int(g[~g.hour.isin(fit["staffed_hours"])].agents.max())})
    val = fit["validation"]
    return {"target": target, "target_minutes": target_minutes, "aht_min": fit["aht_min"],
            "lag_median_min": fit["lag_median_min"], "lag_within_t": fit["lag_within_t"],
            "agents_now": fit["agents_now"], "staffed_from": min(fit["staffed_hours"]),
            "staffed_to": max(fit["staffed_hours"]) + 1, "mae": fit["mae"], "bias": fit["bias"],
            "validated_share": fit["validated_share"], "slots": int(len(val)),
            "observed": float((val.observed * val.tickets).sum() / val.tickets.sum()),
            "modelled": float((val.modelled * val.tickets).sum() / val.tickets.sum()),
            "backlog": fit["backlog_hours"],
            "validation": val[["dow", "hour", "observed", "modelled", "tickets"]],
            "growth": plan.attrs["growth"] - 1, "events": events,
            "plan": plan[plan.event == events[-1]["event"]][["hour", "arrivals_h", "agents",
                                                            "current", "modelled"]]}


def _returns(con, year, compare_year) -> dict:
    cat = S.return_rates(con, year, "category")
    prev = S.return_rates(con, compare_year, "category")
    tot = diff_proportions(cat.returns.sum(), cat.orders.sum(), prev.returns.sum(), prev.orders.sum())
    cat = cat.merge(prev[["category", "rate"]].rename(columns={"rate": "rate_prev"}), on="category")
    cvr = S.channel_vs_rest(con, year)
    reasons = S.return_reasons(con, year)
    rule = S.seven_day_rule(con, year)
    return {"rate": tot["p1"], "rate_prev": tot["p2"], "change": _gap(tot),
            "orders": int(cat.orders.sum()), "window_days": S.RETURN_WINDOW_DAYS,
            "by_category": cat, "top": cat.iloc[0].category, "top_rate": float(cat.iloc[0].rate),
            "top_separate": bool(cat.iloc[0].lo > cat.iloc[1].hi),
            "bottom": cat.iloc[-1].category, "bottom_rate": float(cat.iloc[-1].rate),
            "channels": cvr, "any_channel_higher": bool(((cvr.adj_significant) & (cvr.adj_diff > 0)).any()),
            "reasons": reasons, "rule": rule}


_TICKETS = ["created_ts", "first_response_ts", "resolved_ts", "category", "channel", "csat",
            "agent_id"]
_RETURNS = ["return_id", "order_id", "reason", "no_reason_7d", "approved", "refund_amount",
            "requested_ts"]
#: the tables and columns each section needs (fission.coverage): with partial data the sections
#: whose needs are met are built, the others replaced by a notice
NEEDS = {
    "tickets": {"tickets": _TICKETS},
    "staffing": {"tickets": _TICKETS},
    "returns": {"orders": ["order_id", "order_ts", "delivered_ts", "channel"],
                "order_items": ["order_id", "item_id"], "items": ["item_id", "category"],
                "returns": _RETURNS},
    "reviews": {"reviews": ["order_id", "user_id", "rating", "review_ts"],
                "orders": ["user_id", "order_ts", "status"], "returns": ["return_id", "order_id"]},
}


def facts(con, year: int, compare_year: int, min_group_size: int = 50,
          target: float = 0.8, target_minutes: float = 60.0) -> dict:
    """Every number, table and decision of chapter 7 for ``year`` against ``compare_year``
    (of the sections the data can build: ``missing`` names the others); ``target`` of first
    responses within ``target_minutes`` is the staffing plan's goal."""
    missing = coverage.gaps(con, NEEDS)
    f = {"missing": missing, "year": int(year), "min_group_size": min_group_size}
    figs = []
    if "tickets" not in missing:
        t = f["tickets"] = _tickets(con, year, compare_year)
        c, p, ch = t["cur"], t["prev"], t["change"]
        figs += [keyfigures.figure("within_1h", c["within_1h_rate"], "rate", p["within_1h_rate"],
                                   lo=ch["within_1h"]["lo"], hi=ch["within_1h"]["hi"],
                                   significant=ch["within_1h"]["significant"]),
                 keyfigures.figure("csat", c["csat"], "num", p["csat"], digits=2,
                                   significant=t["csat_change"]["significant"])]
    if "staffing" not in missing:
        st = f["staffing"] = _staffing(con, year, compare_year, target, target_minutes)
        figs.append(keyfigures.figure("peak_agents", st["events"][-1]["max_agents"], "count"))
    if "returns" not in missing:
        rt = f["returns"] = _returns(con, year, compare_year)
        figs += [keyfigures.figure("return_rate", rt["rate"], "rate", rt["rate_prev"],
                                   lo=rt["change"]["lo"], hi=rt["change"]["hi"],
                                   significant=rt["change"]["significant"]),
                 keyfigures.figure("seven_day_compliance", rt["rule"]["compliance"], "rate")]
    if "reviews" not in missing:
        f["reviews"] = S.reviews(con, year)
    order = ["within_1h", "csat", "return_rate", "seven_day_compliance", "peak_agents"]
    f["keyfigures"] = sorted(figs, key=lambda k: order.index(k["id"]))
    return f
